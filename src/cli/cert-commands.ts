// `forge-mailbox certs ca` and `certs issue`: the operator's side of the peer links' mutual TLS
// (src/peer-certs.ts). Everything lands in one private directory (0700; keys 0600); each command
// prints the files it wrote as JSON, ready for a node's `peerTls`. Needs the openssl command.

import type { Command } from 'commander';
import { makePeerCa, issuePeerCert, PeerCertError } from '../peer-certs.js';

const EXIT_BAD_INPUT = 3;

function fail(message: string): never {
  process.stderr.write(`forge-mailbox: ${message}\n`);
  process.exit(EXIT_BAD_INPUT);
}

function guarded(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof PeerCertError) fail(e.message);
    throw e;
  }
}

export function registerCertCommands(program: Command): void {
  const certs = program.command('certs').description('mutual TLS of the Raft peer links: make the cluster CA, issue node certificates');
  certs.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_BAD_INPUT));

  certs
    .command('ca')
    .description('make the cluster CA (ca.crt, ca.key 0600) in a private directory; refused if one is there')
    .requiredOption('--dir <dir>', 'the certificates directory (created 0700)')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_BAD_INPUT))
    .action((opts: { dir: string }) =>
      guarded(() => {
        makePeerCa(opts.dir);
        process.stdout.write(`${JSON.stringify({ caFile: `${opts.dir}/ca.crt`, caKey: `${opts.dir}/ca.key` })}\n`);
      }),
    );

  certs
    .command('issue')
    .description("issue node certificates (<node>.crt, <node>.key 0600) from the directory's CA; existing ones are kept unless --renew")
    .requiredOption('--dir <dir>', 'the certificates directory holding the CA')
    .requiredOption('--node <id...>', 'node ids (the certificate names each: CN and DNS name)')
    .option('--renew', 'replace existing certificates and keys (rotation: restart the node afterwards)', false)
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_BAD_INPUT))
    .action((opts: { dir: string; node: string[]; renew: boolean }) =>
      guarded(() => {
        for (const id of opts.node) process.stdout.write(`${JSON.stringify({ node: id, peerTls: issuePeerCert(opts.dir, id, opts.renew) })}\n`);
      }),
    );
}
