"""Cross-language smoke test: a Python eclipse-zenoh client (native protocol, via the router's TCP
endpoint) uses the mailbox through the bridge. Run by test/bridge/zenoh-bridge.test.ts.

usage: python_smoke.py <zenoh client config file> <key prefix> <user>
(the config names the router's endpoint and the client user's credentials)
Leaves exactly one message (bytes 00 01 02 ff, sent by plain PUT) for the caller to consume.
"""
import json
import sys
import time

import zenoh


def fail(message):
    print(f"python smoke: {message}", file=sys.stderr)
    sys.exit(1)


def one_reply(session, selector, payload=None):
    kwargs = {"timeout": 5.0}
    if payload is not None:
        kwargs["payload"] = payload
    replies = list(session.get(selector, **kwargs))
    if len(replies) != 1:
        fail(f"{selector}: expected one reply, got {len(replies)}")
    return replies[0]


def ok_reply(session, selector, payload=None):
    reply = one_reply(session, selector, payload)
    if reply.ok is None:
        fail(f"{selector}: error reply {reply.err.payload.to_bytes()!r}")
    sample = reply.ok
    if sample.attachment is None:
        fail(f"{selector}: reply without attachment")
    return sample.payload.to_bytes(), json.loads(sample.attachment.to_bytes())


def main():
    config_file, prefix, user = sys.argv[1:4]
    conf = zenoh.Config.from_file(config_file)
    with zenoh.open(conf) as session:
        body = "from python é".encode("utf-8")
        payload, meta = ok_reply(session, f"{prefix}/{user}/put?id=py-1", body)
        if meta.get("status") != "put" or json.loads(payload).get("id") != "py-1":
            fail(f"put reply {meta} {payload!r}")

        payload, meta = ok_reply(session, f"{prefix}/{user}")
        if meta.get("status") != "message" or payload != body or meta.get("id") != "py-1":
            fail(f"consume reply {meta} {payload!r}")

        payload, meta = ok_reply(session, f"{prefix}/{user}/consume")
        if meta.get("status") != "empty" or payload != b"":
            fail(f"empty consume reply {meta} {payload!r}")

        reply = one_reply(session, f"{prefix}/{user}/frobnicate")
        if reply.err is None or json.loads(reply.err.payload.to_bytes()).get("code") != "UNKNOWN_OP":
            fail("unknown operation did not give UNKNOWN_OP")

        session.put(f"{prefix}/{user}", bytes([0, 1, 2, 255]), attachment=json.dumps({"id": "py-2"}))
        deadline = time.time() + 5
        while time.time() < deadline:
            payload, meta = ok_reply(session, f"{prefix}/{user}/len")
            if json.loads(payload).get("count") == 1:
                print("python smoke ok")
                return
            time.sleep(0.05)
        fail("plain PUT was not enqueued")


main()
