"""Forge Mailbox client for Python, on eclipse-zenoh (pip install eclipse-zenoh==1.10.1).

The same semantics as the TypeScript client (src/bridge/client.ts), speaking the key space of
src/bridge/key-space.ts and the reply format of src/bridge/reply-format.ts over Zenoh's native
protocol: the client logs in to the cluster's router on its `tcp/` (or `tls/`) endpoint with a
Zenoh client configuration file (endpoint and the client user's password; `npm start` writes one
to data/local/zenoh/client.json5), and every request carries a capability token.

    with MailboxClient("data/local/zenoh/client.json5", token_file="data/local/auth/admin.token") as client:
        client.put("user123", b"hello")
        for message in client.messages("user123", lease_ms=30_000):
            handle(message.body)
            message.ack()

Sent together. The client is thread-safe, and the puts and consumes of its threads share
queries when it is busy: while fewer than Coalescing.max_in_flight (4) queries of puts are in
flight, a put goes out at once, alone on its usual key; past that it waits, and the puts made
meanwhile go out as one `GET <prefix>/@puts` query when one of those ends (up to 128 puts or
256 KiB of bodies). Consumes likewise, as `@consumes` (plain consumes with a request id, and
leased ones). Each request keeps its own result, error and retries below; `coalesce=False` sends
each alone, as clusters older than those keys need.

Retries. Requests that fail with a retryable code (NOT_LEADER, UNAVAILABLE, LEADERSHIP_LOST,
TIMEOUT, BUSY; a query that gets no reply at all counts as UNAVAILABLE) are sent again with a short
jittered backoff until the request's deadline, but only where a second attempt cannot do harm:
- put always carries an id (a uuid4 when none is given): the cluster keeps one message per id,
  so a retry after an outcome-unknown error (TIMEOUT, LEADERSHIP_LOST) answers `duplicate`.
- a plain consume carries a request id (a uuid4 when none is given): a retry with the same rid
  gets the very answer of the first attempt and never takes a second message. A consume with a
  rid is a Raft log entry even when the mailbox is empty (that entry is what binds the answer);
  pass request_id=False for an empty consume that writes nothing, and no retry after an
  outcome-unknown error (it could take, and lose, a second message).
- a leased consume (receive) retries freely: a lost reply leaves the message leased to nobody,
  and it returns to the mailbox when the lease ends. It sends no rid unless given one, so an
  idle leased long poll (`messages`) writes nothing.
- a batch put (put_batch) is all or none, and every message carries an id (a uuid4 when none is
  given): a retry answers `duplicate` for each message the first attempt enqueued.
- a batch consume (consume_batch, receive_batch) follows consume's rules; with a rid a retry gets
  the very batch the first attempt took.
- ack, nack and touch retry; an UNKNOWN_RECEIPT after an outcome-unknown attempt says the earlier
  attempt may have settled the receipt. redrive retries (a second redrive after an unknown
  outcome moves what is left, and its count says only that).
- peek and len are reads, purge empties the mailbox (a second purge of an emptied one is harmless,
  but its count then says 0).
"""
from __future__ import annotations

import json
import os
import random
import stat
import struct
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Protocol, Sequence, Union

DEFAULT_KEY_PREFIX = "forge/mailbox"
# The leader serves long polls on WAIT_LANES extra sessions (src/bridge/key-space.ts, README
# "Long polls"); the client picks a lane at random so that they share the parked consumers.
WAIT_LANES = 16
# A node answers every request within raft.requestTimeoutMs (5 s by default: TIMEOUT if not
# committed by then), so an attempt unanswered well past that is lost: measured, about 1 in 60
# kills of a leader under a stream of puts left one put's query unanswered until its timeout (the
# router ended it neither with the node's answer nor at once). Such an attempt is given up after
# this long and, where safe, sent again within the request's deadline.
DEFAULT_ATTEMPT_TIMEOUT = 6.0
RETRYABLE = frozenset({"NOT_LEADER", "UNAVAILABLE", "LEADERSHIP_LOST", "TIMEOUT", "BUSY"})
# Codes after which the request may have been carried out although it was not answered.
OUTCOME_UNKNOWN = frozenset({"TIMEOUT", "LEADERSHIP_LOST", "NO_REPLY"})
# The text Zenoh itself delivers as an error reply when a query's timeout ends unanswered.
ZENOH_QUERY_TIMEOUT = "Timeout"
MAX_IDENTIFIER_LENGTH = 128
# The batch put payload's framing (src/bridge/batch-framing.ts): version, then per message flags
# (1: id follows, 2: ttl follows), [u16 length + id], [f64 ttl ms], u32 length + body; little-endian.
BATCH_FRAMING_VERSION = 1
MAX_BATCH_COUNT = 0xFFFF
# Most puts one `@puts` query carries, and consumes one `@consumes` query (src/bridge/batch-framing.ts).
MAX_PUTS_PER_REQUEST = 1024
MAX_CONSUMES_PER_REQUEST = 1024
# Longest id, receipt, code or message text a `consumes` reply may carry (src/bridge/reply-format.ts).
MAX_CONSUMES_TEXT_BYTES = 4096
_IDENTIFIER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@+=/-")
_USER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


class MailboxError(Exception):
    """An error answer of the cluster (README, "Replies"), or one of the client's own:
    BAD_REPLY (a reply not in the documented format) and the BAD_USER / BAD_REQUEST it finds
    before sending anything."""

    def __init__(self, code: str, message: str, leader: Optional[str] = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        # On NOT_LEADER and LEADERSHIP_LOST: the node the cluster believes leads, when known.
        self.leader = leader


class _NoReply(MailboxError):
    """UNAVAILABLE because the query got no reply at all: it may have reached a leader whose
    answer was lost, so its outcome is unknown."""


@dataclass(frozen=True)
class PutResult:
    id: str
    seq: int
    # True when a message with this id was already in the mailbox (or consumed within the
    # dedupe window): nothing was added.
    duplicate: bool


@dataclass(frozen=True)
class Coalescing:
    """How a MailboxClient sends the puts and consumes of its threads together (its `coalesce`).

    A put goes out at once, alone on its usual key, while fewer than max_in_flight queries of puts
    are in flight from the client. Past that it waits, and the puts made meanwhile go out as one
    `@puts` query as soon as one of those queries ends: up to max_puts puts and max_put_bytes of
    bodies (a larger body always goes alone). Consumes likewise, in `@consumes` queries of up to
    max_consumes. So an idle client adds no wait, and a busy one shares each query's cost at every
    hop (client, router, leader) over many requests, while each keeps its own result, error and
    retries. Only plain consumes with a request id and leased consumes go together: a long poll,
    a batch consume and a consume with request_id=False go alone."""

    max_puts: int = 128
    max_put_bytes: int = 256 * 1024
    max_consumes: int = 128
    max_in_flight: int = 4

    def __post_init__(self) -> None:
        for name, low, high in (("max_puts", 1, MAX_PUTS_PER_REQUEST), ("max_consumes", 1, MAX_CONSUMES_PER_REQUEST), ("max_put_bytes", 1, None), ("max_in_flight", 1, None)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
                raise ValueError(f"coalesce.{name} must be a whole number from {low}{'' if high is None else f' to {high}'}, got {value!r}")


@dataclass(frozen=True)
class Stats:
    count: int
    bytes: int
    oldest_age_ms: int
    in_flight: int
    dead_letter_count: int
    # Messages put or nacked with a delay that has not passed yet.
    delayed: int = 0


@dataclass(frozen=True)
class BatchMessage:
    """One message of a put_batch."""

    body: Union[bytes, str]
    id: Optional[str] = None
    ttl_ms: Optional[int] = None


@dataclass(frozen=True)
class Message:
    user: str
    id: str
    seq: int
    body: bytes
    deliveries: int
    enqueued_at: int
    expires_at: int
    # Only on a leased consume (receive): what ack and nack name.
    receipt: Optional[str] = None
    lease_expires_at: Optional[int] = None
    _client: Optional["MailboxClient"] = field(default=None, repr=False, compare=False)

    def ack(self) -> None:
        """Settles a leased message: it is gone for good."""
        self._settle("ack")

    def nack(self, delay_ms: Optional[int] = None) -> None:
        """Gives a leased message back: it returns to its place in the mailbox, after delay_ms
        (0: at once; None: the cluster's default backoff)."""
        self._leased("nack").nack(self.user, self.receipt, delay_ms=delay_ms)  # type: ignore[arg-type]

    def touch(self, lease_ms: int) -> None:
        """Extends the lease: it now ends lease_ms from when the leader applies this."""
        self._leased("touch").touch(self.user, self.receipt, lease_ms)  # type: ignore[arg-type]

    def _settle(self, op: str) -> None:
        getattr(self._leased(op), op)(self.user, self.receipt)

    def _leased(self, op: str) -> "MailboxClient":
        if self.receipt is None or self._client is None:
            raise MailboxError("BAD_REQUEST", f"{op}: message {self.id} was not received with a lease")
        return self._client


@dataclass(frozen=True)
class Reply:
    """One Zenoh reply, as the transport hands it over."""

    ok: bool
    payload: bytes
    attachment: Optional[bytes] = None


class Transport(Protocol):
    """What the client needs of Zenoh: one GET and the replies it collected (the unit tests fake it).
    every_reply: no consolidation, as a batch is answered with one reply per message on one key."""

    def get(self, selector: str, payload: Optional[bytes], attachment: Optional[str], timeout: float, every_reply: bool = False) -> Sequence[Reply]: ...

    def put(self, key: str, payload: bytes, attachment: Optional[str]) -> None: ...

    def close(self) -> None: ...


class ZenohTransport:
    """A Zenoh session logged in to the router as the configuration file says."""

    def __init__(self, config: Any, router: Optional[str] = None):
        import zenoh  # imported here so that the retry logic is testable without eclipse-zenoh

        conf = config if isinstance(config, zenoh.Config) else zenoh.Config.from_file(os.fspath(config))
        if router is not None:
            conf.insert_json5("connect/endpoints", json.dumps([router]))
        self._zerror = zenoh.ZError
        self._session = zenoh.open(conf)

    def get(self, selector: str, payload: Optional[bytes], attachment: Optional[str], timeout: float, every_reply: bool = False) -> Sequence[Reply]:
        import zenoh

        kwargs: dict = {"timeout": timeout}
        if every_reply:
            kwargs["consolidation"] = zenoh.ConsolidationMode.NONE
        if payload is not None:
            kwargs["payload"] = payload
        if attachment is not None:
            kwargs["attachment"] = attachment
        try:
            replies = self._session.get(selector, **kwargs)
        except self._zerror as e:
            # Not sent (the session is closed): nothing can have happened.
            raise MailboxError("UNAVAILABLE", f"query not sent: {e}") from None
        out = []
        for reply in replies:
            if reply.ok is not None:
                att = reply.ok.attachment
                out.append(Reply(True, reply.ok.payload.to_bytes(), None if att is None else att.to_bytes()))
            else:
                out.append(Reply(False, reply.err.payload.to_bytes()))
        return out

    def put(self, key: str, payload: bytes, attachment: Optional[str]) -> None:
        self._session.put(key, payload, attachment=attachment)

    def close(self) -> None:
        self._session.close()


def read_token_file(path: Union[str, os.PathLike]) -> str:
    """A token file's content, refused when group or others may read it (as src/secret-files.ts does)."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise PermissionError(f"{os.fspath(path)} is readable by others (mode {mode:o}): chmod 600 it")
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


class _Put(NamedTuple):
    """One put, as sent alone (selector, body) or in a `@puts` query (the rest)."""

    user: str
    body: bytes
    id: str
    ttl_ms: Optional[int]
    delay_ms: Optional[int]
    selector: str


class _Consume(NamedTuple):
    """One consume, as sent alone (selector) or in a `@consumes` query (the rest)."""

    user: str
    rid: Optional[str]
    lease_ms: Optional[int]
    dead_letter: bool
    selector: str


# A member's outcome when its query was refused whole as TOO_LARGE (the cluster's
# mailbox.maxBodyBytes is under max_put_bytes): it is sent again alone.
_ALONE = object()


class _Waiter:
    """One request of a _Trains, and how its thread learns the outcome."""

    __slots__ = ("item", "size", "end", "wake", "sent", "done", "outcome")

    def __init__(self, item: Any, size: int, end: float, lock: threading.Lock):
        self.item = item
        self.size = size
        self.end = end  # time.monotonic() past which its attempt is over
        # Its own condition on the trains' lock: a thread is woken only when it has something to do.
        self.wake = threading.Condition(lock)
        self.sent = False
        self.done = False
        self.outcome: Any = None


class _Trains:
    """The requests of one kind (puts, or consumes) from a client's threads, sent together as
    Coalescing says: the thread whose request heads the queue, once fewer than max_in_flight
    queries are in flight, sends the queue's head (up to max_items and max_bytes) as one query and
    hands every member its outcome; the others wait for theirs. alone(item, timeout) sends one
    request on its usual key (its value, or a MailboxError raised); together(items, timeout) sends
    several as one query (each one's value, MailboxError or _ALONE, or a MailboxError raised for
    the whole query). Monotonic time, not the client's clock: these are real threads waiting."""

    def __init__(self, max_items: int, max_bytes: int, max_in_flight: int, alone: Callable[[Any, float], Any], together: Callable[[List[Any], float], List[Any]]):
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._max_in_flight = max_in_flight
        self._alone = alone
        self._together = together
        self._lock = threading.Lock()
        self._queue: deque = deque()  # of _Waiter, oldest first
        self._in_flight = 0

    def attempt(self, item: Any, size: int, timeout: float) -> Any:
        """One attempt of one request, alone or with others: its value, or its MailboxError raised."""
        me = _Waiter(item, size, time.monotonic() + timeout, self._lock)
        train: Optional[List[_Waiter]] = None
        with self._lock:
            self._queue.append(me)
            while not me.done:
                if not me.sent and self._queue[0] is me and self._in_flight < self._max_in_flight:
                    train = self._take()  # this thread sends it: its own request heads it
                    self._in_flight += 1
                    self._wake_head()
                    break
                left = me.end - time.monotonic()
                if left <= 0:
                    if not me.sent:
                        self._queue.remove(me)
                        self._wake_head()
                        # Never sent, so nothing happened: retried as BUSY is.
                        raise MailboxError("BUSY", f"not sent within its attempt's time: the client's {self._max_in_flight} queries of this kind stayed in flight")
                    raise MailboxError("TIMEOUT", "no answer within the attempt's time: its outcome is unknown")
                me.wake.wait(left)
        if train is not None:
            try:
                outcomes = self._send(train)
            except BaseException as e:
                self._finish(train, [MailboxError("INTERNAL", f"sending {len(train)} requests together failed: {e!r}")] * len(train))
                raise
            self._finish(train, outcomes)
        return self._outcome(me)

    def _take(self) -> List[_Waiter]:
        train = [self._queue.popleft()]
        size = train[0].size
        while self._queue and len(train) < self._max_items and size + self._queue[0].size <= self._max_bytes:
            size += self._queue[0].size
            train.append(self._queue.popleft())
        for w in train:
            w.sent = True
        return train

    def _wake_head(self) -> None:
        """Under the lock: lets the queue's head send, if a query may go."""
        if self._queue and self._in_flight < self._max_in_flight:
            self._queue[0].wake.notify()

    def _send(self, train: List[_Waiter]) -> List[Any]:
        # The query ends when its first member's attempt does: a member never waits past its own.
        timeout = max(min(w.end for w in train) - time.monotonic(), 0.001)
        try:
            if len(train) == 1:
                return [self._alone(train[0].item, timeout)]
            return self._together([w.item for w in train], timeout)
        except MailboxError as e:
            return [e] * len(train)

    def _finish(self, train: List[_Waiter], outcomes: List[Any]) -> None:
        with self._lock:
            for w, outcome in zip(train, outcomes):
                w.outcome = outcome
                w.done = True
                w.wake.notify()
            self._in_flight -= 1
            self._wake_head()

    def _outcome(self, w: _Waiter) -> Any:
        if w.outcome is _ALONE:
            return self._alone(w.item, max(w.end - time.monotonic(), 0.001))
        if isinstance(w.outcome, MailboxError):
            # A fresh error per thread: one exception object raised in several threads would share its traceback.
            raise type(w.outcome)(w.outcome.code, w.outcome.message, w.outcome.leader)
        return w.outcome


class MailboxClient:
    """A client of one Forge Mailbox cluster. Thread-safe for requests; `close` stops them all."""

    def __init__(
        self,
        config: Any = None,
        *,
        router: Optional[str] = None,
        token: Optional[str] = None,
        token_file: Union[str, os.PathLike, None] = None,
        request_timeout: float = 10.0,
        attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        coalesce: Union[bool, Coalescing] = True,
        transport: Optional[Transport] = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        """config: the Zenoh client configuration (a json5 file path or a zenoh.Config), with the
        router endpoint and the client user's credentials; router: an endpoint (`tcp/host:7447`,
        `tls/host:7447`) replacing the configuration's. token, else token_file: the capability
        token. request_timeout (s): each request's deadline, retries included; a long poll gets
        its wait on top. attempt_timeout (s): how long one attempt may go unanswered before it is
        given up as outcome unknown (TIMEOUT) and, where safe, sent again (see
        DEFAULT_ATTEMPT_TIMEOUT). coalesce: send the puts and the consumes of several threads
        together (True: Coalescing's defaults; a Coalescing; False: each alone, as clusters older
        than `@puts` and `@consumes` need). transport, sleep, clock: for tests."""
        if token is not None and token_file is not None:
            raise ValueError("give token or token_file, not both")
        self._token = read_token_file(token_file) if token_file is not None else token
        self._attachment = None if self._token is None else json.dumps({"token": self._token})
        if request_timeout <= 0:
            raise ValueError("request_timeout must be > 0 seconds")
        self._timeout = float(request_timeout)
        if attempt_timeout <= 0:
            raise ValueError("attempt_timeout must be > 0 seconds")
        self._attempt_timeout = float(attempt_timeout)
        self._prefix = key_prefix
        self._sleep = sleep
        self._clock = clock
        self._closed = threading.Event()
        coalescing = Coalescing() if coalesce is True else coalesce
        if coalescing is not False and not isinstance(coalescing, Coalescing):
            raise ValueError("coalesce is True, False or a Coalescing")
        self._max_put_bytes = coalescing.max_put_bytes if coalescing else 0
        self._puts = None if not coalescing else _Trains(coalescing.max_puts, coalescing.max_put_bytes, coalescing.max_in_flight, self._put_alone, self._puts_together)
        # Consumes have no bodies to bound: each counts 0 bytes against 0.
        self._consumes = None if not coalescing else _Trains(coalescing.max_consumes, 0, coalescing.max_in_flight, self._consume_alone, self._consumes_together)
        if transport is None:
            if config is None:
                raise ValueError("config (a Zenoh client configuration file) is required")
            transport = ZenohTransport(config, router)
        self._transport = transport

    def __enter__(self) -> "MailboxClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Closes the session; requests in flight end, and `messages` loops stop."""
        if not self._closed.is_set():
            self._closed.set()
            self._transport.close()

    # --- operations ---------------------------------------------------------------------------

    def put(self, user: str, body: Union[bytes, str], id: Optional[str] = None, ttl_ms: Optional[int] = None, delay_ms: Optional[int] = None) -> PutResult:
        """Acknowledged enqueue: returns once the message is committed on a majority. delay_ms:
        invisible until then (at most the cluster's mailbox.maxDelayMs)."""
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        msg_id = id if id is not None else str(uuid.uuid4())
        params = {"id": msg_id, "ttl": _ms("ttl_ms", ttl_ms, 1), "delay": _ms("delay_ms", delay_ms, 1)}
        key = f"{self._user_key(user)}/put"
        # Made before anything is queued: it refuses a bad id (BAD_REQUEST) at once.
        one = _Put(user, data, msg_id, params["ttl"], params["delay"], _selector(key, params))
        if self._puts is not None and len(data) <= self._max_put_bytes:
            puts = self._puts
            return self._request("put", key, params, send=lambda timeout: puts.attempt(one, len(data), timeout))
        return self._request("put", key, params, send=lambda timeout: self._put_alone(one, timeout))

    def _put_alone(self, one: "_Put", timeout: float) -> PutResult:
        status, payload, _ = self._once(one.selector, one.body, self._attachment, timeout)
        _expect(status, "put")
        return _put_result(payload)

    def _puts_together(self, puts: List["_Put"], timeout: float) -> List[Any]:
        frame = [struct.pack("<BH", BATCH_FRAMING_VERSION, len(puts))]
        for p in puts:
            user, msg_id = p.user.encode("utf-8"), p.id.encode("utf-8")
            frame.append(struct.pack("<BH", 1 | (2 if p.ttl_ms is not None else 0) | (4 if p.delay_ms is not None else 0), len(user)) + user)
            frame.append(struct.pack("<H", len(msg_id)) + msg_id)
            if p.ttl_ms is not None:
                frame.append(struct.pack("<d", p.ttl_ms))
            if p.delay_ms is not None:
                frame.append(struct.pack("<d", p.delay_ms))
            frame.append(struct.pack("<I", len(p.body)) + p.body)
        return self._together(f"{self._prefix}/@puts", b"".join(frame), len(puts), timeout, "puts", _put_outcomes)

    def put_batch(self, user: str, messages: Sequence[Union[bytes, str, BatchMessage]]) -> List[PutResult]:
        """Enqueues every message in one log entry, all or none (at most the cluster's
        mailbox.maxBatch); the results come in the batch's order. Each message carries an id (a
        uuid4 when none is given), so a retry answers `duplicate` for what an earlier attempt put."""
        items = [m if isinstance(m, BatchMessage) else BatchMessage(m) for m in messages]
        if not 1 <= len(items) <= MAX_BATCH_COUNT:
            raise MailboxError("BAD_REQUEST", f"a batch put holds 1 to {MAX_BATCH_COUNT} messages, got {len(items)}")
        frame = [struct.pack("<BH", BATCH_FRAMING_VERSION, len(items))]
        for m in items:
            msg_id = m.id if m.id is not None else str(uuid.uuid4())
            _check_identifier("id", msg_id)
            ttl = _ms("ttl_ms", m.ttl_ms, 1)
            body = m.body.encode("utf-8") if isinstance(m.body, str) else bytes(m.body)
            frame.append(struct.pack("<B", 1 | (2 if ttl is not None else 0)))
            encoded_id = msg_id.encode("utf-8")
            frame.append(struct.pack("<H", len(encoded_id)) + encoded_id)
            if ttl is not None:
                frame.append(struct.pack("<d", ttl))
            frame.append(struct.pack("<I", len(body)) + body)
        replies = self._request("put", f"{self._user_key(user)}/put-batch", {}, b"".join(frame), every_reply=True)
        if len(replies) != len(items):
            raise MailboxError("BAD_REPLY", f"{len(replies)} results for a batch of {len(items)}")
        results = []
        for status, payload, _ in replies:
            _expect(status, "put")
            results.append(_put_result(payload))
        return results

    def publish(self, user: str, body: Union[bytes, str], id: Optional[str] = None, ttl_ms: Optional[int] = None) -> None:
        """Fire-and-forget enqueue (a plain Zenoh PUT): no confirmation, no error report, no retry."""
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        meta: dict = {"token": self._token, "id": id, "ttl": _ms("ttl_ms", ttl_ms, 1)}
        if id is not None:
            _check_identifier("id", id)
        meta = {k: v for k, v in meta.items() if v is not None}
        if self.closed:
            raise MailboxError("UNAVAILABLE", "the client is closed")
        self._transport.put(self._user_key(user), data, json.dumps(meta) if meta else None)

    def consume(
        self,
        user: str,
        wait_ms: Optional[int] = None,
        request_id: Union[str, bool, None] = None,
        lease_ms: Optional[int] = None,
        dead_letter: bool = False,
    ) -> Optional[Message]:
        """Takes the next message, or None when the mailbox is empty (after waiting up to wait_ms
        for one: a long poll, at most the cluster's mailbox.maxConsumeWaitMs).

        request_id: None picks a fresh one for a plain consume (so retries are safe; see the
        module's doc) and none for a leased one; a string uses that one; False sends none.
        lease_ms: at-least-once, the message must be acked."""
        op, params, wait = self._consume_request(user, wait_ms, request_id, lease_ms, dead_letter, None)
        if wait:
            return self._message_or_none(user, *self._long_poll(op, user, params, wait))
        key = f"{self._user_key(user)}/consume"
        one = _Consume(user, params["rid"], params["lease"], dead_letter, _selector(key, params))
        # A consume-once goes alone: its outcome-unknown attempts are not retried, and a train's
        # attempt ends with its first member's, which would make such outcomes likelier.
        if self._consumes is not None and op == "consume":
            consumes = self._consumes
            return self._request(op, key, params, send=lambda timeout: consumes.attempt(one, 0, timeout))
        return self._request(op, key, params, send=lambda timeout: self._consume_alone(one, timeout))

    def consume_batch(
        self,
        user: str,
        max: int,
        wait_ms: Optional[int] = None,
        request_id: Union[str, bool, None] = None,
        lease_ms: Optional[int] = None,
        dead_letter: bool = False,
    ) -> List[Message]:
        """Takes up to max messages in one log entry (at most the cluster's mailbox.maxBatch), in
        order; [] when the mailbox is empty (after waiting up to wait_ms for one). The other
        arguments are consume's; leased, each message has its own receipt."""
        count = _ms("max", max, 1)
        op, params, wait = self._consume_request(user, wait_ms, request_id, lease_ms, dead_letter, count)
        if wait:
            replies = self._long_poll(op, user, params, wait, every_reply=True)
        else:
            replies = self._request(op, f"{self._user_key(user)}/consume", params, every_reply=True)
        messages = [self._message_or_none(user, *reply) for reply in replies]
        return [m for m in messages if m is not None]

    def receive_batch(self, user: str, max: int, lease_ms: int = 30_000, wait_ms: Optional[int] = None) -> List[Message]:
        """A leased consume_batch: each message comes back unless acked within lease_ms."""
        return self.consume_batch(user, max, wait_ms=wait_ms, lease_ms=lease_ms)

    def _consume_request(self, user: str, wait_ms: Optional[int], request_id: Union[str, bool, None], lease_ms: Optional[int], dead_letter: bool, count: Optional[int]):
        """A consume's retry rule (its op for _request), parameters and wait (ms, 0 for none)."""
        wait = _ms("wait_ms", wait_ms, 0)
        lease = _ms("lease_ms", lease_ms, 1)
        if request_id is None:
            # A leased consume needs no rid to be retried, and without one an empty answer writes nothing.
            rid: Optional[str] = str(uuid.uuid4()) if lease is None else None
        elif request_id is False:
            rid = None
        elif isinstance(request_id, str):
            rid = request_id
        else:
            raise MailboxError("BAD_REQUEST", "request_id is a string, None (a fresh one) or False (none)")
        self._user_key(user)
        params = {"rid": rid, "lease": lease, "dlq": 1 if dead_letter else None, "max": count}
        # Without a rid or a lease, a second attempt after an outcome-unknown answer could take a
        # second message: only refusals that changed nothing are retried then.
        op = "consume" if rid is not None or lease is not None else "consume-once"
        return op, params, wait or 0

    def _consume_alone(self, one: "_Consume", timeout: float) -> Optional[Message]:
        return self._message_or_none(one.user, *self._once(one.selector, None, self._attachment, timeout))

    def _consumes_together(self, consumes: List["_Consume"], timeout: float) -> List[Any]:
        frame = [struct.pack("<BH", BATCH_FRAMING_VERSION, len(consumes))]
        for c in consumes:
            user = c.user.encode("utf-8")
            frame.append(struct.pack("<BH", (1 if c.rid is not None else 0) | (2 if c.lease_ms is not None else 0) | (4 if c.dead_letter else 0), len(user)) + user)
            if c.rid is not None:
                rid = c.rid.encode("utf-8")
                frame.append(struct.pack("<H", len(rid)) + rid)
            if c.lease_ms is not None:
                frame.append(struct.pack("<d", c.lease_ms))
        users = [c.user for c in consumes]
        return self._together(f"{self._prefix}/@consumes", b"".join(frame), len(consumes), timeout, "consumes", lambda payload: _consume_outcomes(payload, users, self))

    def _together(self, key: str, payload: bytes, n: int, timeout: float, status: str, decode: Callable[[bytes], List[Any]]) -> List[Any]:
        """Several requests as one query (`@puts`, `@consumes`), answered with one reply listing each
        one's outcome: its value, its MailboxError, or _ALONE. As with a single request, an ok
        outcome wins over a refusal of the same request in another reply (a stale ex-leader may
        answer beside the leader); a request with no ok outcome gets its refusal, else the whole
        query's error (a timeout first), else UNAVAILABLE for a query with no reply at all."""
        replies = self._transport.get(key, payload, self._attachment, timeout, every_reply=True)
        found: List[Optional[tuple]] = [None] * n  # (value,) once an ok outcome came: a value may be None
        refusals: List[List[MailboxError]] = [[] for _ in range(n)]
        whole: List[MailboxError] = []
        for r in replies:
            if not r.ok:
                whole.append(_decode_error(r.payload))
                continue
            if r.attachment is None:
                raise MailboxError("BAD_REPLY", "reply without attachment")
            got = _json_object(r.attachment).get("status")
            if got != status:
                raise MailboxError("BAD_REPLY", f"unexpected reply status {got!r} (expected {status!r})")
            outcomes = decode(r.payload)
            if len(outcomes) != n:
                raise MailboxError("BAD_REPLY", f"{len(outcomes)} outcomes for {n} requests")
            for i, outcome in enumerate(outcomes):
                if isinstance(outcome, MailboxError):
                    refusals[i].append(outcome)
                elif found[i] is None:
                    found[i] = (outcome,)
        too_large = bool(whole) and all(e.code == "TOO_LARGE" for e in whole) and not any(found) and not any(refusals)
        out: List[Any] = []
        for i in range(n):
            errors = refusals[i] or whole
            if found[i] is not None:
                out.append(found[i][0])
            elif too_large:
                out.append(_ALONE)
            elif errors:
                out.append(next((e for e in errors if e.code == "TIMEOUT"), errors[0]))
            else:
                out.append(_NoReply("UNAVAILABLE", f"no reply on {key}: no leader is serving the mailboxes, or the router is unreachable or dropped the query"))
        return out

    def receive(self, user: str, lease_ms: int = 30_000, wait_ms: Optional[int] = None) -> Optional[Message]:
        """A leased consume: the message comes back unless acked within lease_ms."""
        return self.consume(user, wait_ms=wait_ms, lease_ms=lease_ms)

    def ack(self, user: str, receipt: str) -> None:
        _expect(self._request("ack", f"{self._user_key(user)}/ack", {"receipt": receipt})[0], "ok")

    def nack(self, user: str, receipt: str, delay_ms: Optional[int] = None) -> None:
        """Gives a leased message back, visible again after delay_ms (0: at once; None: the
        cluster's default backoff, mailbox.nackBackoffMs)."""
        params = {"receipt": receipt, "delay": _ms("delay_ms", delay_ms, 0)}
        _expect(self._request("nack", f"{self._user_key(user)}/nack", params)[0], "ok")

    def touch(self, user: str, receipt: str, lease_ms: int) -> None:
        """Extends a lease: it now ends lease_ms from when the leader applies this; the receipt stays."""
        lease = _ms("lease_ms", lease_ms, 1)
        _expect(self._request("touch", f"{self._user_key(user)}/touch", {"receipt": receipt, "lease": lease})[0], "ok")

    def redrive(self, user: str, max: Optional[int] = None) -> int:
        """Moves dead letters back to the mailbox in seq order (all, or the max oldest), each with
        a fresh delivery budget; returns how many."""
        params = {"max": _ms("max", max, 1)}
        status, payload, _ = self._request("redrive", f"{self._user_key(user)}/redrive", params)
        _expect(status, "redriven")
        return _field(_json_object(payload), "count", int)

    def peek(self, user: str, dead_letter: bool = False) -> Optional[Message]:
        status, payload, meta = self._request("peek", f"{self._user_key(user)}/peek", {"dlq": 1 if dead_letter else None})
        return self._message_or_none(user, status, payload, meta)

    def len(self, user: str) -> Stats:
        status, payload, _ = self._request("len", f"{self._user_key(user)}/len", {})
        _expect(status, "stats")
        s = _json_object(payload)
        return Stats(
            count=_field(s, "count", int),
            bytes=_field(s, "bytes", int),
            oldest_age_ms=_field(s, "oldestAgeMs", int),
            in_flight=_field(s, "inFlight", int),
            dead_letter_count=_field(s, "deadLetterCount", int),
            delayed=_field(s, "delayed", int) if "delayed" in s else 0,
        )

    def purge(self, user: str, dead_letter: bool = False) -> int:
        """Drops every queued message; returns how many."""
        status, payload, _ = self._request("purge", f"{self._user_key(user)}/purge", {"dlq": 1 if dead_letter else None})
        _expect(status, "purged")
        return _field(_json_object(payload), "count", int)

    def messages(self, user: str, lease_ms: int = 30_000, wait_ms: int = 20_000) -> Iterator[Message]:
        """Leased messages as they come, long-polling wait_ms at a time; each must be acked or
        nacked (else it returns when its lease ends). Stops when the client is closed; errors
        other than retryable ones (which are retried) end it with their MailboxError."""
        while not self.closed:
            try:
                message = self.receive(user, lease_ms=lease_ms, wait_ms=wait_ms)
            except MailboxError as e:
                if self.closed:
                    return
                if e.code in RETRYABLE:
                    continue
                raise
            if message is not None:
                yield message

    # --- requests -----------------------------------------------------------------------------

    def _user_key(self, user: str) -> str:
        # Checked here too: `a/put` as a user would change the request's meaning.
        if not (isinstance(user, str) and 1 <= len(user) <= MAX_IDENTIFIER_LENGTH and set(user) <= _USER_CHARS and user not in (".", "..")):
            raise MailboxError("BAD_USER", f"invalid user id {user!r}: 1..128 of [A-Za-z0-9._-], not . or ..")
        return f"{self._prefix}/{user}"

    def _long_poll(self, op: str, user: str, params: dict, wait_ms: int, every_reply: bool = False):
        # The leader answers `empty` only once the wait is over: each attempt's query outlives
        # what is left of the wait, with a request timeout on top for the commit that follows.
        wait_end = self._clock() + wait_ms / 1000

        def attempt_params() -> dict:
            return {**params, "wait": max(0, int((wait_end - self._clock()) * 1000))}

        key = lambda: f"{self._prefix}/@wait/{random.randrange(WAIT_LANES)}/{user}"  # noqa: E731
        return self._request(
            op, key, attempt_params, extra_timeout=wait_ms / 1000, attempt_extra=lambda: max(0.0, wait_end - self._clock()), every_reply=every_reply
        )

    def _request(
        self,
        op: str,
        key: Union[str, Callable[[], str]],
        params: Union[dict, Callable[[], dict]],
        payload: Optional[bytes] = None,
        extra_timeout: float = 0.0,
        attempt_extra: Callable[[], float] = lambda: 0.0,
        every_reply: bool = False,
        send: Optional[Callable[[float], Any]] = None,
    ):
        """Sends until an answer, a non-retryable error or the deadline; returns (status, payload, meta).
        extra_timeout: added to the request's deadline; attempt_extra: added to each attempt's
        timeout (a long poll's wait, what is left of it). every_reply: a batch request, answered
        with one reply per message: returns the list of them, in order. send: makes each attempt
        instead, given its timeout (a put or consume, alone or sent together with others), and
        its value is returned."""
        deadline = self._clock() + self._timeout + extra_timeout
        attachment = self._attachment
        attempt = 0
        unknown = False  # whether an earlier attempt may have been carried out
        while True:
            if self.closed:
                raise MailboxError("UNAVAILABLE", "the client is closed")
            left = deadline - self._clock()
            try:
                timeout = max(min(left, attempt_extra() + self._attempt_timeout), 0.001)
                if send is not None:
                    return send(timeout)
                selector = _selector(key() if callable(key) else key, params() if callable(params) else params)
                if every_reply:
                    return self._once_all(selector, payload, attachment, timeout)
                return self._once(selector, payload, attachment, timeout)
            except MailboxError as e:
                code = "NO_REPLY" if isinstance(e, _NoReply) else e.code
                if e.code == "UNKNOWN_RECEIPT" and unknown:
                    raise MailboxError(e.code, f"{e.message} (an earlier attempt's outcome is unknown: it may have settled this receipt)") from None
                retry = e.code in RETRYABLE and not (op == "consume-once" and code in OUTCOME_UNKNOWN)
                unknown = unknown or code in OUTCOME_UNKNOWN
                attempt += 1
                pause = min(0.5, 0.025 * 2 ** min(attempt, 5)) * random.uniform(0.5, 1.0)
                if not retry or self.closed or self._clock() + pause >= deadline:
                    raise
                self._sleep(pause)

    def _once(self, selector: str, payload: Optional[bytes], attachment: Optional[str], timeout: float):
        return self._once_replies(selector, self._transport.get(selector, payload, attachment, timeout))

    def _once_replies(self, selector: str, replies: Sequence[Reply]):
        # An ok reply wins over errors (a stale ex-leader may still answer NOT_LEADER beside the
        # real leader); a timeout beside other errors means some node had not answered.
        for r in replies:
            if r.ok:
                if r.attachment is None:
                    raise MailboxError("BAD_REPLY", "reply without attachment")
                meta = _json_object(r.attachment)
                status = meta.get("status")
                if not isinstance(status, str):
                    raise MailboxError("BAD_REPLY", "reply attachment without a status")
                return status, r.payload, meta
        errors = [_decode_error(r.payload) for r in replies]
        if errors:
            raise next((e for e in errors if e.code == "TIMEOUT"), errors[0])
        raise _NoReply("UNAVAILABLE", f"no reply on {selector.split('?')[0]}: no leader is serving the mailbox, or the router is unreachable or dropped the query")

    def _once_all(self, selector: str, payload: Optional[bytes], attachment: Optional[str], timeout: float):
        """A batch's replies, in order: each carries its place `i` of `n` (src/bridge/reply-format.ts);
        a reply without one (empty, or a single answer) is the whole answer."""
        replies = self._transport.get(selector, payload, attachment, timeout, every_reply=True)
        parts = []
        for r in replies:
            if not r.ok:
                continue
            if r.attachment is None:
                raise MailboxError("BAD_REPLY", "reply without attachment")
            meta = _json_object(r.attachment)
            status = meta.get("status")
            if not isinstance(status, str):
                raise MailboxError("BAD_REPLY", "reply attachment without a status")
            place = (_field(meta, "i", int), _field(meta, "n", int)) if "i" in meta or "n" in meta else (1, 1)
            parts.append((place, (status, r.payload, meta)))
        if not parts:
            # No answer: the errors, as for a single request.
            return [self._once_replies(selector, replies)]
        parts.sort(key=lambda p: p[0][0])
        count = parts[0][0][1]
        if [p[0] for p in parts] != [(i + 1, count) for i in range(count)]:
            raise MailboxError("BAD_REPLY", f"{len(parts)} of {count} replies of a batch came: retry with the same request id or ids")
        return [p[1] for p in parts]

    def _message_or_none(self, user: str, status: str, payload: bytes, meta: dict) -> Optional[Message]:
        if status == "empty":
            return None
        _expect(status, "message")
        receipt = meta.get("receipt")
        lease_end = meta.get("leaseExpiresAt")
        return Message(
            user=user,
            id=_field(meta, "id", str),
            seq=_field(meta, "seq", int),
            body=payload,
            deliveries=_field(meta, "deliveries", int),
            enqueued_at=_field(meta, "enqueuedAt", int),
            expires_at=_field(meta, "expiresAt", int),
            receipt=None if receipt is None else _field(meta, "receipt", str),
            lease_expires_at=None if lease_end is None else _field(meta, "leaseExpiresAt", int),
            _client=self,
        )


def _put_result(payload: bytes) -> PutResult:
    return _put_result_of(_json_object(payload))


def _put_result_of(p: dict) -> PutResult:
    return PutResult(id=_field(p, "id", str), seq=_field(p, "seq", int), duplicate=_field(p, "duplicate", bool))


def _put_outcomes(payload: bytes) -> List[Union[PutResult, MailboxError]]:
    """A `puts` reply: a JSON array, per put {id, seq, duplicate} or {code, message}."""
    entries = _json(payload)
    if not isinstance(entries, list):
        raise MailboxError("BAD_REPLY", "a puts reply is not a JSON array")
    out: List[Union[PutResult, MailboxError]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise MailboxError("BAD_REPLY", "a puts reply entry is not a JSON object")
        out.append(MailboxError(_field(entry, "code", str), _field(entry, "message", str)) if "code" in entry else _put_result_of(entry))
    return out


class _ReplyReader:
    """Reads a binary reply, each read bounded by what is left: BAD_REPLY past its end."""

    def __init__(self, data: bytes, what: str):
        self._data = data
        self._at = 0
        self._what = what

    def _take(self, n: int, field_name: str) -> bytes:
        if n > len(self._data) - self._at:
            raise MailboxError("BAD_REPLY", f"{self._what}: {field_name} runs past the reply's end")
        chunk = self._data[self._at : self._at + n]
        self._at += n
        return chunk

    def unpack(self, fmt: str, field_name: str) -> Any:
        return struct.unpack(fmt, self._take(struct.calcsize(fmt), field_name))[0]

    def whole(self, field_name: str) -> int:
        value = self.unpack("<d", field_name)
        if not (value == value and float(value).is_integer()):
            raise MailboxError("BAD_REPLY", f"{self._what}: {field_name} is not a whole number")
        return int(value)

    def text(self, field_name: str) -> str:
        n = self.unpack("<H", field_name)
        if n > MAX_CONSUMES_TEXT_BYTES:
            raise MailboxError("BAD_REPLY", f"{self._what}: {field_name} of {n} bytes, over {MAX_CONSUMES_TEXT_BYTES}")
        try:
            return self._take(n, field_name).decode("utf-8")
        except UnicodeDecodeError:
            raise MailboxError("BAD_REPLY", f"{self._what}: {field_name} is not UTF-8") from None

    def blob(self, field_name: str) -> bytes:
        return self._take(self.unpack("<I", field_name), field_name)

    def end(self) -> None:
        if self._at != len(self._data):
            raise MailboxError("BAD_REPLY", f"{self._what}: {len(self._data) - self._at} bytes after its end")


def _consume_outcomes(payload: bytes, users: Sequence[str], client: "MailboxClient") -> List[Union[Optional[Message], MailboxError]]:
    """A `consumes` reply (src/bridge/reply-format.ts): u8 version, u16 count, then per consume
    kind 0 (empty), 1 (a message) or 2 (refused, code and message)."""
    r = _ReplyReader(payload, "consumes reply")
    version = r.unpack("<B", "version")
    if version != BATCH_FRAMING_VERSION:
        raise MailboxError("BAD_REPLY", f"consumes reply version {version}, expected {BATCH_FRAMING_VERSION}")
    count = r.unpack("<H", "count")
    if count != len(users):
        raise MailboxError("BAD_REPLY", f"{count} outcomes for {len(users)} consumes")
    out: List[Union[Optional[Message], MailboxError]] = []
    for user in users:
        kind = r.unpack("<B", "kind")
        if kind == 0:
            out.append(None)
        elif kind == 1:
            flags = r.unpack("<B", "flags")
            if flags & ~0b11:
                raise MailboxError("BAD_REPLY", f"consumes reply: unknown flag bits 0x{flags:x}")
            msg_id, seq, deliveries = r.text("id"), r.whole("seq"), r.whole("deliveries")
            enqueued_at, expires_at = r.whole("enqueuedAt"), r.whole("expiresAt")
            receipt = r.text("receipt") if flags & 1 else None
            lease_end = r.whole("leaseExpiresAt") if flags & 2 else None
            body = r.blob("body")
            out.append(Message(user, msg_id, seq, body, deliveries, enqueued_at, expires_at, receipt, lease_end, client))
        elif kind == 2:
            code, message = r.text("code"), r.text("message")
            out.append(MailboxError(code, message))
        else:
            raise MailboxError("BAD_REPLY", f"consumes reply: unknown outcome kind {kind}")
    r.end()
    return out


def _selector(key: str, params: dict) -> str:
    parts = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, str):
            _check_identifier(name, value)
        parts.append(f"{name}={value}")
    return f"{key}?{';'.join(parts)}" if parts else key


def _check_identifier(name: str, value: str) -> None:
    """Ids, request ids and receipts: what the key space accepts, and nothing that could change a selector's meaning."""
    if not (isinstance(value, str) and 1 <= len(value) <= MAX_IDENTIFIER_LENGTH and set(value) <= _IDENTIFIER_CHARS):
        raise MailboxError("BAD_REQUEST", f"{name} must be 1..128 characters of [A-Za-z0-9._:@+=/-]")


def _ms(name: str, value: Optional[int], minimum: int) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise MailboxError("BAD_REQUEST", f"{name} must be a whole number of ms >= {minimum}, got {value!r}")
    return value


def _decode_error(payload: bytes) -> MailboxError:
    text = payload.decode("utf-8", "replace")
    if text == ZENOH_QUERY_TIMEOUT:
        return MailboxError("TIMEOUT", "the query timed out before every node had answered: its outcome is unknown")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str) and isinstance(body.get("message"), str):
        leader = body.get("leader")
        return MailboxError(body["code"], body["message"], leader if isinstance(leader, str) else None)
    return MailboxError("INTERNAL", text[:200])


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise MailboxError("BAD_REPLY", "reply is not UTF-8 JSON") from None


def _json_object(data: bytes) -> dict:
    value = _json(data)
    if not isinstance(value, dict):
        raise MailboxError("BAD_REPLY", "reply is not a JSON object")
    return value


def _field(obj: dict, name: str, kind: type) -> Any:
    value = obj.get(name)
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MailboxError("BAD_REPLY", f"reply field {name!r} is not a {kind.__name__}")
    return value


def _expect(status: str, expected: str) -> None:
    if status != expected:
        raise MailboxError("BAD_REPLY", f"unexpected reply status {status!r} (expected {expected!r})")
