// Mutual TLS of the Raft peer links: the TLS settings of both ends and the rule that turns a
// peer's certificate into the node id it speaks for.
//
// Every node holds a certificate of the cluster CA naming its node id, and trusts only that CA
// (not the system's roots). A certificate names node X when its subject has exactly one CN, X, and
// X is among its DNS subject alternative names if it has any (certificates made by
// `forge-mailbox certs` carry both). Each end checks the other: the dialer that the listener's
// certificate names the peer it meant to reach, the listener that the dialer's names the node
// its HELLO claims (handshake.ts). TLS 1.3 only.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { readSecretFile } from '../secret-files.js';
import type { NodeId } from './types.js';

/** PEM files of one node: the cluster CA (one or more certificates: two during a CA rotation), its certificate and key. */
export interface PeerTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** The loaded PEM text of PeerTlsFiles. */
export interface PeerTlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

export const PEER_TLS_MIN_VERSION = 'TLSv1.3';
/** The label of the keying material exported from a TLS session as the handshake's MAC key (RFC 8446, 7.5). */
export const HANDSHAKE_EXPORTER_LABEL = 'EXPORTER-forge-raft-handshake';

/** Reads the files; the key must be private to this user (0600), as every secret file. */
export function readPeerTls(files: PeerTlsFiles): PeerTlsMaterial {
  return { ca: readFileSync(files.caFile, 'utf8'), cert: readFileSync(files.certFile, 'utf8'), key: readSecretFile(files.keyFile) };
}

/** The node id `cert` names, or null when it names none (see the rule above). */
export function certificateNodeId(cert: X509Certificate): NodeId | null {
  const cns = cert.subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice(3));
  if (cns.length !== 1) return null;
  const cn = cns[0]!;
  const dns = (cert.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4));
  return dns.length === 0 || dns.includes(cn) ? cn : null;
}

/** The TLS context of both ends of this node's peer links; throws when its own certificate does not name `nodeId`. */
export function peerSecureContext(material: PeerTlsMaterial, nodeId: NodeId): tls.SecureContext {
  const own = certificateNodeId(new X509Certificate(material.cert));
  if (own !== nodeId) throw new Error(`the peer certificate names ${own === null ? 'no node' : `node ${own}`}, not this node (${nodeId})`);
  return tls.createSecureContext({ ca: material.ca, cert: material.cert, key: material.key, minVersion: PEER_TLS_MIN_VERSION });
}

/** The node id the peer's certificate on `socket` names, or null (no certificate, or one naming no node). */
export function peerNodeId(socket: tls.TLSSocket): NodeId | null {
  const cert = socket.getPeerX509Certificate();
  return cert === undefined ? null : certificateNodeId(cert);
}

/** The MAC key of the peer handshake on this TLS session (identical at both ends). */
export function handshakeKey(socket: tls.TLSSocket): Buffer {
  return socket.exportKeyingMaterial(32, HANDSHAKE_EXPORTER_LABEL, Buffer.alloc(0));
}
