"""An attacker (and a well-behaved client) for the router's access control, with eclipse-zenoh.
Run by test/e2e/router-acl.test.ts; prints one JSON object on stdout.

usage:
  python_acl_probe.py connect <client config file> [endpoint override] [user] [password]
      Tries to open a session with that config (user/password overriding the file's, "-" for
      none). {"opened": bool, "error"?: str}
  python_acl_probe.py impostor <client config file> <key prefix> <user>
      Session A declares a queryable on <prefix>/** and on <prefix>/@cluster/** (answering with a
      fake ack), subscribers on <prefix>/* and <prefix>/**, and a liveliness token; session B (a
      normal client) then puts with and without acknowledgment and consumes with the default query
      target. Reports what A received and what B got.
  python_acl_probe.py client <client config file> <key prefix> <user>
      Session B alone (for an attacker that runs elsewhere).
  python_acl_probe.py size <client config file> <key prefix> <user> <body bytes>
      One acknowledged put of that many bytes: {"replies": [...]} (none when the router drops it).

Requests carry the capability token of $FORGE_TOKEN (when set) in their attachment.
"""
import json
import os
import sys
import time

import zenoh


TOKEN = os.environ.get("FORGE_TOKEN")


def attachment(**fields):
    """The request attachment: the token, plus any other fields (a plain PUT's id)."""
    if TOKEN:
        fields["token"] = TOKEN
    return json.dumps(fields) if fields else None


def config_from(path, endpoint=None, user=None, password=None):
    conf = zenoh.Config.from_file(path)
    if endpoint:
        conf.insert_json5("connect/endpoints", json.dumps([endpoint]))
    if user == "-":
        conf.insert_json5("transport/auth/usrpwd", '{"user": null, "password": null}')
    elif user is not None:
        conf.insert_json5("transport/auth/usrpwd", json.dumps({"user": user, "password": password}))
    conf.insert_json5("connect/timeout_ms", "3000")
    return conf


def connect(args):
    path = args[0]
    endpoint = args[1] if len(args) > 1 and args[1] != "" else None
    user = args[2] if len(args) > 2 else None
    password = args[3] if len(args) > 3 else None
    try:
        with zenoh.open(config_from(path, endpoint, user, password)) as session:
            # A session that opened must also be usable: ask the mailbox something harmless.
            list(session.get("forge/mailbox/probe-user/len", timeout=3.0))
            print(json.dumps({"opened": True}))
    except Exception as e:  # zenoh raises ZError (a plain Exception) when no router accepts us
        print(json.dumps({"opened": False, "error": str(e)}))


def replies(session, selector, payload=None):
    out = []
    kwargs = {"timeout": 5.0}
    if TOKEN:
        kwargs["attachment"] = attachment()
    if payload is not None:
        kwargs["payload"] = payload
    for reply in session.get(selector, **kwargs):
        if reply.ok is not None:
            att = reply.ok.attachment
            out.append({
                "ok": True,
                "payload": reply.ok.payload.to_bytes().decode("utf-8", "replace"),
                "attachment": json.loads(att.to_bytes()) if att is not None else None,
            })
        else:
            out.append({"ok": False, "payload": reply.err.payload.to_bytes().decode("utf-8", "replace")})
    return out


def normal_client(path, prefix, user):
    with zenoh.open(config_from(path)) as client:
        body = b'{"message":"for the real service"}'
        acked = replies(client, f"{prefix}/{user}/put?id=acl-1", body)
        client.put(f"{prefix}/{user}", b"plain put", attachment=attachment(id="acl-2"))
        deadline = time.time() + 5
        count = None
        while time.time() < deadline:
            got = replies(client, f"{prefix}/{user}/len")
            count = json.loads(got[0]["payload"]).get("count") if got and got[0]["ok"] else None
            if count == 2:
                break
            time.sleep(0.1)
        # The second through a wait lane (a long poll): the access control lets clients query those too.
        consumed = [replies(client, f"{prefix}/{user}"), replies(client, f"{prefix}/@wait/7/{user}?wait=1000")]
        status = replies(client, f"{prefix}/@cluster/status")
        alive = list(client.liveliness().get(f"{prefix}/**", timeout=2.0))
    return {
        "put": acked,
        "len": count,
        "consumed": consumed,
        "status": status,
        "liveliness_seen": len([r for r in alive if r.ok is not None]),
    }


def size(args):
    path, prefix, user, n = args[0], args[1], args[2], int(args[3])
    with zenoh.open(config_from(path)) as session:
        print(json.dumps({"replies": replies(session, f"{prefix}/{user}/put?id=size-{n}", b"x" * n)}))


def impostor(args):
    path, prefix, user = args[0], args[1], args[2]
    seen = {"queries": [], "samples": []}

    def fake_ack(query):
        seen["queries"].append(str(query.key_expr))
        query.reply(query.key_expr, json.dumps({"id": "fake", "seq": 0, "duplicate": False}),
                    attachment=json.dumps({"status": "put"}))

    def sample(s):
        seen["samples"].append(str(s.key_expr))

    with zenoh.open(config_from(path)) as attacker:
        decls = [
            attacker.declare_queryable(f"{prefix}/**", fake_ack, complete=True),
            attacker.declare_queryable(f"{prefix}/@cluster/**", fake_ack, complete=True),
            attacker.declare_subscriber(f"{prefix}/*", sample),
            attacker.declare_subscriber(f"{prefix}/**", sample),
            attacker.liveliness().declare_token(f"{prefix}/{user}"),
        ]
        time.sleep(1.0)  # let the declarations reach (or be refused by) the router
        result = normal_client(path, prefix, user)
        time.sleep(0.5)
        print(json.dumps({"attacker": seen, **result}))
        for d in decls:
            d.undeclare()


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "connect":
        connect(args)
    elif command == "impostor":
        impostor(args)
    elif command == "client":
        print(json.dumps(normal_client(args[0], args[1], args[2])))
    elif command == "size":
        size(args)
    else:
        sys.exit(f"unknown command {command}")


main()
