"""A Python eclipse-zenoh client (native protocol, logged in to the router as the client user)
sending mailbox requests with given capability tokens. Run by test/e2e/token-auth.test.ts.

usage: python_token_probe.py <zenoh client config file> <requests.json>
requests.json: [{"name", "selector", "token"?: str, "payload"?: str, "put"?: bool}, ...] in order.
A request with "put": true is a plain (fire-and-forget) PUT on the selector's key.
Prints one JSON object: {name: {"ok": bool, "status"?: str, "code"?: str, "payload": str}}.
"""
import json
import sys
import time

import zenoh


def attachment(token):
    return json.dumps({"token": token}) if token is not None else None


def main():
    config_file, requests_file = sys.argv[1], sys.argv[2]
    with open(requests_file) as f:
        requests = json.load(f)
    results = {}
    with zenoh.open(zenoh.Config.from_file(config_file)) as session:
        for r in requests:
            att = attachment(r.get("token"))
            if r.get("put"):
                session.put(r["selector"], r.get("payload", ""), attachment=att)
                time.sleep(0.3)
                results[r["name"]] = {"ok": True, "status": "sent", "payload": ""}
                continue
            kwargs = {"timeout": 10.0}
            if att is not None:
                kwargs["attachment"] = att
            if "payload" in r:
                kwargs["payload"] = r["payload"].encode()
            replies = list(session.get(r["selector"], **kwargs))
            if len(replies) != 1:
                results[r["name"]] = {"ok": False, "code": f"{len(replies)} replies", "payload": ""}
                continue
            reply = replies[0]
            if reply.ok is not None:
                meta = json.loads(reply.ok.attachment.to_bytes())
                results[r["name"]] = {"ok": True, "status": meta["status"], "payload": reply.ok.payload.to_bytes().decode("utf-8", "replace")}
            else:
                body = json.loads(reply.err.payload.to_bytes())
                results[r["name"]] = {"ok": False, "code": body["code"], "payload": body["message"]}
    print(json.dumps(results))


main()
