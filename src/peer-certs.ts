// The cluster CA and the node certificates of the Raft peer links' mutual TLS (src/raft/peer-tls.ts),
// in one private directory (0700):
//
//   ca.crt, ca.key        the cluster CA (EC P-256, 10 years); ca.key signs node certificates only
//   <node>.crt, <node>.key  a node's certificate (CN and DNS name = its node id, server and client
//                         authentication, 825 days) and key
//
// Keys are made by node:crypto and written 0600 through secret-files.ts; certificates are made by
// the openssl command line (3.0 or later: `req -CA`), which node:crypto cannot do. No secret is
// ever passed in argv: openssl reads the keys from their files (unencrypted, 0600, in the 0700
// directory).

import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_ID_PATTERN } from './identifiers.js';
import type { PeerTlsFiles } from './raft/peer-tls.js';
import { ensurePrivateDir, writeSecretFile } from './secret-files.js';

const CA_DAYS = '3650';
const NODE_DAYS = '825';

export class PeerCertError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeerCertError';
  }
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    if (e.code === 'ENOENT') throw new PeerCertError('the openssl command (3.0 or later) is required to make certificates');
    throw new PeerCertError(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? String(err)}`);
  }
}

function writeNewKey(path: string): void {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeSecretFile(path, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
}

/** The TLS files of node `nodeId` in `dir`, for its `peerTls` configuration. */
export function peerTlsFiles(dir: string, nodeId: string): PeerTlsFiles {
  return { caFile: join(dir, 'ca.crt'), certFile: join(dir, `${nodeId}.crt`), keyFile: join(dir, `${nodeId}.key`) };
}

export function hasPeerCa(dir: string): boolean {
  return existsSync(join(dir, 'ca.crt')) && existsSync(join(dir, 'ca.key'));
}

/** Makes the cluster CA in `dir`; refuses to replace one. */
export function makePeerCa(dir: string): void {
  if (existsSync(join(dir, 'ca.crt')) || existsSync(join(dir, 'ca.key'))) throw new PeerCertError(`${dir} already holds a CA`);
  ensurePrivateDir(dir);
  const key = join(dir, 'ca.key');
  writeNewKey(key);
  openssl([
    'req', '-x509', '-new', '-key', key, '-out', join(dir, 'ca.crt'), '-days', CA_DAYS,
    '-subj', '/CN=forge-mailbox peer CA',
    '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/**
 * Issues node `nodeId`'s certificate and key from the CA in `dir`. An existing one is kept unless
 * `replace` (renewal: the node picks the new files up at its next start).
 */
export function issuePeerCert(dir: string, nodeId: string, replace = false): PeerTlsFiles {
  if (!NODE_ID_PATTERN.test(nodeId)) throw new PeerCertError(`"${nodeId}" is not a node id (1-32 letters, digits, "_" or "-")`);
  if (!hasPeerCa(dir)) throw new PeerCertError(`${dir} holds no CA (ca.crt, ca.key): make it first`);
  const files = peerTlsFiles(dir, nodeId);
  if (!replace && existsSync(files.certFile) && existsSync(files.keyFile)) return files;
  writeNewKey(files.keyFile);
  openssl([
    'req', '-x509', '-new', '-key', files.keyFile, '-out', files.certFile, '-days', NODE_DAYS,
    '-subj', `/CN=${nodeId}`, '-CA', files.caFile, '-CAkey', join(dir, 'ca.key'),
    '-addext', `subjectAltName=DNS:${nodeId}`, '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature', '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
  ]);
  return files;
}

/** The CA (made if missing) and a certificate for each of `nodeIds` (made if missing) in `dir`. */
export function ensurePeerCerts(dir: string, nodeIds: readonly string[]): Map<string, PeerTlsFiles> {
  ensurePrivateDir(dir);
  if (!hasPeerCa(dir)) makePeerCa(dir);
  return new Map(nodeIds.map((id) => [id, issuePeerCert(dir, id)]));
}
