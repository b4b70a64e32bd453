// The operator HTTP endpoint (metrics.host:metrics.port): GET /metrics (Prometheus text), GET
// /livez and GET /readyz (health.ts). A probe answers 200 with a short JSON body of its checks, or
// 503 naming the failing ones. Nothing served here carries a secret or a user id (unless the
// operator opted into per-user depth, see metrics.ts), so the port may be bound beyond loopback
// inside a private network such as compose's.

import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { HealthReport } from './health.js';

export interface OpsEndpoints {
  registry: Registry;
  livez(): HealthReport;
  readyz(): HealthReport;
}

export class OpsServer {
  private server: Server | null = null;

  constructor(private readonly endpoints: OpsEndpoints) {}

  /** Serves on host:port; resolves with the bound port (port 0 picks one). */
  listen(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') {
        res.writeHead(405, { allow: 'GET' }).end('GET only\n');
      } else if (path === '/livez' || path === '/readyz') {
        const r = path === '/livez' ? this.endpoints.livez() : this.endpoints.readyz();
        const body = r.ok ? { status: 'ok', checks: r.checks } : { status: 'failing', failed: r.failed, checks: r.checks };
        res.writeHead(r.ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify(body)}\n`);
      } else if (path === '/metrics') {
        const registry = this.endpoints.registry;
        registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (err: Error) => res.writeHead(500).end(`${err.message}\n`),
        );
      } else {
        res.writeHead(404).end('not found: GET /metrics, /livez or /readyz\n');
      }
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
