// zenoh-ts reports link events with console.log / console.warn (one of them on stdout), which
// would corrupt the CLI's JSON output and the daemon's structured logs. This diverts exactly
// those messages (recognised by their fixed wording) to a sink; everything else passes through.

const ZENOH_TS_MESSAGES = [
  /^Successfully opened session with id: /,
  /^Connected to$/,
  /^Restart connection$/,
  /^WebSocket error: $/,
  /^WebSocket has been disconnected from remote-api-plugin: /,
  /^Received .* for inexistant /,
  /^Received unexpected response /,
  /^Unsupported [A-Za-z]+ value /,
];

export type ZenohConsoleSink = (message: string) => void;

let sink: ZenohConsoleSink = () => {};
let installed = false;

function isZenohMessage(args: unknown[]): args is [string, ...unknown[]] {
  const first = args[0];
  return typeof first === 'string' && ZENOH_TS_MESSAGES.some((re) => re.test(first));
}

function describe(args: [string, ...unknown[]]): string {
  const [first, ...rest] = args;
  // The WebSocket error event object is huge; its message (if any) is what matters.
  const details = rest.map((a) => (typeof a === 'string' ? a : typeof a === 'object' && a !== null && 'message' in a ? String(a.message) : ''));
  return [first, ...details].filter((s) => s !== '').join(' ');
}

/** Sends zenoh-ts console chatter to `next` from now on (the last caller wins). */
export function divertZenohConsole(next: ZenohConsoleSink): void {
  sink = next;
  if (installed) return;
  installed = true;
  const log = console.log.bind(console);
  const warn = console.warn.bind(console);
  console.log = (...args: unknown[]) => (isZenohMessage(args) ? sink(describe(args)) : log(...args));
  console.warn = (...args: unknown[]) => (isZenohMessage(args) ? sink(describe(args)) : warn(...args));
}
