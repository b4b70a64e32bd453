#!/usr/bin/env node
// forge-mailbox command line: `serve` runs a node, `local-cluster` runs router + three nodes,
// the client commands talk to a running cluster through Zenoh, `token` makes keys and tokens,
// `link-guard` runs beside a router and cuts the router link of a frozen node, `certs` makes the
// peer links' TLS certificates.

import { Command } from 'commander';
import { registerCertCommands } from './cert-commands.js';
import { registerClientCommands } from './client-commands.js';
import { registerLinkGuardCommand } from './link-guard-command.js';
import { registerLocalClusterCommand } from './local-cluster.js';
import { registerServeCommand } from './serve.js';
import { registerTokenCommands } from './token-commands.js';

const program = new Command();
program.name('forge-mailbox').description('Clustered per-user mailboxes over Zenoh, replicated with Raft');
registerServeCommand(program);
registerLocalClusterCommand(program);
registerClientCommands(program);
registerTokenCommands(program);
registerLinkGuardCommand(program);
registerCertCommands(program);
await program.parseAsync(process.argv);
