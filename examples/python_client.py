"""Forge Mailbox from Python with eclipse-zenoh (pip install eclipse-zenoh==1.10.1).

usage: python examples/python_client.py [zenoh client config] [user]

The router only accepts logged-in clients. The client config (a Zenoh json5 file holding the
router endpoint and the client user's password) defaults to $FORGE_ZENOH_CONFIG, else to the one
`npm start` writes: data/local/zenoh/client.json5.

The capability token comes from $FORGE_TOKEN, else the file $FORGE_TOKEN_FILE, else the operator
token `npm start` writes (data/local/auth/admin.token).
"""
import json
import os
import sys

import zenoh

config_file = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("FORGE_ZENOH_CONFIG", "data/local/zenoh/client.json5")
user = sys.argv[2] if len(sys.argv) > 2 else "user123"
token = os.environ.get("FORGE_TOKEN") or open(os.environ.get("FORGE_TOKEN_FILE", "data/local/auth/admin.token")).read().strip()
# Every request carries the token in its attachment (never in the key or selector, which get logged).
auth = json.dumps({"token": token})

conf = zenoh.Config.from_file(config_file)
with zenoh.open(conf) as session:
    # A backend service posts a notification. Plain PUT: fire-and-forget.
    session.put(f"forge/mailbox/{user}", json.dumps({"message": "Your AI generation is ready"}), attachment=auth)

    # Acknowledged put: the reply comes once the message is committed on a majority.
    for reply in session.get(f"forge/mailbox/{user}/put?id=gen-42", payload=b'{"message": "second"}', attachment=auth, timeout=10.0):
        if reply.ok:
            print("put acknowledged:", reply.ok.payload.to_bytes().decode())
        else:
            print("put failed:", reply.err.payload.to_bytes().decode())

    # A user-facing client polls: each GET takes (consumes) the next message.
    # The replies of this example's two puts come back in order; then the mailbox is empty.
    for _ in range(3):
        for reply in session.get(f"forge/mailbox/{user}", attachment=auth, timeout=10.0):
            if reply.err:
                print("error:", reply.err.payload.to_bytes().decode())
                continue
            meta = json.loads(reply.ok.attachment.to_bytes())
            if meta["status"] == "empty":
                print("mailbox empty")
            else:
                print("got", meta["id"], reply.ok.payload.to_bytes().decode())
