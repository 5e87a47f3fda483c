#!/usr/bin/env python3
"""
moto_server for the local stack, with moto's EventBridge -> SQS hot spots patched (issue 13;
measurements in docs/performance.md, benchmark in bench/eventsEmulator.py).

Same command line as `moto_server` (`-H 127.0.0.1 -p 15000`): it patches a few moto internals and
then runs moto's own `main()`. Measured on moto 5.2.5 (the newest release; no setting of moto
removes these costs):

1. events: every event delivered to a rule's target goes through EventTemplateParser.parse
   (moto/events/utils.py), which calls `jsonpath_ng.ext.parse()` for 8 input paths, and each call
   builds a new PLY yacc parser (~1 ms each): ~7 ms of CPU per event per matching rule, the
   archive's rule included, whatever the queue holds. Patch: memoize `jsonpath_ng.ext.parse`
   (a parsed path is an immutable tree; the output is unchanged); the event's time read with
   `time.time()` instead of datetime arithmetic (same value).
2. sqs: SQSBackend.send_message reads `queue.attributes` (moto/sqs/models.py, for
   ContentBasedDeduplication), and that property computes ApproximateNumberOfMessages,
   ...Delayed and ...NotVisible: three passes over every message in the queue, each message reading
   the clock through datetime. So every delivery costs O(queue size): a PutEvents of 10 entries
   went from ~0.2 s to many seconds as an undrained queue grew. Patch: the three counters are not
   computed inside send_message (nothing there reads them), and are computed in one pass with one
   clock read elsewhere; the attribute names' camelCase -> snake_case mapping is memoized.
3. sqs: ReceiveMessage calls is_message_valid_based_on_retention_period per returned message, which
   calls get_queue_attributes -> `queue.attributes` (O(queue size) again), and Queue.messages /
   Message.visible / Message.delayed read the clock through datetime per message. Patch: read the
   retention period directly; one clock read per scan; `time.time()` instead of datetime
   arithmetic (same value).
4. events: PutEvents iterates the bus's rules (`event_bus.rules.values()`, an OrderedDict) while
   another request's PutRule/DeleteRule may change them: "RuntimeError: OrderedDict mutated during
   iteration", a 500 (153 of them in one afternoon of the shared stack's log, when PutEvents took
   seconds). Patch: the bus's rules hand out copies to iterate.
5. sqs: Queue.delete_message scans the queue twice and rebuilds the list per receipt handle. Patch:
   one scan from the head (where just-received messages are), delete in place.
6. Bounded state for a day of development (moto keeps everything forever):
   - an archive keeps its last CDC_MOTO_ARCHIVE_MAX_EVENTS events (default 10000; 0 = unbounded);
     only DescribeArchive's EventCount and StartReplay see the difference;
   - a queue drops its oldest messages beyond CDC_MOTO_QUEUE_MAX_MESSAGES (default 50000;
     0 = unbounded) and messages older than its MessageRetentionPeriod (as SQS does; moto never
     expires them);
   - the set of deleted receipt handles (for idempotent DeleteMessage) is cleared past 100000.

CDC_MOTO_PATCHES=0 runs moto unpatched (for comparisons). Each patch checks that the moto internal
it replaces is there; when one is not (another moto version), it is skipped with a warning on
stderr and moto runs as is.
"""

from __future__ import annotations

import collections
import functools
import os
import sys
import threading
import time


def _warn(msg: str) -> None:
    print(f"[motoServer] {msg}", file=sys.stderr, flush=True)


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw != "" else default
    except ValueError:
        _warn(f"{name}={raw!r} is not an integer; using {default}")
        return default


def _now() -> float:
    return time.time()


def _now_ms() -> float:
    return time.time() * 1000.0


def patch_events_jsonpath() -> str:
    import jsonpath_ng.ext

    if getattr(jsonpath_ng.ext.parse, "cache_info", None):
        return "already patched"
    # moto imports it at call time (`from jsonpath_ng.ext import parse`), so the module attribute is what counts.
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=4096)(jsonpath_ng.ext.parse)
    from moto.events import models as ev

    # The event's time and ingestion-time: same value, without datetime arithmetic.
    orig_unix_time = ev.unix_time
    ev.unix_time = lambda dt=None: _now() if dt is None else orig_unix_time(dt)
    return "jsonpath_ng.ext.parse memoized"


class _SnapshotRules(collections.OrderedDict):
    """A bus's rules whose values()/items() are copies: iterating them never sees a concurrent change."""

    def values(self):  # type: ignore[no-untyped-def, override]
        return list(super().values())

    def items(self):  # type: ignore[no-untyped-def, override]
        return list(super().items())


def patch_events_rules() -> str:
    from moto.events import models as ev

    if "rules" not in ev.EventBus("123456789012", "us-east-1", "probe").__dict__:
        raise AttributeError("EventBus.rules")
    orig_init = ev.EventBus.__init__

    @functools.wraps(orig_init)
    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        orig_init(self, *args, **kwargs)
        self.rules = _SnapshotRules(self.rules)

    ev.EventBus.__init__ = __init__
    return "bus rules iterated as snapshots"


def patch_events_archive(max_events: int) -> str:
    from moto.events import models as ev

    if max_events <= 0:
        return "archive unbounded"
    if not hasattr(ev, "Archive") or not hasattr(ev.Archive, "__init__"):
        raise AttributeError("moto.events.models.Archive")
    orig_init = ev.Archive.__init__

    @functools.wraps(orig_init)
    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        orig_init(self, *args, **kwargs)
        self.events = collections.deque(self.events, maxlen=max_events)

    ev.Archive.__init__ = __init__
    return f"archives keep their last {max_events} events"


def patch_sqs(max_messages: int, max_deleted_handles: int = 100_000) -> str:
    from moto.sqs import models as sq

    Queue, Message, SQSBackend = sq.Queue, sq.Message, sq.SQSBackend
    for owner, name in [
        (sq, "unix_time"),
        (sq, "unix_time_millis"),
        (sq, "camelcase_to_underscores"),
        (Queue, "attributes"),
        (Queue, "messages"),
        (Queue, "approximate_number_of_messages"),
        (Queue, "approximate_number_of_messages_delayed"),
        (Queue, "approximate_number_of_messages_not_visible"),
        (Queue, "add_message"),
        (Queue, "delete_message"),
        (Message, "visible"),
        (Message, "delayed"),
        (SQSBackend, "send_message"),
        (SQSBackend, "is_message_valid_based_on_retention_period"),
    ]:
        if not hasattr(owner, name):
            raise AttributeError(f"{owner.__name__}.{name}")
    for attr in ("visible_at", "delayed_until", "receipt_handle", "_old_receipt_handles", "sent_timestamp"):
        if attr not in Message("probe", "probe").__dict__:
            raise AttributeError(f"Message.{attr}")

    # --- clock: same values as moto.core.utils, without datetime arithmetic -----------------
    orig_unix_time, orig_unix_time_millis = sq.unix_time, sq.unix_time_millis
    sq.unix_time = lambda dt=None: _now() if dt is None else orig_unix_time(dt)
    sq.unix_time_millis = lambda dt=None: _now_ms() if dt is None else orig_unix_time_millis(dt)
    Message.visible = property(lambda self: _now_ms() > self.visible_at)
    Message.delayed = property(lambda self: _now_ms() < self.delayed_until)

    # Queue.attributes maps each attribute name on every call (a char-by-char loop): memoize it.
    sq.camelcase_to_underscores = functools.lru_cache(maxsize=1024)(sq.camelcase_to_underscores)

    # --- the message scans: one clock read, one pass ----------------------------------------
    def messages(self):  # type: ignore[no-untyped-def]
        now = _now_ms()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    Queue.messages = property(messages)

    in_send = threading.local()

    def counts(self):  # type: ignore[no-untyped-def]
        """(visible, delayed, not visible) in one pass; zeros inside send_message, which never reads them."""
        if getattr(in_send, "depth", 0):
            return 0, 0, 0
        now = _now_ms()
        visible = delayed = invisible = 0
        for m in self._messages:
            is_visible = now > m.visible_at
            is_delayed = now < m.delayed_until
            if is_delayed:
                delayed += 1
            if not is_visible:
                invisible += 1
            elif not is_delayed:
                visible += 1
        return visible, delayed, invisible

    Queue.approximate_number_of_messages = property(lambda self: counts(self)[0])
    Queue.approximate_number_of_messages_delayed = property(lambda self: counts(self)[1])
    Queue.approximate_number_of_messages_not_visible = property(lambda self: counts(self)[2])

    orig_send = SQSBackend.send_message

    @functools.wraps(orig_send)
    def send_message(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        in_send.depth = getattr(in_send, "depth", 0) + 1
        try:
            return orig_send(self, *args, **kwargs)
        finally:
            in_send.depth -= 1

    SQSBackend.send_message = send_message

    def is_message_valid_based_on_retention_period(self, queue_name, message):  # type: ignore[no-untyped-def]
        queue = self.get_queue(queue_name)
        return int(queue.message_retention_period) + message.sent_timestamp / 1000 > _now()

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period

    # --- DeleteMessage: one scan from the head, in place ------------------------------------
    def delete_message(self, receipt_handle):  # type: ignore[no-untyped-def]
        if receipt_handle in self.deleted_messages:
            return  # already deleted: SQS accepts it again
        for i, m in enumerate(self._messages):
            if m.receipt_handle == receipt_handle or receipt_handle in m._old_receipt_handles:
                break
        else:
            raise sq.ReceiptHandleIsInvalid()
        with self._messages_lock:
            # Another thread may have changed the list since the scan: remove by identity.
            try:
                if self._messages[i] is m:
                    del self._messages[i]
                else:
                    self._messages.remove(m)
            except (IndexError, ValueError):
                pass
        self.pending_messages.discard(m)
        if len(self.deleted_messages) > max_deleted_handles:
            self.deleted_messages.clear()
        self.deleted_messages.update(h for h in [m.receipt_handle, *m._old_receipt_handles] if h)

    Queue.delete_message = delete_message

    # --- bounded queues: retention period and a message cap, oldest first -------------------
    orig_add = Queue.add_message
    warned: set[str] = set()

    @functools.wraps(orig_add)
    def add_message(self, message):  # type: ignore[no-untyped-def]
        orig_add(self, message)
        msgs = self._messages
        if not msgs:
            return
        retention_ms = int(self.message_retention_period) * 1000
        now = _now_ms()
        head = msgs[0]
        too_old = head.sent_timestamp is not None and head.sent_timestamp + retention_ms < now
        too_many = 0 < max_messages < len(msgs)
        if not (too_old or too_many):
            return
        with self._messages_lock:
            drop = 0
            while drop < len(msgs) and (
                (max_messages and len(msgs) - drop > max_messages)
                or (msgs[drop].sent_timestamp is not None and msgs[drop].sent_timestamp + retention_ms < now)
            ):
                self._pending_messages.discard(msgs[drop])
                drop += 1
            if drop:
                del msgs[:drop]
        if drop and too_many and self.name not in warned:
            warned.add(self.name)
            _warn(
                f"queue {self.name} holds more than {max_messages} messages: dropping the oldest "
                "(CDC_MOTO_QUEUE_MAX_MESSAGES; nobody drains this queue?)"
            )

    Queue.add_message = add_message
    cap = f"{max_messages} messages" if max_messages > 0 else "no message cap"
    return f"sqs send/receive/delete O(1) in the queue size; queues: retention period and {cap}"


def apply_patches() -> None:
    if os.environ.get("CDC_MOTO_PATCHES", "1") == "0":
        _warn("CDC_MOTO_PATCHES=0: running moto unpatched")
        return
    import moto

    applied = []
    for name, patch in [
        ("events jsonpath", patch_events_jsonpath),
        ("events rules", patch_events_rules),
        ("events archive", lambda: patch_events_archive(_int_env("CDC_MOTO_ARCHIVE_MAX_EVENTS", 10_000))),
        ("sqs", lambda: patch_sqs(_int_env("CDC_MOTO_QUEUE_MAX_MESSAGES", 50_000))),
    ]:
        try:
            applied.append(patch())
        except (AttributeError, ImportError) as err:
            _warn(f"moto {moto.__version__}: patch '{name}' skipped, {err!r} not found (moto internals changed?)")
    _warn(f"moto {moto.__version__} patched: " + "; ".join(applied))


def main() -> None:
    apply_patches()
    from moto.server import main as moto_main

    sys.argv[0] = "moto_server"
    sys.exit(moto_main())


if __name__ == "__main__":
    main()
