// The secrets of the Docker Compose deployment, made by scripts/make-router-secrets.ts into one
// private directory (0700, files 0600) that docker-compose.yml mounts file by file:
//
//   ca.crt, ca.key              a private CA (EC P-256, openssl) that signs the certificates below
//   router-N.crt/.key, gateway.crt/.key
//                               TLS certificates for the names the routers are dialled by
//                               (router-N, gateway; plus localhost, 127.0.0.1 and --host names
//                               for clients on the Docker host)
//   zenoh-users.txt             usrpwd dictionary: client, gateway, router (kept on re-runs)
//   router-N.json5, gateway.json5
//                               the routers' Zenoh configs (router-config.ts), container paths
//   client.json5                a native client's Zenoh config, host paths (tls/ endpoints on the
//                               published ports, the CA, the client password)
//   token-signing-key.jwk       the Ed25519 key capability tokens are signed with (kept on
//                               re-runs; stays on the host, never mounted)
//   jwks.json                   its public half, which the nodes verify tokens with (0644: public,
//                               and readable by the node containers' own user)
//   admin.token                 an operator token (every operation on every mailbox, 30 days;
//                               re-issued on every run)
//   peer-tls/                   the Raft peer links' mutual TLS (src/peer-certs.ts): ca.crt, ca.key
//                               (the peer CA, separate from the routers') and nN.crt/.key per node
//                               (CN = node id); kept on re-runs
//   compose.env                 FORGE_ROUTER_SECRETS (this directory) and FORGE_SECRETS_UID (the
//                               owner of these files, the user the router and node containers run as)
//
// Certificates and keys are made by the openssl command line and tokens by jose; nothing here does
// cryptography itself.
// Re-running keeps existing passwords, CA and certificates (rotate by deleting them, see README).

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  CLIENT_USER,
  GATEWAY_USER,
  gatewayConfig,
  nativeClientConfig,
  nodesRouterConfig,
  renderConfig,
  ROUTER_USER,
  type TlsFiles,
} from '../src/router/router-config.js';
import { ensurePeerCerts } from '../src/peer-certs.js';
import { ensureUsers } from '../src/router/router-secrets.js';
import { ensurePrivateDir, writeSecretFile } from '../src/secret-files.js';
import { ALL_USERS, OPERATIONS, type Operation } from '../src/auth/capability.js';
import { addToJwks, generateSigningKey, readSigningKey } from '../src/auth/key-files.js';
import { issueToken } from '../src/auth/tokens.js';

/** The compose cluster's id (deploy/config/n*.json): the audience of its tokens. */
export const COMPOSE_CLUSTER_ID = 'forge-compose';

/** The token signing key and JWKS (made once), and the operator token issued with it. */
async function tokenSecrets(dir: string): Promise<void> {
  const keyFile = join(dir, 'token-signing-key.jwk');
  if (!existsSync(keyFile)) {
    const key = await generateSigningKey();
    writeSecretFile(keyFile, `${JSON.stringify(key.signingKey)}\n`);
    rmSync(join(dir, 'jwks.json'), { force: true });
    addToJwks(join(dir, 'jwks.json'), key.publicKey);
  }
  const signingKey = readSigningKey(keyFile);
  const issue = (principal: string, ops: readonly Operation[], days: number) =>
    issueToken({ signingKey, audience: COMPOSE_CLUSTER_ID, principal, users: [ALL_USERS], ops, ttlSeconds: days * 86_400 });
  writeSecretFile(join(dir, 'admin.token'), `${await issue('compose-operator', OPERATIONS, 30)}\n`);
}

/** Where docker-compose.yml mounts the files inside the router containers. */
export const CONTAINER_DIR = '/etc/zenoh';
export const ROUTERS = ['router-1', 'router-2', 'router-3'] as const;
/** The node ids of deploy/config/n*.json, each with a peer certificate. */
export const NODES = ['n1', 'n2', 'n3'] as const;
/** Host ports the routers' Zenoh listener is published on (docker-compose.yml). */
export const PUBLISHED_ZENOH_PORTS = [7447, 7448, 7449] as const;
export const ZENOH_PORT = 7447;
export const NODES_WS_PORT = 10000;
export const GATEWAY_WS_PORT = 10000;
const CERT_DAYS = '825';

export interface ComposeSecretsOptions {
  /** Extra names (DNS or IP) clients use to reach the published ports. */
  hosts?: string[];
  /** The uid the router containers run as: the owner of the files (default: this process's). */
  uid?: number;
  /** The nodes' mailbox.maxBodyBytes, which the routers' and gateway's message limit follows (default 1 MiB). */
  maxBodyBytes?: number;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function ensureCa(dir: string): void {
  if (existsSync(join(dir, 'ca.crt')) && existsSync(join(dir, 'ca.key'))) return;
  openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc',
    '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', CERT_DAYS,
    '-subj', '/CN=forge-mailbox zenoh CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

function san(name: string, hosts: string[]): string {
  const names = [...new Set([name, 'localhost', '127.0.0.1', ...hosts])];
  return names.map((n) => (/^[0-9.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
}

function ensureCert(dir: string, name: string, hosts: string[]): void {
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  if (existsSync(crt) && existsSync(key)) return;
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeSecretFile(
    ext,
    [`subjectAltName=${san(name, hosts)}`, 'basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth,clientAuth', ''].join('\n'),
  );
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  openssl([
    'x509', '-req', '-in', csr, '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial',
    '-out', crt, '-days', CERT_DAYS, '-sha256', '-extfile', ext,
  ]);
  rmSync(csr, { force: true });
  rmSync(ext, { force: true });
}

const HEADER =
  'Generated by scripts/make-router-secrets.ts for docker-compose.yml (regenerated at each run from\nthe passwords in zenoh-users.txt and the certificates beside it). Holds secrets: keep it 0600.';

/** Makes (or completes) the secrets directory; returns its absolute path. */
export async function makeComposeSecrets(out: string, opts: ComposeSecretsOptions = {}): Promise<string> {
  const dir = resolve(out);
  ensurePrivateDir(dir);
  const hosts = opts.hosts ?? [];
  ensureCa(dir);
  for (const name of [...ROUTERS, 'gateway']) ensureCert(dir, name, hosts);
  for (const n of ['ca', ...ROUTERS, 'gateway']) for (const ext of ['crt', 'key']) chmodSync(join(dir, `${n}.${ext}`), 0o600);
  rmSync(join(dir, 'ca.srl'), { force: true });

  const users = ensureUsers(join(dir, 'zenoh-users.txt'), [CLIENT_USER, GATEWAY_USER, ROUTER_USER]);
  const inContainer = (f: string) => `${CONTAINER_DIR}/${f}`;
  for (const router of ROUTERS) {
    const tls: TlsFiles = { caFile: inContainer('ca.crt'), certFile: inContainer('router.crt'), keyFile: inContainer('router.key') };
    const config = nodesRouterConfig({
      listen: [`tls/0.0.0.0:${ZENOH_PORT}`],
      // Loopback of the router's namespace: the nodes come in through its link guard (guard-N).
      nodesWebSocket: `127.0.0.1:${NODES_WS_PORT}`,
      connect: ROUTERS.filter((r) => r !== router).map((r) => `tls/${r}:${ZENOH_PORT}`),
      usersFile: inContainer('zenoh-users.txt'),
      self: users.get(ROUTER_USER)!,
      tls,
      ...(opts.maxBodyBytes === undefined ? {} : { maxBodyBytes: opts.maxBodyBytes }),
    });
    writeSecretFile(join(dir, `${router}.json5`), renderConfig(config, HEADER));
  }
  const gateway = gatewayConfig({
    webSocket: `0.0.0.0:${GATEWAY_WS_PORT}`,
    connect: ROUTERS.map((r) => `tls/${r}:${ZENOH_PORT}`),
    credentials: users.get(GATEWAY_USER)!,
    caFile: inContainer('ca.crt'),
    secureWebSocket: { certFile: inContainer('gateway.crt'), keyFile: inContainer('gateway.key') },
    ...(opts.maxBodyBytes === undefined ? {} : { maxBodyBytes: opts.maxBodyBytes }),
  });
  writeSecretFile(join(dir, 'gateway.json5'), renderConfig(gateway, HEADER));
  const client = nativeClientConfig({
    connect: PUBLISHED_ZENOH_PORTS.map((p) => `tls/localhost:${p}`),
    credentials: users.get(CLIENT_USER)!,
    caFile: join(dir, 'ca.crt'),
  });
  writeSecretFile(join(dir, 'client.json5'), renderConfig(client, HEADER));
  ensurePeerCerts(join(dir, 'peer-tls'), NODES);
  const uid = opts.uid ?? process.getuid?.() ?? 1000;
  await tokenSecrets(dir);
  writeSecretFile(join(dir, 'compose.env'), `FORGE_ROUTER_SECRETS=${dir}\nFORGE_SECRETS_UID=${uid}\n`);
  return dir;
}

