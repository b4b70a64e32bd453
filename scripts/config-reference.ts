// The README's configuration reference, generated from the zod schema so the documentation
// cannot drift from what the node accepts. The schema is turned into JSON Schema by zod itself
// (z.toJSONSchema) and each leaf field becomes one table row. A JSON Schema keyword this file does
// not know is an error, not silently dropped: a new kind of constraint must be documented.

import { z } from 'zod';
import { ENV_OVERRIDES, ENV_SECRET_FILES } from '../src/config/load.js';
import { configSchema } from '../src/config/schema.js';

export const START_MARKER = '<!-- config-reference:start -->';
export const END_MARKER = '<!-- config-reference:end -->';

export interface ReferenceRow {
  /** Dotted path; a record's keys appear as `<key>`. */
  path: string;
  type: string;
  required: boolean;
  hasDefault: boolean;
  default: unknown;
  constraints: string[];
  env: string | undefined;
  /** The variable naming a file that holds the value instead (secrets only). */
  envFile: string | undefined;
  description: string;
}

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
}

const LEAF_KEYWORDS = new Set([
  'type', 'description', 'default', 'enum', 'pattern', 'format',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength',
]);
const OBJECT_KEYWORDS = new Set(['type', 'description', 'default', 'properties', 'required', 'additionalProperties', 'propertyNames']);

const envByPath = new Map(Object.entries(ENV_OVERRIDES).map(([name, path]) => [path.join('.'), name]));
const envFileByPath = new Map(Object.entries(ENV_SECRET_FILES).map(([name, { path }]) => [path.join('.'), name]));

function unknownKeywords(schema: JsonSchema, known: Set<string>): string[] {
  return Object.keys(schema).filter((k) => !known.has(k) && k !== '$schema');
}

/** Large byte counts and durations are easier to check in units; the field name says which. */
function unitOf(path: string, value: number): string {
  const name = path.split('.').at(-1) ?? '';
  if (/Bytes/.test(name) && value >= 1024 && value % 1024 === 0) {
    const units = ['KiB', 'MiB', 'GiB'];
    let n = value / 1024;
    let unit = 0;
    while (n >= 1024 && n % 1024 === 0 && unit < units.length - 1) {
      n /= 1024;
      unit += 1;
    }
    return `${n} ${units[unit]}`;
  }
  if (/Ms$/.test(name) && value >= 1000) {
    const steps: Array<[number, string]> = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'min'], [1000, 's']];
    const exact = steps.find(([ms]) => value % ms === 0);
    if (exact) return `${value / exact[0]} ${exact[1]}`;
  }
  return '';
}

function withUnit(path: string, value: number): string {
  const unit = unitOf(path, value);
  return unit ? `${value} (${unit})` : String(value);
}

function constraintsOf(path: string, s: JsonSchema): string[] {
  const out: string[] = [];
  if (s.enum) out.push(`one of ${s.enum.map((v) => `\`${String(v)}\``).join(', ')}`);
  if (s.pattern !== undefined) out.push(`matches \`${s.pattern}\``);
  if (s.format !== undefined) out.push(`format ${s.format}`);
  if (s.minLength === 1) out.push('non-empty');
  else if (s.minLength !== undefined) out.push(`at least ${s.minLength} characters`);
  if (s.maxLength !== undefined) out.push(`at most ${s.maxLength} characters`);
  // zod gives every integer the safe-integer range; only tighter bounds are worth a line.
  if (s.minimum !== undefined && s.minimum !== Number.MIN_SAFE_INTEGER) out.push(`≥ ${withUnit(path, s.minimum)}`);
  if (s.exclusiveMinimum !== undefined) out.push(`> ${withUnit(path, s.exclusiveMinimum)}`);
  if (s.maximum !== undefined && s.maximum !== Number.MAX_SAFE_INTEGER) out.push(`≤ ${withUnit(path, s.maximum)}`);
  if (s.exclusiveMaximum !== undefined) out.push(`< ${withUnit(path, s.exclusiveMaximum)}`);
  return out;
}

function walk(s: JsonSchema, path: string, required: boolean, rows: ReferenceRow[]): void {
  if (s.type === 'object') {
    const unknown = unknownKeywords(s, OBJECT_KEYWORDS);
    if (unknown.length > 0) throw new Error(`${path || '(root)'}: unsupported JSON Schema keywords ${unknown.join(', ')}`);
    // A described object gets a row of its own: its description (and default) say things
    // about the group that its fields' descriptions do not.
    const isMap = typeof s.additionalProperties === 'object';
    if (path && (isMap || s.description !== undefined)) {
      const keys = s.propertyNames ? constraintsOf(path, s.propertyNames).map((c) => `keys: ${c}`) : [];
      rows.push(row(path, isMap ? 'map' : 'object', required, s, keys));
    }
    for (const [key, child] of Object.entries(s.properties ?? {})) {
      walk(child, path ? `${path}.${key}` : key, (s.required ?? []).includes(key), rows);
    }
    // A record (map): its value's fields appear under `<key>`.
    if (typeof s.additionalProperties === 'object') walk(s.additionalProperties, `${path}.<key>`, true, rows);
    return;
  }
  const unknown = unknownKeywords(s, LEAF_KEYWORDS);
  if (unknown.length > 0 || s.type === undefined) {
    throw new Error(`${path}: unsupported JSON Schema (${unknown.join(', ') || 'no type'}); teach scripts/config-reference.ts to document it`);
  }
  const type = Array.isArray(s.type) ? s.type.join(' or ') : s.type;
  rows.push(row(path, type, required, s, constraintsOf(path, s)));
}

function row(path: string, type: string, required: boolean, s: JsonSchema, constraints: string[]): ReferenceRow {
  return {
    path,
    type,
    required,
    hasDefault: 'default' in s,
    default: s.default,
    constraints,
    env: envByPath.get(path),
    envFile: envFileByPath.get(path),
    description: s.description ?? '',
  };
}

/** One row per leaf field (and per map) of the schema, in schema order. */
export function configReferenceRows(schema: z.ZodType = configSchema): ReferenceRow[] {
  // "input": what a config file may contain, so fields with defaults are optional.
  const json = z.toJSONSchema(schema, { io: 'input' }) as JsonSchema;
  const rows: ReferenceRow[] = [];
  walk(json, '', true, rows);
  return rows;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function defaultCell(r: ReferenceRow): string {
  if (r.hasDefault) {
    const text = `\`${JSON.stringify(r.default)}\``;
    const unit = typeof r.default === 'number' ? unitOf(r.path, r.default) : '';
    return unit ? `${text} (${unit})` : text;
  }
  return r.required ? '**required**' : '—';
}

export function renderConfigReference(rows: ReferenceRow[]): string {
  const lines = [
    '<!-- Generated from src/config/schema.ts by scripts/gen-config-doc.ts; do not edit by hand. -->',
    '',
    '| Field | Type | Default | Constraints | Environment | Description |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) =>
      [
        `\`${r.path}\``,
        r.type,
        defaultCell(r),
        r.constraints.join('; ') || '—',
        r.env ? `\`${r.env}\`${r.envFile ? ` or \`${r.envFile}\` (a 0600 file)` : ''}` : '—',
        r.description,
      ]
        .map(cell)
        .join(' | '),
    ).map((l) => `| ${l} |`),
  ];
  return lines.join('\n');
}

export function configReference(): string {
  return renderConfigReference(configReferenceRows());
}

/** `document` with the text between the markers replaced by `reference`; null without both markers. */
export function spliceReference(document: string, reference: string): string | null {
  const start = document.indexOf(START_MARKER);
  if (start < 0) return null;
  const end = document.indexOf(END_MARKER, start + START_MARKER.length);
  if (end < 0) return null;
  return `${document.slice(0, start + START_MARKER.length)}\n${reference}\n${document.slice(end)}`;
}
