"""Drives clients/python/forge_mailbox.py against a real cluster. Run by test/e2e/python-client.test.ts.

usage: python_client_driver.py <zenoh client config file> <scenario> <user>
The capability token comes from $FORGE_TOKEN. Prints one JSON object per line:
- round-trip: put, consume, put + receive + ack, then len.
- long-poll: prints {"parked": true} once its session is open, then long-polls (wait 10 s) and
  prints what came and after how long.
- same-id: the same put id sent twice, then len.
- messages: two puts, then the messages() loop acks them; the client is closed from another
  thread 1 s after the second while the loop long-polls (20 s): prints the bodies, whether the
  mailbox is then empty (seen from a second client) and how long the loop took to stop.
- kill: 300 puts (ids k-0..k-299, request timeout 30 s) one after the other, printing
  {"put": i} after each, while the test kills the leader: prints how many GETs they took in all
  (more than 300: some were retried), how many answered duplicate, and the slowest put.
- batches: a put_batch of three (one with a ttl) and its retry (all duplicates), consume_batch
  of 2, receive_batch of 5 (one left, leased, then acked), and an empty consume_batch.
- lease-control: a put with delay 1500 ms (invisible, counted delayed) then a long poll (10 s)
  that gets it, timed; a leased message touched past its first lease end; nack with delay 0 until
  it is dead-lettered (maxDeliveries 5), then redrive and consume it.
- errors: the MailboxError code of a request the cluster refuses as malformed, and of one with
  a bad token.
- together: TOGETHER_THREADS threads on one client put TOGETHER_PUTS messages each (ids
  tg-<thread>-<i>) to the mailboxes <user>-0..3, printing {"put": n} when all are in, then take
  them with plain consumes from the same mailboxes until each thread finds its mailbox empty,
  printing {"consumed": n} every 100, while the test kills the leader; prints the ids taken, how
  many requests the threads made, how many went as `@puts` / `@consumes` queries, and how many
  requests those queries and the lone ones carried in all (more than were made: some were retried).
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
from forge_mailbox import BatchMessage, MailboxClient, MailboxError, ZenohTransport  # noqa: E402

KILL_PUTS = 300
TOGETHER_THREADS = 16
TOGETHER_PUTS = 300


class CountingTransport:
    """The module's Zenoh transport, counting the GETs the client sends (its retries included):
    in all, per key of many requests (`@puts`, `@consumes`), and the requests they carried."""

    def __init__(self, inner):
        self.inner = inner
        self.gets = 0
        self.many = {"@puts": 0, "@consumes": 0}
        self.carried = 0
        self._lock = threading.Lock()

    def get(self, selector, payload, attachment, timeout, every_reply=False):
        key = selector.split("?")[0].rsplit("/", 1)[-1]
        with self._lock:
            self.gets += 1
            if key in self.many:
                self.many[key] += 1
                self.carried += int.from_bytes(payload[1:3], "little")  # the framing's u16 count
            else:
                self.carried += 1
        return self.inner.get(selector, payload, attachment, timeout, every_reply)

    def put(self, key, payload, attachment):
        self.inner.put(key, payload, attachment)

    def close(self):
        self.inner.close()


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


def messages(client, config, user):
    client.put(user, b"one")
    client.put(user, b"two")
    bodies = []
    closed_at = None
    for message in client.messages(user, lease_ms=30_000, wait_ms=20_000):
        bodies.append(message.body.decode())
        message.ack()
        if len(bodies) == 2:
            closer = threading.Timer(1.0, client.close)
            closer.start()
            closed_at = time.monotonic() + 1.0
    stop_ms = round((time.monotonic() - closed_at) * 1000)
    with MailboxClient(config, token=os.environ["FORGE_TOKEN"]) as other:
        stats = other.len(user)
    emit(bodies=bodies, count=stats.count, in_flight=stats.in_flight, stop_ms=stop_ms)


def puts_through_a_kill(config, user):
    transport = CountingTransport(ZenohTransport(config))
    duplicates = 0
    slowest = 0.0
    with MailboxClient(transport=transport, token=os.environ["FORGE_TOKEN"], request_timeout=30.0) as client:
        for i in range(KILL_PUTS):
            started = time.monotonic()
            duplicates += client.put(user, f"k{i}".encode(), id=f"k-{i}").duplicate
            slowest = max(slowest, time.monotonic() - started)
            emit(put=i)
    emit(gets=transport.gets, duplicates=duplicates, slowest_put_ms=round(slowest * 1000))


def together(config, user):
    transport = CountingTransport(ZenohTransport(config))
    lock = threading.Lock()
    taken = []
    made = [0]
    failures = []

    def in_threads(work):
        threads = [threading.Thread(target=guarded, args=(work, t)) for t in range(TOGETHER_THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise failures[0]

    def guarded(work, t):
        try:
            work(t)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            failures.append(e)

    def put_some(t):
        for i in range(TOGETHER_PUTS):
            client.put(f"{user}-{t % 4}", f"{t}:{i}".encode(), id=f"tg-{t}-{i}")
        with lock:
            made[0] += TOGETHER_PUTS

    def take_all(t):
        while True:
            message = client.consume(f"{user}-{t % 4}")
            with lock:
                made[0] += 1
                if message is None:
                    return
                taken.append(message.id)
                if len(taken) % 100 == 0:
                    emit(consumed=len(taken))

    with MailboxClient(transport=transport, token=os.environ["FORGE_TOKEN"], request_timeout=30.0) as client:
        in_threads(put_some)
        emit(put=made[0])
        in_threads(take_all)
    emit(taken=taken, requests=made[0], many=transport.many, carried=transport.carried)


def batches(client, user):
    batch = [BatchMessage(b"b1", id="b-1"), BatchMessage("b2", id="b-2", ttl_ms=60_000), BatchMessage(b"b3", id="b-3")]
    first = client.put_batch(user, batch)
    again = client.put_batch(user, batch)
    two = client.consume_batch(user, 2)
    leased = client.receive_batch(user, 5, lease_ms=30_000)
    in_flight = client.len(user).in_flight
    for m in leased:
        m.ack()
    emit(
        first=[[p.id, p.duplicate] for p in first],
        again=[[p.id, p.duplicate] for p in again],
        seqs_in_order=[p.seq for p in first] == sorted(p.seq for p in first),
        same_seqs=[p.seq for p in first] == [p.seq for p in again],
        two=[[m.id, m.body.decode()] for m in two],
        leased=[[m.id, m.receipt is not None] for m in leased],
        in_flight=in_flight,
        empty=client.consume_batch(user, 3),
        count=client.len(user).count,
    )


def lease_control(client, user):
    client.put(user, b"later", id="d-1", delay_ms=1500)
    put_at = time.monotonic()
    delayed = client.len(user).delayed
    invisible = client.consume(user, request_id=False) is None
    woken = client.consume(user, wait_ms=10_000)
    woken_ms = round((time.monotonic() - put_at) * 1000)

    client.put(user, b"held", id="t-1")
    held = client.receive(user, lease_ms=1000)
    held.touch(10_000)
    time.sleep(1.5)
    in_flight_after_first_end = client.len(user).in_flight
    held.nack(delay_ms=0)

    deliveries = 0
    while True:
        m = client.receive(user, lease_ms=30_000)
        if m is None:
            break
        deliveries = m.deliveries
        m.nack(delay_ms=0)
    dead = client.len(user).dead_letter_count
    redriven = client.redrive(user)
    back = client.consume(user)
    emit(
        delayed=delayed,
        invisible=invisible,
        woken=None if woken is None else woken.id,
        woken_ms=woken_ms,
        in_flight_after_first_end=in_flight_after_first_end,
        deliveries=deliveries,
        dead=dead,
        redriven=redriven,
        back=None if back is None else [back.id, back.deliveries],
    )


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
    if scenario == "kill":
        return puts_through_a_kill(config, user)
    if scenario == "together":
        return together(config, user)
    with MailboxClient(config, token=os.environ["FORGE_TOKEN"], request_timeout=10.0) as client:
        if scenario == "round-trip":
            round_trip(client, user)
        elif scenario == "long-poll":
            long_poll(client, user)
        elif scenario == "same-id":
            same_id(client, user)
        elif scenario == "messages":
            messages(client, config, user)
        elif scenario == "batches":
            batches(client, user)
        elif scenario == "lease-control":
            lease_control(client, user)
        elif scenario == "errors":
            errors(client, config, user)
        else:
            sys.exit(f"unknown scenario {scenario}")


main()
