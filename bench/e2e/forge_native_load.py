"""One process of the end-to-end benchmark's native client load (bench/e2e/forge-native.ts).

Drives Forge through the shipped Python client (clients/python/forge_mailbox.py, eclipse-zenoh's
native protocol through the router's TCP endpoint, logged in with the client user), as most
users' clients will: --threads threads, each with one request in flight on the process's one
Zenoh session and client (which sends its threads' puts and consumes together unless --coalesce
off), for one phase:

- put: acknowledged puts of --body-bytes bytes, round-robin over the users given, until --seconds
  have passed;
- consume: plain consumes (the client's default: a fresh request id each, so a retry is safe),
  each aimed at a user the --pending JSON says still holds a message, until none is left or
  --seconds have passed.

The process opens its session, prints "ready" and waits for a line on stdin, so that every
process of a phase starts at once; then prints one JSON line: {"elapsed": seconds,
"latencies": [ms, ...], "per_user": {user: count}, "empty": consumes answered empty}. The
capability token comes from $FORGE_TOKEN (never argv).
"""
import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
from forge_mailbox import MailboxClient  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="Zenoh client configuration (router endpoint, client user)")
    ap.add_argument("--phase", choices=["put", "consume"], required=True)
    ap.add_argument("--users", required=True, help="comma-separated mailboxes")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--body-bytes", type=int, default=100)
    ap.add_argument("--pending", default="{}", help="consume: JSON {user: messages it holds}")
    ap.add_argument("--coalesce", choices=["on", "off"], default="on", help="off: every request alone (MailboxClient coalesce=False)")
    args = ap.parse_args()
    if args.threads < 1 or args.seconds <= 0:
        ap.error("--threads must be >= 1 and --seconds > 0")
    users = [u for u in args.users.split(",") if u]
    body = b"a" * args.body_bytes
    pending = {u: int(n) for u, n in json.loads(args.pending).items() if int(n) > 0}
    claim_lock = threading.Lock()
    latencies = []
    per_user = {}
    empty = [0]
    failures = []
    sequence = iter(range(1 << 62))
    # Consumes go round-robin over the users with messages left, as the puts went.
    order = list(pending)
    cursor = [0]

    with MailboxClient(args.config, token=os.environ["FORGE_TOKEN"], coalesce=args.coalesce == "on") as client:
        print("ready", flush=True)
        sys.stdin.readline()
        start = time.perf_counter()
        end = start + args.seconds

        def next_user():
            if args.phase == "put":
                return users[next(sequence) % len(users)]
            with claim_lock:  # claimed before the request, so no two threads count on the same message
                for _ in range(len(order)):
                    u = order[cursor[0] % len(order)]
                    cursor[0] += 1
                    if pending[u] > 0:
                        pending[u] -= 1
                        return u
            return None

        def worker() -> None:
            mine = []
            try:
                while time.perf_counter() < end:
                    user = next_user()
                    if user is None:
                        break
                    t0 = time.perf_counter()
                    if args.phase == "put":
                        client.put(user, body)
                    elif client.consume(user) is None:
                        with claim_lock:
                            empty[0] += 1
                    mine.append((time.perf_counter() - t0) * 1000.0)
                    with claim_lock:
                        per_user[user] = per_user.get(user, 0) + 1
            except Exception as e:  # reported, and the bench fails: a benchmark that hides errors measures nothing
                failures.append(repr(e))
            with claim_lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
    if failures:
        print(f"{len(failures)} thread(s) failed, first: {failures[0]}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"elapsed": elapsed, "latencies": [round(x, 3) for x in latencies], "per_user": per_user, "empty": empty[0]}), flush=True)


main()
