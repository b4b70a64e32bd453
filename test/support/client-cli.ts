// A program with only the client commands, so their tests do not depend on the daemon's wiring.
import { Command } from 'commander';
import { registerClientCommands } from '../../src/cli/client-commands.js';

const program = new Command('forge-mailbox');
registerClientCommands(program);
await program.parseAsync(process.argv);
