import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ENV_OVERRIDES, ENV_SECRET_FILES, validateConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import {
  END_MARKER,
  START_MARKER,
  configReference,
  configReferenceRows,
  renderConfigReference,
  spliceReference,
} from '../../scripts/config-reference.js';

const minimal = {
  nodeId: 'n1',
  clusterId: 'doc',
  secret: 'a-secret-of-16-chars',
  dataDir: '/tmp/forge-doc',
  peers: { n1: { host: '127.0.0.1', port: 7101 } },
  auth: { jwksFile: '/etc/forge/jwks.json' },
};

/**
 * Fields a config cannot simply omit although the schema has no plain requirement: `auth`
 * defaults to enabled, and then its `jwksFile` is required; `secret` is required while `peerTls`
 * is not set (the table says so in the field's description).
 */
const CONDITIONALLY_REQUIRED = new Set(['auth', 'secret']);

/** Leaf fields and their descriptions, found through zod's own structure (not JSON Schema). */
function zodLeaves(schema: z.ZodType, path: string, out: Map<string, string | undefined>): Map<string, string | undefined> {
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  const join = (key: string) => (path ? `${path}.${key}` : key);
  if (inner instanceof z.ZodObject) {
    for (const [key, child] of Object.entries(inner.shape as Record<string, z.ZodType>)) zodLeaves(child, join(key), out);
  } else if (inner instanceof z.ZodRecord) {
    zodLeaves(inner.valueType as z.ZodType, join('<key>'), out);
  } else {
    out.set(path, schema.description ?? inner.description);
  }
  return out;
}

function valueAt(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], obj);
}

test('every leaf field of the schema has a row carrying its description', () => {
  const rows = new Map(configReferenceRows().map((r) => [r.path, r]));
  const leaves = zodLeaves(configSchema, '', new Map());
  assert.ok(leaves.size >= 30, `only ${leaves.size} leaves found; the walk is broken`);
  for (const [path, description] of leaves) {
    assert.ok(description, `${path} has no .describe() in the schema`);
    const row = rows.get(path);
    assert.ok(row, `no reference row for ${path}`);
    assert.equal(row.description, description, path);
    assert.ok(configReference().includes(`| \`${path}\` |`), `${path} is not in the rendered table`);
  }
  for (const path of rows.keys()) {
    assert.ok(leaves.has(path) || [...leaves.keys()].some((l) => l.startsWith(`${path}.`)), `row ${path} is not a schema field`);
  }
});

test('the documented defaults are the ones a minimal config receives', () => {
  const config = validateConfig(minimal);
  const withDefaults = configReferenceRows().filter((r) => r.hasDefault);
  assert.ok(withDefaults.length >= 20);
  for (const r of withDefaults) {
    if (CONDITIONALLY_REQUIRED.has(r.path)) continue; // the minimal config had to fill in its required part
    assert.deepEqual(r.default, valueAt(config, r.path), r.path);
  }
});

test('exactly the top-level fields a config cannot omit are documented as required', () => {
  for (const r of configReferenceRows().filter((row) => !row.path.includes('.'))) {
    const without: Record<string, unknown> = { ...minimal };
    delete without[r.path];
    const accepted = configSchema.safeParse(without).success;
    if (CONDITIONALLY_REQUIRED.has(r.path)) {
      assert.equal(r.required, false, `${r.path} has a default`);
      assert.equal(accepted, false, `${r.path}: omitting it leaves a required part unset`);
      assert.match(r.description ?? '', /required while/i, `${r.path}: the table must say what it requires`);
      continue;
    }
    assert.equal(r.required, !accepted, `${r.path}: documented required=${r.required}, but omitting it is ${accepted ? 'accepted' : 'refused'}`);
  }
});

test('each environment override is documented on the field it sets', () => {
  const rows = configReferenceRows();
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    assert.deepEqual(rows.filter((r) => r.env === name).map((r) => r.path), [path.join('.')], name);
  }
  for (const [name, { path }] of Object.entries(ENV_SECRET_FILES)) {
    assert.deepEqual(rows.filter((r) => r.envFile === name).map((r) => r.path), [path.join('.')], name);
  }
});

test('constraints come from the schema, with units where the field name gives them', () => {
  const byPath = new Map(configReferenceRows().map((r) => [r.path, r]));
  assert.deepEqual(byPath.get('secret')?.constraints, ['at least 16 characters']);
  assert.deepEqual(byPath.get('raft.tickMs')?.constraints, ['≥ 1', '≤ 1000 (1 s)']);
  assert.deepEqual(byPath.get('raft.snapshotChunkBytes')?.constraints, ['≥ 1024 (1 KiB)', '≤ 16777216 (16 MiB)']);
  assert.deepEqual(byPath.get('logLevel')?.constraints, ['one of `trace`, `debug`, `info`, `warn`, `error`, `fatal`']);
  assert.deepEqual(byPath.get('peers')?.constraints, ['keys: matches `^[A-Za-z0-9_-]{1,32}$`']);
  assert.match(configReference(), /\| `mailbox\.defaultTtlMs` \| integer \| `86400000` \(1 d\) \|/);
});

test('a schema construct the generator does not know is an error, not a silently thinner table', () => {
  const union = z.object({ a: z.union([z.string(), z.object({ b: z.number() })]).describe('either') });
  assert.throws(() => configReferenceRows(union), /a: unsupported JSON Schema \(anyOf\)/);
  const simpleUnion = z.object({ a: z.union([z.string(), z.number()]).describe('either') });
  assert.equal(configReferenceRows(simpleUnion)[0]?.type, 'string or number');
});

test('table cells escape "|" so a pattern or description cannot add columns', () => {
  const schema = z.object({ a: z.string().regex(/^(x|y)$/).describe('one | two') });
  const line = renderConfigReference(configReferenceRows(schema)).split('\n').at(-1)!;
  assert.equal(line.replace(/\\\|/g, '').split('|').length - 1, 7, line);
  assert.ok(line.includes('one \\| two'));
});

test('spliceReference replaces only the text between the markers, and needs both', () => {
  const doc = `# Title\n\nintro\n${START_MARKER}\nold table\n${END_MARKER}\n\nafter\n`;
  const spliced = spliceReference(doc, 'NEW');
  assert.equal(spliced, `# Title\n\nintro\n${START_MARKER}\nNEW\n${END_MARKER}\n\nafter\n`);
  assert.equal(spliceReference(spliced!, 'NEW'), spliced);
  assert.equal(spliceReference('# no markers\n', 'NEW'), null);
  assert.equal(spliceReference(`${START_MARKER}\nonly the start\n`, 'NEW'), null);
  assert.equal(spliceReference(`${END_MARKER}\n${START_MARKER}\n`, 'NEW'), null);
});
