"""Forge Mailbox from Python with the client module clients/python/forge_mailbox.py
(on eclipse-zenoh: pip install eclipse-zenoh==1.10.1).

usage: python examples/python_client.py [zenoh client config] [user]

The router only accepts logged-in clients. The client config (a Zenoh json5 file holding the
router endpoint and the client user's password) defaults to $FORGE_ZENOH_CONFIG, else to the one
`npm start` writes: data/local/zenoh/client.json5.

The capability token comes from $FORGE_TOKEN, else the file $FORGE_TOKEN_FILE, else the operator
token `npm start` writes (data/local/auth/admin.token; a token file must be private: chmod 600).
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
from forge_mailbox import BatchMessage, MailboxClient, MailboxError  # noqa: E402

config_file = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("FORGE_ZENOH_CONFIG", "data/local/zenoh/client.json5")
user = sys.argv[2] if len(sys.argv) > 2 else "user123"
token = os.environ.get("FORGE_TOKEN")
credentials = {"token": token} if token else {"token_file": os.environ.get("FORGE_TOKEN_FILE", "data/local/auth/admin.token")}

# Every request carries the token in its attachment (never in the key or selector, which get logged).
with MailboxClient(config_file, **credentials) as client:
    # A backend service posts a notification. Plain PUT: fire-and-forget.
    client.publish(user, json.dumps({"message": "Your AI generation is ready"}))

    # Acknowledged put: returns once the message is committed on a majority. The id makes
    # retries safe (the client retries NOT_LEADER, TIMEOUT, ... with it; a uuid when not given).
    try:
        put = client.put(user, b'{"message": "second"}', id="gen-42")
        print("put acknowledged:", json.dumps({"id": put.id, "seq": put.seq, "duplicate": put.duplicate}, separators=(",", ":")))
    except MailboxError as e:
        print("put failed:", e.code, e.message)

    # A user-facing client polls: each consume takes the next message, None when the mailbox is empty.
    first = client.consume(user)
    print("got", first.id, first.body.decode())
    # At-least-once: a leased consume must be acked, or the message comes back when the lease ends.
    second = client.receive(user, lease_ms=30_000)
    print("got", second.id, second.body.decode())
    second.ack()
    # A long poll: waits up to 1 s for a message (on a wait lane), then says the mailbox is empty.
    if client.consume(user, wait_ms=1000) is None:
        print("mailbox empty")

    # Batches: many messages in one log entry, all or none; up to N taken in one entry, in order.
    client.put_batch(user, [b"one", b"two", BatchMessage(b"three", id="batch-3")])
    print("batch consumed:", " ".join(m.body.decode() for m in client.consume_batch(user, 10)))

    # A worker's loop: leased messages as they come, long-polling.
    #   for message in client.messages(user, lease_ms=30_000, wait_ms=20_000):
    #       handle(message.body)
    #       message.ack()
