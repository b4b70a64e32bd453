// Prints the configuration reference generated from the zod schema, or keeps README.md's copy
// (between <!-- config-reference:start --> and <!-- config-reference:end -->) current:
//
//   node --import tsx scripts/gen-config-doc.ts            print the reference
//   node --import tsx scripts/gen-config-doc.ts --check    exit 1 unless README.md is current
//   node --import tsx scripts/gen-config-doc.ts --write    update README.md between the markers
//
// --readme <file> picks another Markdown file. Without the markers, --write prints the reference
// for pasting (and says so on stderr) and --check fails.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { END_MARKER, START_MARKER, configReference, spliceReference } from './config-reference.js';
import { repoRoot } from '../src/repo-root.js';

const { values } = parseArgs({
  options: {
    check: { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
    readme: { type: 'string', default: join(repoRoot, 'README.md') },
  },
  strict: true,
});

const reference = configReference();
const readme = values.readme;

if (!values.check && !values.write) {
  process.stdout.write(`${reference}\n`);
  process.exit(0);
}
if (values.check && values.write) {
  process.stderr.write('gen-config-doc: use --check or --write, not both\n');
  process.exit(2);
}

const document = existsSync(readme) ? readFileSync(readme, 'utf8') : null;
const updated = document === null ? null : spliceReference(document, reference);
const missing = document === null ? `${readme} does not exist` : `${readme} lacks the markers ${START_MARKER} ... ${END_MARKER}`;

if (values.check) {
  if (updated === null) {
    process.stderr.write(`gen-config-doc: ${missing}\n`);
    process.exit(1);
  }
  if (updated !== document) {
    process.stderr.write(`gen-config-doc: the configuration reference in ${readme} is out of date; run: node --import tsx scripts/gen-config-doc.ts --write\n`);
    process.exit(1);
  }
  process.stderr.write(`gen-config-doc: ${readme} is up to date\n`);
} else if (updated === null) {
  process.stderr.write(`gen-config-doc: ${missing}; printing the reference instead\n`);
  process.stdout.write(`${reference}\n`);
} else if (updated === document) {
  process.stderr.write(`gen-config-doc: ${readme} is already up to date\n`);
} else {
  writeFileSync(readme, updated);
  process.stderr.write(`gen-config-doc: updated ${readme}\n`);
}
