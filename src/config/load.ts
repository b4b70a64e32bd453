// Builds the effective configuration from a file, then environment variables, then command-line
// flags (later wins), and validates the result. Any problem is a ConfigError naming the field.

import { readFileSync } from 'node:fs';
import { readSecretFile } from '../secret-files.js';
import { MUTATIONS, type MutationName } from '../verify/mutations.js';
import { configSchema, type ForgeConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Environment variables that override single fields (handy in containers). */
export const ENV_OVERRIDES: Record<string, string[]> = {
  FORGE_NODE_ID: ['nodeId'],
  FORGE_CLUSTER_ID: ['clusterId'],
  FORGE_SECRET: ['secret'],
  FORGE_PEER_TLS_CA_FILE: ['peerTls', 'caFile'],
  FORGE_PEER_TLS_CERT_FILE: ['peerTls', 'certFile'],
  FORGE_PEER_TLS_KEY_FILE: ['peerTls', 'keyFile'],
  FORGE_DATA_DIR: ['dataDir'],
  FORGE_ZENOH_ROUTER: ['zenoh', 'router'],
  FORGE_LOG_LEVEL: ['logLevel'],
  FORGE_AUTH_JWKS_FILE: ['auth', 'jwksFile'],
};

/**
 * Variables naming a file that holds a secret field, for compose `secrets:` and the like: a value in
 * the environment shows in `docker inspect` and /proc/<pid>/environ, a path does not. The file must
 * be readable by its owner only (0600), as for ssh keys; one trailing newline is dropped.
 */
export const ENV_SECRET_FILES: Record<string, { variable: string; path: string[] }> = {
  FORGE_SECRET_FILE: { variable: 'FORGE_SECRET', path: ['secret'] },
};

export interface ConfigOverrides {
  nodeId?: string;
  dataDir?: string;
  router?: string;
  logLevel?: string;
}

type Json = Record<string, unknown>;

function setPath(target: Json, path: string[], value: unknown): void {
  let obj = target;
  for (const key of path.slice(0, -1)) {
    const next = obj[key];
    if (typeof next !== 'object' || next === null) obj[key] = {};
    obj = obj[key] as Json;
  }
  obj[path[path.length - 1]!] = value;
}

export function readConfigFile(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`config file ${path}: ${(err as Error).message}`]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`config file ${path}: not valid JSON (${(err as Error).message})`]);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError([`config file ${path}: must hold a JSON object`]);
  }
  return parsed as Json;
}

export function validateConfig(raw: unknown): ForgeConfig {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`),
  );
}

export function loadConfig(opts: {
  file?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: ConfigOverrides;
}): ForgeConfig {
  const raw: Json = opts.file ? readConfigFile(opts.file) : {};
  const env = opts.env ?? {};
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(raw, path, v);
  }
  for (const [name, { variable, path }] of Object.entries(ENV_SECRET_FILES)) {
    const file = env[name];
    if (file === undefined || file === '') continue;
    if (env[variable]) throw new ConfigError([`${name} and ${variable} are both set: give the secret one way`]);
    let text: string;
    try {
      text = readSecretFile(file);
    } catch (err) {
      throw new ConfigError([`${name}: ${(err as Error).message}`]);
    }
    setPath(raw, path, text.replace(/\r?\n$/, ''));
  }
  const o = opts.overrides ?? {};
  if (o.nodeId !== undefined) raw.nodeId = o.nodeId;
  if (o.dataDir !== undefined) raw.dataDir = o.dataDir;
  if (o.router !== undefined) setPath(raw, ['zenoh', 'router'], o.router);
  if (o.logLevel !== undefined) raw.logLevel = o.logLevel;
  return validateConfig(raw);
}

/** The variable naming the deliberate bugs a node runs with (mutation tests only, never production). */
export const UNSAFE_MUTATIONS_ENV = 'FORGE_UNSAFE_MUTATIONS';

/**
 * The mutations (src/verify/mutations.ts) FORGE_UNSAFE_MUTATIONS switches on: a comma-separated
 * list of registry names, empty or unset for none. An unknown name is a ConfigError, so a typo
 * cannot leave a mutation test running the safe code while it believes otherwise.
 */
export function unsafeMutationsFromEnv(env: NodeJS.ProcessEnv): MutationName[] {
  const raw = env[UNSAFE_MUTATIONS_ENV];
  if (raw === undefined || raw.trim() === '') return [];
  const known = new Set<string>(MUTATIONS.map((m) => m.name));
  const names = raw.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new ConfigError([
      `${UNSAFE_MUTATIONS_ENV}: unknown mutation ${unknown.map((n) => JSON.stringify(n)).join(', ')} (known: ${[...known].join(', ')})`,
    ]);
  }
  return [...new Set(names)] as MutationName[];
}
