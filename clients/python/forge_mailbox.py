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
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, List, Optional, Protocol, Sequence, Union

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
        DEFAULT_ATTEMPT_TIMEOUT). transport, sleep, clock: for tests."""
        if token is not None and token_file is not None:
            raise ValueError("give token or token_file, not both")
        self._token = read_token_file(token_file) if token_file is not None else token
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
        status, payload, _ = self._request("put", f"{self._user_key(user)}/put", params, data)
        _expect(status, "put")
        return _put_result(payload)

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
        status, payload, meta = self._consume(user, wait_ms, request_id, lease_ms, dead_letter, None)
        return self._message_or_none(user, status, payload, meta)

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
        replies = self._consume(user, wait_ms, request_id, lease_ms, dead_letter, count)
        messages = [self._message_or_none(user, *reply) for reply in replies]
        return [m for m in messages if m is not None]

    def receive_batch(self, user: str, max: int, lease_ms: int = 30_000, wait_ms: Optional[int] = None) -> List[Message]:
        """A leased consume_batch: each message comes back unless acked within lease_ms."""
        return self.consume_batch(user, max, wait_ms=wait_ms, lease_ms=lease_ms)

    def _consume(self, user: str, wait_ms: Optional[int], request_id: Union[str, bool, None], lease_ms: Optional[int], dead_letter: bool, count: Optional[int]):
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
        batch = count is not None
        if wait:
            return self._long_poll(op, user, params, wait, batch)
        return self._request(op, f"{self._user_key(user)}/consume", params, every_reply=batch)

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
    ):
        """Sends until an answer, a non-retryable error or the deadline; returns (status, payload, meta).
        extra_timeout: added to the request's deadline; attempt_extra: added to each attempt's
        timeout (a long poll's wait, what is left of it). every_reply: a batch request, answered
        with one reply per message: returns the list of them, in order."""
        deadline = self._clock() + self._timeout + extra_timeout
        attachment = None if self._token is None else json.dumps({"token": self._token})
        attempt = 0
        unknown = False  # whether an earlier attempt may have been carried out
        while True:
            if self.closed:
                raise MailboxError("UNAVAILABLE", "the client is closed")
            selector = _selector(key() if callable(key) else key, params() if callable(params) else params)
            left = deadline - self._clock()
            try:
                timeout = max(min(left, attempt_extra() + self._attempt_timeout), 0.001)
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
    p = _json_object(payload)
    return PutResult(id=_field(p, "id", str), seq=_field(p, "seq", int), duplicate=_field(p, "duplicate", bool))


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


def _json_object(data: bytes) -> dict:
    try:
        value = json.loads(data)
    except ValueError:
        raise MailboxError("BAD_REPLY", "reply is not UTF-8 JSON") from None
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
