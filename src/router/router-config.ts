// The Zenoh configurations (json5) of the three kinds of Zenoh participants around a cluster:
//
// - the nodes' router: zenoh-bridge-remote-api whose remote-api WebSocket carries the nodes'
//   sessions. Those sessions live inside the router process (local faces, not transport links),
//   so Zenoh's access control never sees them: the WebSocket must stay private to the nodes.
//   Everything else reaches this router over Zenoh links (tcp/ or tls/), authenticated with
//   user/password (transport.auth.usrpwd) and filtered by access_control, default deny.
// - the gateway: a second zenoh-bridge-remote-api in client mode whose WebSocket serves zenoh-ts
//   clients and whose one link into the nodes' router authenticates as the gateway user, which
//   the access control limits exactly like a native client.
// - a native client (Python eclipse-zenoh, zenoh-c, ...): the file `npm start` and
//   scripts/make-router-secrets.ts write for it, holding the client user's password.
//
// What the access control lets through, per authenticated user:
// - client, gateway: ingress put and query on the key space, egress the replies; nothing else.
//   No subscriber, queryable or liveliness declaration from them is accepted and no query or put
//   is sent to them, so they can neither receive other clients' puts nor answer queries. (They
//   need not see the nodes' declarations either: a client sends its puts and queries to its router.)
// - router (other routers of the mesh, compose only): everything, both ways, on the key space.
// Nobody is allowed anything on `@/...` (the admin space; it is also disabled for reading and
// writing) or on any key outside the prefix.
// `<prefix>/**` does not match chunks that start with `@` (Zenoh's verbatim chunks), so the
// cluster's `<prefix>/@cluster/**` keys (and the long polls' `<prefix>/@wait/**` lanes, and
// `<prefix>/@puts` and `<prefix>/@consumes`) are named explicitly wherever they are meant.

/** The users of transport.auth.usrpwd. */
export const CLIENT_USER = 'client';
export const GATEWAY_USER = 'gateway';
export const ROUTER_USER = 'router';
export type RouterUser = typeof CLIENT_USER | typeof GATEWAY_USER | typeof ROUTER_USER;

export interface Credentials {
  user: RouterUser;
  password: string;
}

/** Certificates for tls/ endpoints (paths as the router process sees them). */
export interface TlsFiles {
  /** The CA that signed every router certificate; clients and routers verify peers with it. */
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** Largest message body the cluster accepts by default (mailbox.maxBodyBytes). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** Room for the key expression, attachment and Zenoh framing beyond the body. */
const MESSAGE_OVERHEAD_BYTES = 64 * 1024;

export function maxMessageBytes(maxBodyBytes = DEFAULT_MAX_BODY_BYTES): number {
  return maxBodyBytes + MESSAGE_OVERHEAD_BYTES;
}

export type ZenohConfig = Record<string, unknown>;

/** The key expressions of the service: every mailbox key, the cluster's verbatim `@cluster` keys, the long polls' `@wait` lanes, `@puts` and `@consumes`. */
export function serviceKeyExprs(prefix: string): string[] {
  return [`${prefix}/**`, `${prefix}/@cluster/**`, `${prefix}/@wait/**`, `${prefix}/@puts`, `${prefix}/@consumes`];
}

export function accessControl(prefix: string): ZenohConfig {
  const keys = serviceKeyExprs(prefix);
  return {
    enabled: true,
    default_permission: 'deny',
    rules: [
      { id: 'client-requests', messages: ['put', 'query'], flows: ['ingress'], permission: 'allow', key_exprs: keys },
      { id: 'client-answers', messages: ['reply'], flows: ['egress'], permission: 'allow', key_exprs: keys },
      {
        id: 'router-mesh',
        messages: [
          'put',
          'delete',
          'declare_subscriber',
          'query',
          'reply',
          'declare_queryable',
          'liveliness_token',
          'liveliness_query',
          'declare_liveliness_subscriber',
        ],
        flows: ['ingress', 'egress'],
        permission: 'allow',
        key_exprs: keys,
      },
    ],
    subjects: [
      { id: 'clients', usernames: [CLIENT_USER, GATEWAY_USER] },
      { id: 'routers', usernames: [ROUTER_USER] },
    ],
    policies: [
      { id: 'clients-put-and-query', rules: ['client-requests', 'client-answers'], subjects: ['clients'] },
      { id: 'routers-carry-the-service', rules: ['router-mesh'], subjects: ['routers'] },
    ],
  };
}

function tlsSection(tls: TlsFiles | undefined): ZenohConfig {
  if (tls === undefined) return {};
  return {
    tls: {
      root_ca_certificate: tls.caFile,
      listen_certificate: tls.certFile,
      listen_private_key: tls.keyFile,
      verify_name_on_connect: true,
    },
  };
}

function link(maxBodyBytes: number | undefined, tls: TlsFiles | undefined): ZenohConfig {
  return { rx: { max_message_size: maxMessageBytes(maxBodyBytes) }, ...tlsSection(tls) };
}

/** Admin space: the bridge binary enables it; nobody may read (it shows the config) or write it. */
const ADMINSPACE = { enabled: true, permissions: { read: false, write: false } };

export interface NodesRouterOptions {
  /** Zenoh listeners for native clients, the gateway and other routers (`tcp/…` or `tls/…`). */
  listen: string[];
  /** `host:port` of the remote-api WebSocket the nodes use: private to the nodes. */
  nodesWebSocket: string;
  /** Other routers of the mesh. */
  connect?: string[];
  /**
   * The usrpwd dictionary (`user:password` lines) this router accepts; null turns authentication
   * AND access control off (an explicit choice the caller logs).
   */
  usersFile: string | null;
  /** Credentials this router presents on links it opens (a mesh). */
  self?: Credentials;
  tls?: TlsFiles;
  keyPrefix?: string;
  maxBodyBytes?: number;
}

export function nodesRouterConfig(o: NodesRouterOptions): ZenohConfig {
  if ((o.connect ?? []).length > 0 && o.self === undefined) {
    throw new Error('a router that connects to other routers needs its own credentials');
  }
  const secured = o.usersFile !== null;
  return {
    listen: { endpoints: o.listen },
    connect: { endpoints: o.connect ?? [] },
    scouting: { multicast: { enabled: false }, gossip: { enabled: false } },
    ...(secured ? { access_control: accessControl(o.keyPrefix ?? 'forge/mailbox') } : {}),
    transport: {
      link: link(o.maxBodyBytes, o.tls),
      ...(secured
        ? { auth: { usrpwd: { user: o.self?.user ?? null, password: o.self?.password ?? null, dictionary_file: o.usersFile } } }
        : {}),
    },
    adminspace: ADMINSPACE,
    plugins: { remote_api: { websocket_port: o.nodesWebSocket } },
  };
}

export interface GatewayOptions {
  /** `host:port` of the WebSocket zenoh-ts clients connect to. */
  webSocket: string;
  /** The nodes' routers (the client-mode gateway uses the first that answers). */
  connect: string[];
  /** null when the nodes' router runs without authentication. */
  credentials: Credentials | null;
  /** The CA to verify tls/ routers with. */
  caFile?: string;
  /** Serve wss:// with this certificate. */
  secureWebSocket?: { certFile: string; keyFile: string };
  maxBodyBytes?: number;
}

/** For zenoh-bridge-remote-api started with `--mode client`. */
export function gatewayConfig(o: GatewayOptions): ZenohConfig {
  return {
    listen: { endpoints: [] },
    connect: { endpoints: o.connect },
    scouting: { multicast: { enabled: false }, gossip: { enabled: false } },
    transport: {
      link: {
        rx: { max_message_size: maxMessageBytes(o.maxBodyBytes) },
        ...(o.caFile === undefined ? {} : { tls: { root_ca_certificate: o.caFile, verify_name_on_connect: true } }),
      },
      ...(o.credentials === null ? {} : { auth: { usrpwd: { user: o.credentials.user, password: o.credentials.password } } }),
    },
    adminspace: ADMINSPACE,
    plugins: {
      remote_api: {
        websocket_port: o.webSocket,
        ...(o.secureWebSocket === undefined
          ? {}
          : { secure_websocket: { certificate_path: o.secureWebSocket.certFile, private_key_path: o.secureWebSocket.keyFile } }),
      },
    },
  };
}

export interface NativeClientOptions {
  connect: string[];
  credentials: Credentials | null;
  caFile?: string;
}

/** A Zenoh client configuration, e.g. for `zenoh.Config.from_file` in Python. */
export function nativeClientConfig(o: NativeClientOptions): ZenohConfig {
  return {
    mode: 'client',
    connect: { endpoints: o.connect },
    scouting: { multicast: { enabled: false } },
    transport: {
      ...(o.credentials === null ? {} : { auth: { usrpwd: { user: o.credentials.user, password: o.credentials.password } } }),
      ...(o.caFile === undefined ? {} : { link: { tls: { root_ca_certificate: o.caFile } } }),
    },
  };
}

/** json5 text of a config (JSON is json5), with a header saying where it comes from. */
export function renderConfig(config: ZenohConfig, header: string): string {
  const comment = header
    .split('\n')
    .map((l) => `// ${l}`.trimEnd())
    .join('\n');
  return `${comment}\n${JSON.stringify(config, null, 2)}\n`;
}
