"""Independent client for the end-to-end tests: acknowledged puts from Python (eclipse-zenoh,
native protocol through the router's TCP endpoint).

usage: python_bulk_put.py <zenoh client config file> <key prefix> <users> <per user>
(the config names the router's endpoint and the client user's credentials)
Puts <per user> messages to each of <users> users (user-0 .. user-N), interleaved, each with a
client id `u<i>-m<j>` and a binary body that includes bytes outside UTF-8, with the capability
token of $FORGE_TOKEN. Prints one JSON line
per acknowledged put: {"user", "id", "seq", "body_hex"}; exits non-zero on the first failure.
"""
import json
import os
import sys

import zenoh


def main():
    config_file, prefix, users, per_user = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    conf = zenoh.Config.from_file(config_file)
    auth = json.dumps({"token": os.environ["FORGE_TOKEN"]})
    with zenoh.open(conf) as session:
        for j in range(per_user):
            for i in range(users):
                user = f"user-{i}"
                msg_id = f"u{i}-m{j}"
                body = f"message {j} for {user} ".encode() + bytes([0, 255, j % 256, 0xC3])
                replies = list(session.get(f"{prefix}/{user}/put?id={msg_id}", payload=body, attachment=auth, timeout=10.0))
                if len(replies) != 1 or replies[0].ok is None:
                    detail = replies[0].err.payload.to_bytes() if replies and replies[0].err else replies
                    print(f"put {msg_id} failed: {detail!r}", file=sys.stderr)
                    sys.exit(1)
                ack = json.loads(replies[0].ok.payload.to_bytes())
                print(json.dumps({"user": user, "id": ack["id"], "seq": ack["seq"], "body_hex": body.hex()}), flush=True)


main()
