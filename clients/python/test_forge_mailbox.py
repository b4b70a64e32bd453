"""Unit tests of forge_mailbox's request and retry policy, on a scripted fake transport and a fake
clock (no Zenoh). Run: .venv/bin/python -m unittest discover clients/python
(test/clients/python-unit.test.ts runs them under `npm test`)."""
import json
import os
import stat
import struct
import tempfile
import threading
import time
import unittest
from urllib.parse import parse_qsl

from forge_mailbox import BatchMessage, Coalescing, MailboxClient, MailboxError, Reply


def ok(status, payload=b"", **meta):
    return [Reply(True, payload if isinstance(payload, bytes) else json.dumps(payload).encode(), json.dumps({"status": status, **meta}).encode())]


def err(code, message="m", leader=None):
    body = {"code": code, "message": message}
    if leader:
        body["leader"] = leader
    return [Reply(False, json.dumps(body).encode())]


def part(status, payload, i, n, **meta):
    """One reply of a batch: its place i of n in the attachment."""
    return Reply(True, payload if isinstance(payload, bytes) else json.dumps(payload).encode(), json.dumps({"status": status, "i": i, "n": n, **meta}).encode())


class Unframe:
    """Reads a request payload the client framed (src/bridge/batch-framing.ts), little-endian."""

    def __init__(self, payload):
        self.payload, self.at = payload, 0
        version, self.count = self.read("<BH")
        assert version == 1

    def read(self, fmt):
        values = struct.unpack_from(fmt, self.payload, self.at)
        self.at += struct.calcsize(fmt)
        return values

    def one(self, fmt):
        return self.read(fmt)[0]

    def text(self):
        n = self.one("<H")
        self.at += n
        return self.payload[self.at - n : self.at].decode()

    def blob(self):
        n = self.one("<I")
        self.at += n
        return self.payload[self.at - n : self.at]

    def items(self, read_one):
        out = [read_one(self.one("<B")) for _ in range(self.count)]
        assert self.at == len(self.payload), "no trailing bytes"
        return out


def unframe(payload):
    """A batch put payload back into (id, ttl, body) tuples."""
    u = Unframe(payload)
    return u.items(lambda flags: (u.text() if flags & 1 else None, u.one("<d") if flags & 2 else None, u.blob()))


NO_REPLY = []
MESSAGE_META = {"id": "m1", "seq": 7, "deliveries": 1, "enqueuedAt": 1, "expiresAt": 2}


class FakeTransport:
    """Answers each GET with the next scripted reply list and records what was asked."""

    def __init__(self, clock, *script):
        self.clock = clock
        self.script = list(script)
        self.calls = []  # (key, params dict, payload, attachment, timeout)
        self.every_reply = []  # per GET: whether it asked for every reply (a batch)

    def get(self, selector, payload, attachment, timeout, every_reply=False):
        key, _, query = selector.partition("?")
        self.calls.append((key, dict(parse_qsl(query.replace(";", "&"), keep_blank_values=True)), payload, attachment, timeout))
        self.every_reply.append(every_reply)
        self.clock.now += 0.01
        if not self.script:
            raise AssertionError(f"unexpected request {selector}")
        return self.script.pop(0)

    def put(self, key, payload, attachment):
        self.calls.append((key, None, payload, attachment, None))

    def close(self):
        pass


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def client(*script, timeout=10.0, token="tok"):
    clock = FakeClock()
    transport = FakeTransport(clock, *script)
    return MailboxClient(transport=transport, token=token, request_timeout=timeout, sleep=clock.sleep, clock=clock), transport, clock


class PutTest(unittest.TestCase):
    def test_a_put_without_id_gets_a_uuid_and_every_retry_sends_the_same_id(self):
        c, t, clock = client(err("NOT_LEADER", leader="n2"), err("TIMEOUT"), NO_REPLY, err("BUSY"), ok("put", {"id": "x", "seq": 3, "duplicate": True}))
        result = c.put("alice", b"body")
        self.assertEqual((result.seq, result.duplicate), (3, True))
        ids = {call[1]["id"] for call in t.calls}
        self.assertEqual(len(t.calls), 5)
        self.assertEqual(len(ids), 1)
        self.assertRegex(ids.pop(), r"^[0-9a-f-]{36}$")
        self.assertTrue(all(call[2] == b"body" for call in t.calls))
        self.assertTrue(all(json.loads(call[3]) == {"token": "tok"} for call in t.calls))
        self.assertEqual(len(clock.sleeps), 4)
        self.assertTrue(all(0 < s <= 0.5 for s in clock.sleeps))

    def test_a_given_id_and_ttl_are_sent(self):
        c, t, _ = client(ok("put", {"id": "gen-42", "seq": 1, "duplicate": False}))
        c.put("alice", "text", id="gen-42", ttl_ms=5000)
        self.assertEqual(t.calls[0][0], "forge/mailbox/alice/put")
        self.assertEqual(t.calls[0][1], {"id": "gen-42", "ttl": "5000"})
        self.assertEqual(t.calls[0][2], b"text")

    def test_retries_stop_at_the_request_deadline_with_the_last_error(self):
        c, t, clock = client(*([err("UNAVAILABLE", "no quorum")] * 1000), timeout=2.0)
        with self.assertRaises(MailboxError) as caught:
            c.put("alice", b"x")
        self.assertEqual(caught.exception.code, "UNAVAILABLE")
        self.assertLessEqual(clock.now, 102.0 + 0.01)
        self.assertGreater(len(t.calls), 3)
        # each attempt's query timeout is what is left of the deadline
        self.assertTrue(all(0 < call[4] <= 2.0 for call in t.calls))
        self.assertLess(t.calls[-1][4], t.calls[0][4])

    def test_an_attempt_is_bounded_by_the_attempt_timeout_and_an_unanswered_one_is_sent_again(self):
        c, t, _ = client([Reply(False, b"Timeout")], ok("put", {"id": "x", "seq": 1, "duplicate": True}), timeout=30.0)
        self.assertTrue(c.put("alice", b"x").duplicate)
        # The attempt's end is kept on the monotonic clock (as threads sending together need): a few µs off.
        self.assertAlmostEqual(t.calls[0][4], 6.0, delta=0.001)
        self.assertEqual(t.calls[0][1]["id"], t.calls[1][1]["id"])

    def test_non_retryable_errors_are_raised_at_once_typed(self):
        for code in ("BAD_REQUEST", "UNAUTHORIZED", "FORBIDDEN", "MAILBOX_FULL", "QUOTA_EXCEEDED", "TOO_LARGE", "INTERNAL"):
            c, t, _ = client(err(code, "why", leader=None))
            with self.assertRaises(MailboxError) as caught:
                c.put("alice", b"x")
            self.assertEqual((caught.exception.code, caught.exception.message), (code, "why"))
            self.assertEqual(len(t.calls), 1, code)

    def test_the_leader_hint_is_kept(self):
        c, _, _ = client(*([err("NOT_LEADER", leader="n3")] * 1000), timeout=0.5)
        with self.assertRaises(MailboxError) as caught:
            c.put("alice", b"x")
        self.assertEqual(caught.exception.leader, "n3")

    def test_bad_input_is_refused_before_sending(self):
        c, t, _ = client()
        for call in (lambda: c.put("a/put", b"x"), lambda: c.put("..", b"x"), lambda: c.put("bob", b"x", id="x;lease=1"), lambda: c.put("bob", b"x", ttl_ms=0)):
            with self.assertRaises(MailboxError):
                call()
        self.assertEqual(t.calls, [])


class PublishTest(unittest.TestCase):
    def test_a_plain_put_carries_token_id_and_ttl_in_its_attachment(self):
        c, t, _ = client()
        c.publish("alice", "hi", id="p-1", ttl_ms=60_000)
        c.publish("alice", b"\x00")
        self.assertEqual(t.calls[0][0], "forge/mailbox/alice")
        self.assertEqual(json.loads(t.calls[0][3]), {"token": "tok", "id": "p-1", "ttl": 60_000})
        self.assertEqual(json.loads(t.calls[1][3]), {"token": "tok"})
        self.assertEqual(t.calls[1][2], b"\x00")


class ConsumeTest(unittest.TestCase):
    def test_a_plain_consume_carries_a_request_id_that_retries_repeat(self):
        c, t, _ = client(err("LEADERSHIP_LOST"), NO_REPLY, ok("message", b"hi", **MESSAGE_META))
        m = c.consume("alice")
        self.assertEqual((m.id, m.body, m.receipt), ("m1", b"hi", None))
        self.assertEqual([call[0] for call in t.calls], ["forge/mailbox/alice/consume"] * 3)
        self.assertEqual(len({call[1]["rid"] for call in t.calls}), 1)

    def test_without_a_request_id_an_outcome_unknown_error_is_not_retried(self):
        for script in (err("TIMEOUT"), err("LEADERSHIP_LOST"), NO_REPLY):
            c, t, _ = client(script, ok("empty"))
            with self.assertRaises(MailboxError):
                c.consume("alice", request_id=False)
            self.assertEqual(len(t.calls), 1)
            self.assertNotIn("rid", t.calls[0][1])

    def test_without_a_request_id_a_refusal_that_changed_nothing_is_retried(self):
        c, t, _ = client(err("NOT_LEADER"), err("BUSY"), ok("empty"))
        self.assertIsNone(c.consume("alice", request_id=False))
        self.assertEqual(len(t.calls), 3)

    def test_a_leased_receive_retries_after_an_unknown_outcome(self):
        c, t, _ = client(err("TIMEOUT"), ok("message", b"x", receipt="r1", leaseExpiresAt=9, **MESSAGE_META))
        m = c.receive("alice", lease_ms=5000)
        self.assertEqual((m.receipt, m.lease_expires_at), ("r1", 9))
        self.assertEqual(t.calls[1][1]["lease"], "5000")
        self.assertTrue(all("rid" not in call[1] for call in t.calls), "an idle leased poll writes nothing")

    def test_a_long_poll_goes_to_a_wait_lane_with_the_wait_on_top_of_the_timeouts(self):
        c, t, _ = client(ok("empty"), timeout=10.0)
        self.assertIsNone(c.consume("alice", wait_ms=20_000))
        key, params, _, _, timeout = t.calls[0]
        self.assertRegex(key, r"^forge/mailbox/@wait/([0-9]|1[0-5])/alice$")
        self.assertEqual(params["wait"], "20000")
        self.assertAlmostEqual(timeout, 26.0, places=3)  # the wait, and one attempt's timeout on top

    def test_a_long_poll_retry_waits_only_what_is_left_of_the_wait(self):
        c, t, clock = client(err("NOT_LEADER"), ok("empty"))
        c.consume("alice", wait_ms=20_000)
        self.assertLess(int(t.calls[1][1]["wait"]), 20_000)
        self.assertEqual(t.calls[0][1]["rid"], t.calls[1][1]["rid"])

    def test_dead_letter_is_a_flag(self):
        c, t, _ = client(ok("empty"))
        c.consume("alice", dead_letter=True)
        self.assertEqual(t.calls[0][1]["dlq"], "1")

    def test_an_ok_reply_wins_over_a_stale_leader_error(self):
        c, _, _ = client(err("NOT_LEADER") + ok("message", b"x", **MESSAGE_META))
        self.assertEqual(c.consume("alice").id, "m1")

    def test_zenoh_timeout_text_is_timeout(self):
        c, _, _ = client(*([[Reply(False, b"Timeout")]] * 1000), timeout=0.3)
        with self.assertRaises(MailboxError) as caught:
            c.consume("alice", request_id=False)
        self.assertEqual(caught.exception.code, "TIMEOUT")

    def test_a_malformed_reply_is_bad_reply(self):
        c, _, _ = client([Reply(True, b"x", b"not json")])
        with self.assertRaises(MailboxError) as caught:
            c.consume("alice")
        self.assertEqual(caught.exception.code, "BAD_REPLY")


class SettleTest(unittest.TestCase):
    def test_ack_retries_and_an_unknown_receipt_after_an_unknown_outcome_says_so(self):
        c, t, _ = client(err("TIMEOUT"), err("UNKNOWN_RECEIPT", "receipt r1 is not out"))
        with self.assertRaises(MailboxError) as caught:
            c.ack("alice", "r1")
        self.assertEqual(caught.exception.code, "UNKNOWN_RECEIPT")
        self.assertIn("may have settled", caught.exception.message)
        self.assertEqual([call[1] for call in t.calls], [{"receipt": "r1"}] * 2)

    def test_an_unknown_receipt_at_first_try_is_plain(self):
        c, _, _ = client(err("UNKNOWN_RECEIPT", "receipt r1 is not out"))
        with self.assertRaises(MailboxError) as caught:
            c.nack("alice", "r1")
        self.assertEqual(caught.exception.message, "receipt r1 is not out")

    def test_message_ack_and_nack_use_its_receipt(self):
        c, t, _ = client(ok("message", b"x", receipt="r9", **MESSAGE_META), ok("ok", {}))
        c.receive("alice").ack()
        self.assertEqual(t.calls[1][:2], ("forge/mailbox/alice/ack", {"receipt": "r9"}))
        c2, _, _ = client(ok("message", b"x", **MESSAGE_META))
        with self.assertRaises(MailboxError):
            c2.consume("alice").nack()


class ReadsTest(unittest.TestCase):
    def test_len_peek_purge(self):
        stats = {"count": 2, "bytes": 10, "oldestAgeMs": 5, "inFlight": 1, "deadLetterCount": 0}
        c, t, _ = client(ok("stats", stats), ok("empty"), ok("purged", {"count": 2}))
        self.assertEqual(c.len("alice").in_flight, 1)
        self.assertIsNone(c.peek("alice", dead_letter=True))
        self.assertEqual(c.purge("alice"), 2)
        self.assertEqual([call[0] for call in t.calls], ["forge/mailbox/alice/len", "forge/mailbox/alice/peek", "forge/mailbox/alice/purge"])


class MessagesTest(unittest.TestCase):
    def test_yields_leased_messages_skips_empty_polls_and_stops_when_closed(self):
        c, t, _ = client(ok("empty"), ok("message", b"a", receipt="r1", **MESSAGE_META), *([err("UNAVAILABLE")] * 100), ok("message", b"b", receipt="r2", **MESSAGE_META), timeout=0.2)
        got = []
        for m in c.messages("alice", lease_ms=1000, wait_ms=500):
            got.append(m.body)
            if len(got) == 2:
                c.close()
        self.assertEqual(got, [b"a", b"b"])
        self.assertTrue(all(call[1]["lease"] == "1000" for call in t.calls))

    def test_a_non_retryable_error_ends_it(self):
        c, _, _ = client(err("FORBIDDEN"))
        with self.assertRaises(MailboxError):
            next(c.messages("alice"))


class BatchTest(unittest.TestCase):
    def test_put_batch_frames_every_message_with_an_id_and_a_retry_sends_the_same_bytes(self):
        results = [part("put", {"id": f"m{i}", "seq": 10 + i, "duplicate": i == 1}, i + 1, 3) for i in range(3)]
        c, t, _ = client(err("TIMEOUT"), list(reversed(results)))
        got = c.put_batch("alice", [b"one", BatchMessage("two", id="given", ttl_ms=60_000), BatchMessage(b"three")])
        self.assertEqual([(r.id, r.seq, r.duplicate) for r in got], [("m0", 10, False), ("m1", 11, True), ("m2", 12, False)], "in the batch's order")
        self.assertEqual([call[0] for call in t.calls], ["forge/mailbox/alice/put-batch"] * 2)
        self.assertEqual(t.every_reply, [True, True])
        self.assertEqual(t.calls[0][2], t.calls[1][2], "the retry carries the same ids")
        framed = unframe(t.calls[0][2])
        self.assertEqual([f[2] for f in framed], [b"one", b"two", b"three"])
        self.assertEqual(framed[1][:2], ("given", 60_000.0))
        self.assertTrue(all(f[0] for f in framed), "every message has an id")
        self.assertEqual(len({f[0] for f in framed}), 3)

    def test_put_batch_missing_replies_or_bad_input_are_refused(self):
        c, _, _ = client([part("put", {"id": "a", "seq": 1, "duplicate": False}, 1, 2)])
        with self.assertRaises(MailboxError) as caught:
            c.put_batch("alice", [b"a", b"b"])
        self.assertEqual(caught.exception.code, "BAD_REPLY")
        c, t, _ = client()
        for bad in ([], [BatchMessage(b"x", id="a b")], [BatchMessage(b"x", ttl_ms=0)]):
            with self.assertRaises(MailboxError):
                c.put_batch("alice", bad)
        self.assertEqual(t.calls, [])

    def test_consume_batch_asks_for_max_with_a_request_id_and_gathers_the_replies_in_order(self):
        msgs = [part("message", b"b%d" % i, i, 2, **{**MESSAGE_META, "id": f"m{i}", "seq": i}) for i in (2, 1)]
        c, t, _ = client(err("LEADERSHIP_LOST"), msgs, ok("empty"))
        got = c.consume_batch("alice", 4)
        self.assertEqual([(m.id, m.body) for m in got], [("m1", b"b1"), ("m2", b"b2")])
        self.assertEqual([call[1]["max"] for call in t.calls], ["4", "4"])
        self.assertEqual(t.calls[0][1]["rid"], t.calls[1][1]["rid"], "a retry repeats the request id")
        self.assertEqual(c.consume_batch("alice", 4, request_id=False), [])
        self.assertTrue(all(t.every_reply))

    def test_receive_batch_long_polls_on_a_wait_lane_and_each_message_has_its_receipt(self):
        msgs = [part("message", b"x", i, 2, receipt=f"r{i}", leaseExpiresAt=9, **MESSAGE_META) for i in (1, 2)]
        c, t, _ = client(msgs, ok("ok", {}))
        got = c.receive_batch("alice", 2, lease_ms=5000, wait_ms=20_000)
        key, params, _, _, _ = t.calls[0]
        self.assertRegex(key, r"^forge/mailbox/@wait/([0-9]|1[0-5])/alice$")
        self.assertEqual((params["max"], params["lease"], params["wait"]), ("2", "5000", "20000"))
        self.assertEqual([m.receipt for m in got], ["r1", "r2"])
        got[1].ack()
        self.assertEqual(t.calls[1][:2], ("forge/mailbox/alice/ack", {"receipt": "r2"}))

    def test_a_batch_with_a_missing_part_is_bad_reply(self):
        c, _, _ = client([part("message", b"x", 1, 3, **MESSAGE_META), part("message", b"y", 3, 3, **MESSAGE_META)])
        with self.assertRaises(MailboxError) as caught:
            c.consume_batch("alice", 3, request_id=False)
        self.assertEqual(caught.exception.code, "BAD_REPLY")


class LeaseControlTest(unittest.TestCase):
    def test_put_delay_nack_delay_touch_redrive_and_delayed_stats(self):
        stats = {"count": 0, "bytes": 0, "oldestAgeMs": 0, "inFlight": 0, "deadLetterCount": 0, "delayed": 2}
        c, t, _ = client(
            ok("put", {"id": "m1", "seq": 1, "duplicate": False}),
            ok("ok", {}),
            ok("ok", {}),
            ok("ok", {}),
            err("TIMEOUT"),
            ok("redriven", {"count": 3}),
            ok("stats", stats),
        )
        c.put("alice", b"later", id="m1", delay_ms=1500)
        c.nack("alice", "r1", delay_ms=0)
        c.nack("alice", "r2", delay_ms=2000)
        c.touch("alice", "r3", 60_000)
        self.assertEqual(c.redrive("alice", max=5), 3)
        self.assertEqual(c.len("alice").delayed, 2)
        self.assertEqual(
            [call[:2] for call in t.calls],
            [
                ("forge/mailbox/alice/put", {"id": "m1", "delay": "1500"}),
                ("forge/mailbox/alice/nack", {"receipt": "r1", "delay": "0"}),
                ("forge/mailbox/alice/nack", {"receipt": "r2", "delay": "2000"}),
                ("forge/mailbox/alice/touch", {"receipt": "r3", "lease": "60000"}),
                ("forge/mailbox/alice/redrive", {"max": "5"}),
                ("forge/mailbox/alice/redrive", {"max": "5"}),
                ("forge/mailbox/alice/len", {}),
            ],
        )

    def test_message_touch_and_nack_with_a_delay_use_its_receipt(self):
        c, t, _ = client(ok("message", b"x", receipt="r9", **MESSAGE_META), ok("ok", {}), ok("ok", {}))
        m = c.receive("alice")
        m.touch(10_000)
        m.nack(delay_ms=500)
        self.assertEqual([call[:2] for call in t.calls[1:]], [("forge/mailbox/alice/touch", {"receipt": "r9", "lease": "10000"}), ("forge/mailbox/alice/nack", {"receipt": "r9", "delay": "500"})])

    def test_bad_durations_are_refused_before_sending(self):
        c, t, _ = client()
        for call in (lambda: c.put("alice", b"x", delay_ms=0), lambda: c.touch("alice", "r", 0), lambda: c.nack("alice", "r", delay_ms=-1), lambda: c.redrive("alice", max=0)):
            with self.assertRaises(MailboxError):
                call()
        self.assertEqual(t.calls, [])


def read_puts(payload):
    """A `@puts` payload back into (user, id, ttl, delay, body) tuples."""
    u = Unframe(payload)
    return u.items(lambda flags: (u.text(), u.text() if flags & 1 else None, u.one("<d") if flags & 2 else None, u.one("<d") if flags & 4 else None, u.blob()))


def read_consumes(payload):
    """A `@consumes` payload back into (user, rid, lease, dead_letter) tuples."""
    u = Unframe(payload)
    return u.items(lambda flags: (u.text(), u.text() if flags & 1 else None, u.one("<d") if flags & 2 else None, bool(flags & 4)))


def consumes_reply(*outcomes):
    """A `consumes` reply (src/bridge/reply-format.ts): None (empty), ("refused", code, message), or a message dict."""
    out = [struct.pack("<BH", 1, len(outcomes))]
    for o in outcomes:
        if o is None:
            out.append(b"\x00")
        elif isinstance(o, tuple):
            code, message = o[1].encode(), o[2].encode()
            out.append(b"\x02" + struct.pack("<H", len(code)) + code + struct.pack("<H", len(message)) + message)
        else:
            msg_id = o["id"].encode()
            flags = (1 if "receipt" in o else 0) | (2 if "lease_end" in o else 0)
            out.append(struct.pack("<BBH", 1, flags, len(msg_id)) + msg_id + struct.pack("<dddd", o["seq"], 1, 10, 20))
            if "receipt" in o:
                out.append(struct.pack("<H", len(o["receipt"])) + o["receipt"].encode())
            if "lease_end" in o:
                out.append(struct.pack("<d", o["lease_end"]))
            out.append(struct.pack("<I", len(o["body"])) + o["body"])
    return b"".join(out)


class HeldTransport:
    """Holds its first GET until released, so that the requests made meanwhile queue behind it;
    answers every GET with answer(key, params, payload) and records it. Thread-safe."""

    def __init__(self, answer):
        self.answer = answer
        self.release = threading.Event()
        self.calls = []  # (key, params, payload)
        self._lock = threading.Lock()

    def get(self, selector, payload, attachment, timeout, every_reply=False):
        key, _, query = selector.partition("?")
        with self._lock:
            self.calls.append((key, dict(parse_qsl(query.replace(";", "&"))), payload))
            first = len(self.calls) == 1
        if first:
            assert self.release.wait(10), "never released"
        return self.answer(key, dict(parse_qsl(query.replace(";", "&"))), payload)

    def put(self, key, payload, attachment):
        raise AssertionError("no publish here")

    def close(self):
        pass


def put_reply(key, params, payload):
    """A cluster that puts everything: seq per put, from its id (`p-<n>`)."""
    if key.endswith("/@puts"):
        return ok("puts", [{"id": m[1], "seq": int(m[1].split("-")[1]), "duplicate": False} for m in read_puts(payload)])
    return ok("put", {"id": params["id"], "seq": int(params["id"].split("-")[1]), "duplicate": False})


class TogetherTest(unittest.TestCase):
    """Puts and consumes of several threads sent together (Coalescing), on real threads."""

    def run_behind_one(self, transport, requests, in_flight=1):
        """Starts the first request, then the others once it is in flight, and waits until all
        queue behind it (max_in_flight 1), then releases it: returns each one's value or error."""
        c = MailboxClient(transport=transport, token="tok", request_timeout=5.0, coalesce=Coalescing(max_in_flight=in_flight))
        results = [None] * len(requests)

        def run(i):
            try:
                results[i] = requests[i](c)
            except MailboxError as e:
                results[i] = e

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
        threads[0].start()
        until(lambda: len(transport.calls) == 1)
        for t in threads[1:]:
            t.start()
        trains = c._puts if transport.calls[0][0].endswith("/put") else c._consumes
        until(lambda: len(trains._queue) == len(requests) - 1)
        transport.release.set()
        for t in threads:
            t.join(10)
        return results

    def test_puts_made_while_one_is_in_flight_go_out_as_one_query_each_with_its_own_result(self):
        t = HeldTransport(put_reply)
        puts = [lambda c, i=i: c.put(f"u{i % 3}", f"b{i}".encode(), id=f"p-{i}", ttl_ms=5000 if i == 2 else None) for i in range(6)]
        results = self.run_behind_one(t, puts)
        self.assertEqual([r.seq for r in results], list(range(6)))
        self.assertEqual([k for k, _, _ in t.calls], ["forge/mailbox/u0/put", "forge/mailbox/@puts"])
        sent = read_puts(t.calls[1][2])
        self.assertEqual(sorted(m[1] for m in sent), [f"p-{i}" for i in range(1, 6)])
        self.assertIn(("u2", "p-2", 5000.0, None, b"b2"), sent)

    def test_a_refused_put_is_refused_alone_and_a_retryable_refusal_is_retried_by_its_own_thread(self):
        def answer(key, params, payload):
            if not key.endswith("/@puts"):
                return put_reply(key, params, payload)
            entries = []
            for user, msg_id, _, _, _ in read_puts(payload):
                if user == "full":
                    entries.append({"code": "MAILBOX_FULL", "message": "full"})
                elif msg_id == "p-2" and not any(k.endswith("/put") and p.get("id") == "p-2" for k, p, _ in t.calls):
                    entries.append({"code": "NOT_LEADER", "message": "stale"})
                else:
                    entries.append({"id": msg_id, "seq": int(msg_id.split("-")[1]), "duplicate": False})
            return ok("puts", entries)

        t = HeldTransport(answer)
        results = self.run_behind_one(t, [lambda c: c.put("a", b"0", id="p-0"), lambda c: c.put("full", b"1", id="p-1"), lambda c: c.put("b", b"2", id="p-2"), lambda c: c.put("c", b"3", id="p-3")])
        self.assertEqual(results[0].seq, 0)
        self.assertEqual((results[1].code, results[1].message), ("MAILBOX_FULL", "full"))
        self.assertEqual((results[2].seq, results[3].seq), (2, 3))
        # p-2 was sent again, alone, with its id: nothing else was
        self.assertEqual([(k, p.get("id")) for k, p, _ in t.calls[2:]], [("forge/mailbox/b/put", "p-2")])

    def test_an_ok_outcome_wins_over_a_stale_ex_leaders_refusal(self):
        def answer(key, params, payload):
            if not key.endswith("/@puts"):
                return put_reply(key, params, payload)
            stale = ok("puts", [{"code": "NOT_LEADER", "message": "stale"} for _ in read_puts(payload)])
            return stale + put_reply(key, params, payload)

        results = self.run_behind_one(HeldTransport(answer), [lambda c, i=i: c.put("a", b"x", id=f"p-{i}") for i in range(3)])
        self.assertEqual([r.seq for r in results], [0, 1, 2])

    def test_a_query_refused_whole_as_too_large_is_sent_again_one_put_at_a_time(self):
        def answer(key, params, payload):
            return err("TOO_LARGE", "over maxBodyBytes") if key.endswith("/@puts") else put_reply(key, params, payload)

        t = HeldTransport(answer)
        results = self.run_behind_one(t, [lambda c, i=i: c.put("a", b"x", id=f"p-{i}") for i in range(4)])
        self.assertEqual([r.seq for r in results], [0, 1, 2, 3])
        self.assertEqual(sorted(p["id"] for k, p, _ in t.calls if k.endswith("/put")), ["p-0", "p-1", "p-2", "p-3"])

    def test_a_whole_query_error_reaches_every_member_and_each_retries_with_its_own_id(self):
        refused = []

        def answer(key, params, payload):
            if key.endswith("/@puts") and not refused:
                refused.append(len(read_puts(payload)))
                return err("UNAVAILABLE", "no quorum")
            return put_reply(key, params, payload)

        t = HeldTransport(answer)
        results = self.run_behind_one(t, [lambda c, i=i: c.put("a", b"x", id=f"p-{i}") for i in range(5)])
        self.assertEqual([r.seq for r in results], [0, 1, 2, 3, 4])
        self.assertEqual(refused, [4])
        resent = [p["id"] for k, p, _ in t.calls[2:] if k.endswith("/put")] + [m[1] for k, _, b in t.calls[2:] if k.endswith("/@puts") for m in read_puts(b)]
        self.assertEqual(sorted(resent), ["p-1", "p-2", "p-3", "p-4"])

    def test_consumes_go_together_and_each_gets_its_message_empty_or_refusal(self):
        def answer(key, params, payload):
            if key.endswith("/@consumes"):
                sent = read_consumes(payload)
                self.assertEqual(sorted(u for u, _, _, _ in sent), ["a", "b", "c", "d"])
                self.assertTrue(all(rid is not None for user, rid, _, _ in sent if user != "d"))
                outcomes = []
                for user, rid, lease, dlq in sent:
                    if user == "a":
                        outcomes.append({"id": "m-a", "seq": 4, "body": b"\x00\xffa"})
                    elif user == "b":
                        outcomes.append(None)
                    elif user == "c":
                        outcomes.append(("refused", "FORBIDDEN", "not yours"))
                    else:
                        self.assertEqual((rid, lease, dlq), (None, 30000.0, True))
                        outcomes.append({"id": "m-d", "seq": 9, "body": b"d", "receipt": "r-1", "lease_end": 99})
                return [Reply(True, consumes_reply(*outcomes), json.dumps({"status": "consumes"}).encode())]
            return ok("empty")

        t = HeldTransport(answer)
        results = self.run_behind_one(
            t,
            [
                lambda c: c.consume("first"),
                lambda c: c.consume("a"),
                lambda c: c.consume("b"),
                lambda c: c.consume("c"),
                lambda c: c.consume("d", lease_ms=30_000, dead_letter=True),
            ],
        )
        self.assertIsNone(results[0])
        self.assertEqual((results[1].user, results[1].id, results[1].seq, results[1].body, results[1].receipt), ("a", "m-a", 4, b"\x00\xffa", None))
        self.assertIsNone(results[2])
        self.assertEqual(results[3].code, "FORBIDDEN")
        self.assertEqual((results[4].user, results[4].receipt, results[4].lease_expires_at), ("d", "r-1", 99))

    def test_a_malformed_consumes_reply_is_bad_reply_for_each_and_takes_nothing_again(self):
        def answer(key, params, payload):
            if key.endswith("/@consumes"):
                good = consumes_reply({"id": "m", "seq": 1, "body": b"xyz"}, None)
                return [Reply(True, good[:-2], json.dumps({"status": "consumes"}).encode())]
            return ok("empty")

        t = HeldTransport(answer)
        results = self.run_behind_one(t, [lambda c, u=u: c.consume(u) for u in ("x", "y", "z")])
        self.assertEqual([getattr(r, "code", None) for r in results[1:]], ["BAD_REPLY", "BAD_REPLY"])
        self.assertEqual(len(t.calls), 2, "BAD_REPLY is not retried")

    def test_a_consume_without_request_id_and_a_long_poll_go_alone(self):
        t = HeldTransport(lambda key, params, payload: ok("empty"))
        c = MailboxClient(transport=t, token="tok", request_timeout=5.0, coalesce=Coalescing(max_in_flight=1))
        first = threading.Thread(target=lambda: c.consume("held"))
        first.start()
        until(lambda: len(t.calls) == 1)
        self.assertIsNone(c.consume("once", request_id=False))
        self.assertIsNone(c.consume("poll", wait_ms=1))
        t.release.set()
        first.join(10)
        self.assertEqual([k.split("/")[-1] for k, _, _ in t.calls], ["consume", "consume", "poll"])

    def test_a_request_waits_no_longer_than_its_attempt_and_is_then_busy_with_nothing_sent(self):
        t = HeldTransport(put_reply)
        c = MailboxClient(transport=t, token="tok", request_timeout=0.3, coalesce=Coalescing(max_in_flight=1))
        first = threading.Thread(target=lambda: c.put("a", b"x", id="p-0"))
        first.start()
        until(lambda: len(t.calls) == 1)
        with self.assertRaises(MailboxError) as caught:
            c.put("a", b"y", id="p-1")
        self.assertEqual(caught.exception.code, "BUSY")
        t.release.set()
        first.join(10)
        self.assertEqual(len(t.calls), 1)
        self.assertEqual(len(c._puts._queue), 0)

    def test_coalescing_is_checked(self):
        for bad in (dict(max_puts=0), dict(max_puts=1025), dict(max_consumes=2000), dict(max_in_flight=0), dict(max_put_bytes=True)):
            with self.assertRaises(ValueError, msg=str(bad)):
                Coalescing(**bad)
        with self.assertRaises(ValueError):
            MailboxClient(transport=HeldTransport(None), coalesce="yes")


class ReplyDecoderFuzzTest(unittest.TestCase):
    """The `consumes` and `puts` reply decoders on truncated, flipped and random bytes: each either
    decodes or raises BAD_REPLY, never anything else (the TypeScript decoders have their fuzz
    targets in test/fuzz; these are the Python client's own)."""

    def check(self, decode, seeds, rounds=3000):
        import random

        rng = random.Random(20261208)
        for i in range(rounds):
            data = bytearray(rng.choice(seeds))
            how = i % 4
            if how == 0 and data:
                del data[rng.randrange(len(data)) :]
            elif how == 1 and data:
                for _ in range(rng.randint(1, 4)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            elif how == 2:
                at = rng.randrange(len(data) + 1)
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            else:
                data = bytearray(rng.randrange(256) for _ in range(rng.randint(0, 64)))
            try:
                decode(bytes(data))
            except MailboxError as e:
                self.assertEqual(e.code, "BAD_REPLY", bytes(data).hex())

    def test_consumes_replies(self):
        from forge_mailbox import _consume_outcomes

        seeds = [
            consumes_reply({"id": "m", "seq": 1, "body": b"xyz", "receipt": "r", "lease_end": 5}, None, ("refused", "FORBIDDEN", "no")),
            consumes_reply(None, None, None),
        ]
        self.assertEqual(len(_consume_outcomes(seeds[0], ["a", "b", "c"], None)), 3)
        self.check(lambda data: _consume_outcomes(data, ["a", "b", "c"], None), seeds)

    def test_puts_replies(self):
        from forge_mailbox import _put_outcomes

        seeds = [json.dumps([{"id": "a", "seq": 1, "duplicate": False}, {"code": "MAILBOX_FULL", "message": "full"}]).encode()]
        self.assertEqual(len(_put_outcomes(seeds[0])), 2)
        self.check(_put_outcomes, seeds)


def until(condition, seconds=10.0):
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.002)


class TokenFileTest(unittest.TestCase):
    def test_a_private_file_is_read_and_a_readable_one_refused(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "token")
            with open(path, "w") as f:
                f.write("secret-token\n")
            os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
            c = MailboxClient(transport=FakeTransport(FakeClock()), token_file=path)
            self.assertEqual(c._token, "secret-token")
            os.chmod(path, 0o640)
            with self.assertRaises(PermissionError):
                MailboxClient(transport=FakeTransport(FakeClock()), token_file=path)


if __name__ == "__main__":
    unittest.main()
