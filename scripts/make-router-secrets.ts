// Makes the secrets docker-compose.yml needs (see scripts/compose-secrets.ts for the list):
//
//   npm run build && node dist/scripts/make-router-secrets.js [--out deploy/secrets] [--host NAME]... [--max-body-bytes N]
//   docker compose --env-file deploy/secrets/compose.env up -d --build
//
// --host adds a DNS name or IP address to every certificate, for clients that reach the
// published ports by that name (FORGE_PUBLISH_ADDRESS). --max-body-bytes sets the routers' and the
// gateway's message limit for a cluster whose nodes have a mailbox.maxBodyBytes other than the
// default 1 MiB (set both, or larger bodies are dropped by the routers). Re-running keeps what exists.

import { parseArgs } from 'node:util';
import { parseMaxBodyBytes } from '../src/config/schema.js';
import { makeComposeSecrets } from './compose-secrets.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'deploy/secrets' },
    host: { type: 'string', multiple: true, default: [] },
    'max-body-bytes': { type: 'string' },
  },
  strict: true,
});

let maxBodyBytes: number | undefined;
try {
  maxBodyBytes = values['max-body-bytes'] === undefined ? undefined : parseMaxBodyBytes(values['max-body-bytes']);
} catch (e) {
  process.stderr.write(`--max-body-bytes: ${(e as Error).message}\n`);
  process.exit(2);
}
const dir = await makeComposeSecrets(values.out, { hosts: values.host, ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }) });
process.stdout.write(
  `router secrets in ${dir} (0700; files 0600)\n` +
    `start:          docker compose --env-file ${dir}/compose.env up -d --build\n` +
    `native clients: zenoh.Config.from_file("${dir}/client.json5")\n` +
    `zenoh-ts:       wss://localhost:10000 with NODE_EXTRA_CA_CERTS=${dir}/ca.crt\n` +
    `operator token: ${dir}/admin.token (FORGE_TOKEN_FILE); more: forge-mailbox token issue --key-file ${dir}/token-signing-key.jwk --cluster forge-compose\n`,
);
