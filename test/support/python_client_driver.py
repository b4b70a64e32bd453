"""Drives clients/python/forge_mailbox.py against a real cluster. Run by test/e2e/python-client.test.ts.

usage: python_client_driver.py <zenoh client config file> <scenario> <user>
The capability token comes from $FORGE_TOKEN. Prints one JSON object per line:
- round-trip: put, consume, put + receive + ack, then len.
- long-poll: prints {"parked": true} once its session is open, then long-polls (wait 10 s) and
  prints what came and after how long.
- same-id: the same put id sent twice, then len.
- errors: the MailboxError code of a request the cluster refuses as malformed, and of one with
  a bad token.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
from forge_mailbox import MailboxClient, MailboxError  # noqa: E402


def emit(**fields):
    print(json.dumps(fields), flush=True)


def round_trip(client, user):
    put = client.put(user, "from python é".encode("utf-8"), id="rt-1", ttl_ms=60_000)
    taken = client.consume(user)
    client.put(user, b"\x00\x01\xff", id="rt-2")
    leased = client.receive(user, lease_ms=30_000)
    in_flight = client.len(user).in_flight
    leased.ack()
    emit(
        put={"id": put.id, "duplicate": put.duplicate},
        consumed={"id": taken.id, "body": taken.body.decode("utf-8"), "receipt": taken.receipt},
        received={"id": leased.id, "body_hex": leased.body.hex(), "has_receipt": leased.receipt is not None},
        in_flight_before_ack=in_flight,
        count_after=client.len(user).count,
        in_flight_after=client.len(user).in_flight,
        empty=client.consume(user) is None,
    )


def long_poll(client, user):
    client.len(user)  # the session is open and the cluster answers
    emit(parked=True)
    started = time.monotonic()
    message = client.consume(user, wait_ms=10_000)
    emit(id=None if message is None else message.id, body=None if message is None else message.body.decode(), elapsed_ms=round((time.monotonic() - started) * 1000))


def same_id(client, user):
    first = client.put(user, b"once", id="dup-1")
    second = client.put(user, b"once", id="dup-1")
    emit(first=first.duplicate, second=second.duplicate, same_seq=first.seq == second.seq, count=client.len(user).count)


def errors(client, config, user):
    out = {}
    try:
        client.consume(user, lease_ms=10**12)  # over the cluster's longest lease (a day)
    except MailboxError as e:
        out["bad_request"] = e.code
    with MailboxClient(config, token="not-a-token", request_timeout=10.0) as bad:
        try:
            bad.put(user, b"x")
        except MailboxError as e:
            out["bad_token"] = e.code
    emit(**out)


def main():
    config, scenario, user = sys.argv[1:4]
    with MailboxClient(config, token=os.environ["FORGE_TOKEN"], request_timeout=10.0) as client:
        if scenario == "round-trip":
            round_trip(client, user)
        elif scenario == "long-poll":
            long_poll(client, user)
        elif scenario == "same-id":
            same_id(client, user)
        elif scenario == "errors":
            errors(client, config, user)
        else:
            sys.exit(f"unknown scenario {scenario}")


main()
