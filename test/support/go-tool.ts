// Builds one of the small Go tools in tools/ (promql-check, compose-check) for a test: `go build`
// into a directory of the caller's, with modules from the Go proxy and the go.sum committed beside
// the tool (-mod=readonly: a build never rewrites it). Go's own build cache keeps rebuilds quick.

import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../src/repo-root.js';

/** A skip reason where Go is not installed, else false (node:test's `skip` option). */
export const noGo: string | false = spawnSync('go', ['version']).error ? 'go is not installed' : false;

/** Builds tools/<tool> into `dir` and returns the binary's path. */
export async function buildGoTool(tool: string, dir: string): Promise<string> {
  const binary = join(dir, tool);
  await promisify(execFile)('go', ['build', '-o', binary, '.'], {
    cwd: join(repoRoot, 'tools', tool),
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly -buildvcs=false' },
    maxBuffer: 4 * 1024 * 1024,
  });
  return binary;
}
