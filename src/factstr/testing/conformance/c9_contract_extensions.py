"""Conformance tests of C9: the head in a query's snapshot, reads up to a position, conflicts that say what
changed, and idempotent appends (see docs/contract.md)."""

from __future__ import annotations

import pickle
import threading

import pytest

from ..._errors import CONFLICT_FACTS_LIMIT, ConditionalAppendConflict, InvalidInput
from ..._model import EventQuery
from ..._store import EventStore
from .._backends import Backend
from .._helpers import Recorder, event, numbers, query, seed

# --- C9.1 the head in the query's snapshot -----------------------------------------------------------------


def test_query_result_carries_the_head_of_the_log(store: EventStore) -> None:
    """C9.1: QueryResult.head is the log's head, whatever the query matched, bounded or limited."""
    assert store.query(EventQuery()).head is None
    seed(store)
    assert store.query(query(predicates=[{"account": "b"}])).head == 5
    assert store.query(query(types=["nothing-like-this"])).head == 5
    assert store.query(query(limit=0)).head == 5
    assert store.query(query(min_sequence_number=5)).head == 5
    assert store.query(query(backwards=True, limit=1, max_sequence_number=2)).head == 5


def test_query_head_comes_from_the_same_snapshot_as_the_records(store: EventStore) -> None:
    """C9.1: under concurrent appends of [tick, tock] batches, the newest tick is always head - 1."""
    done = threading.Event()

    def writer() -> None:
        for _ in range(150):
            store.append([event("tick", {"k": 1}), event("tock", {"k": 1})])
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while not done.is_set():
            ticks = store.query(query(types=["tick"]))
            if ticks.event_records:
                assert ticks.head == ticks.event_records[-1].sequence_number + 1
                assert ticks.current_context_version == ticks.head - 1
            newest = store.query(query(backwards=True, limit=1))
            assert newest.head == newest.current_context_version == newest.last_returned_sequence_number
    finally:
        thread.join()


# --- C9.2 reads up to a position ---------------------------------------------------------------------------


def test_max_sequence_number_is_an_inclusive_upper_bound(store: EventStore) -> None:
    """C9.2: records stop at max_sequence_number, which is included; the head is still the log's."""
    seed(store)
    result = store.query(query(max_sequence_number=3))
    assert numbers(result.event_records) == [1, 2, 3]
    assert (result.last_returned_sequence_number, result.current_context_version, result.head) == (3, 3, 5)
    assert numbers(store.query(query(min_sequence_number=1, max_sequence_number=4)).event_records) == [2, 3, 4]
    assert numbers(store.query(query(max_sequence_number=99)).event_records) == [1, 2, 3, 4, 5]


def test_bounded_context_version_is_the_newest_match_at_or_below_the_bound(store: EventStore) -> None:
    """C9.2: current_context_version of a bounded query is the context as it was at the bound."""
    seed(store)
    account_a = [{"account": "a"}]  # matches 1, 3, 5
    bounded = store.query(query(predicates=account_a, max_sequence_number=4))
    assert numbers(bounded.event_records) == [1, 3]
    assert bounded.current_context_version == 3
    limited = store.query(query(predicates=account_a, max_sequence_number=4, limit=1))
    assert (numbers(limited.event_records), limited.current_context_version) == ([1], 3)
    after = store.query(query(predicates=account_a, min_sequence_number=3, max_sequence_number=4))
    assert (after.event_records, after.current_context_version) == ([], 3)
    before_any = store.query(query(types=["deposited"], max_sequence_number=2))
    assert (before_any.event_records, before_any.current_context_version) == ([], None)
    nothing = store.query(query(max_sequence_number=0))
    assert (nothing.event_records, nothing.current_context_version, nothing.head) == ([], None, 5)


def test_backwards_read_starts_at_the_bound(store: EventStore) -> None:
    """C9.2: backwards with max_sequence_number returns the newest at or below the bound first."""
    seed(store)
    assert numbers(store.query(query(backwards=True, max_sequence_number=4, limit=2)).event_records) == [4, 3]
    matched = store.query(query(predicates=[{"account": "a"}], backwards=True, max_sequence_number=4, limit=1))
    assert (numbers(matched.event_records), matched.current_context_version) == ([3], 3)
    window = store.query(query(backwards=True, min_sequence_number=1, max_sequence_number=3))
    assert numbers(window.event_records) == [3, 2]


def test_bounded_query_is_refused_as_an_append_if_context(store: EventStore) -> None:
    """C9.2: a condition bounded in the past cannot protect a decision: InvalidInput, nothing committed."""
    seed(store)
    with pytest.raises(InvalidInput, match="max_sequence_number"):
        store.append_if([event("x")], query(predicates=[{"account": "a"}], max_sequence_number=4), 3)
    assert store.head() == 5


def test_bounded_query_is_refused_by_streams(store: EventStore) -> None:
    """C9.2: a stream delivers what is committed from now on; an upper bound is refused with InvalidInput."""
    recorder = Recorder()
    with pytest.raises(InvalidInput, match="max_sequence_number"):
        store.stream_to(query(max_sequence_number=3), recorder)
    with pytest.raises(InvalidInput, match="max_sequence_number"):
        store.stream_to_durable("bounded", query(max_sequence_number=3), recorder)
    assert store.durable_stream("bounded") is None


@pytest.mark.parametrize("bad", [-1, 2**63, "3", 1.0, True])
def test_bad_max_sequence_number_is_invalid_input(store: EventStore, bad: object) -> None:
    """C9.2, C7: max_sequence_number follows the rule of every sequence number."""
    with pytest.raises(InvalidInput, match="max_sequence_number"):
        store.query(EventQuery(max_sequence_number=bad))  # type: ignore[arg-type]


# --- C9.3 conflicts that say what changed -----------------------------------------------------------------


def test_conflict_carries_the_context_facts_committed_after_the_expected_version(store: EventStore) -> None:
    """C9.3: the facts in (expected, actual], oldest first, as a query returns them; nothing cut."""
    seed(store)
    account_a = query(predicates=[{"account": "a"}])  # matches 1, 3, 5
    with pytest.raises(ConditionalAppendConflict) as raised:
        store.append_if([event("withdrawn", {"account": "a"})], account_a, 1)
    conflict = raised.value
    assert (conflict.expected, conflict.actual, conflict.truncated) == (1, 5, False)
    assert conflict.facts == store.query(query(predicates=[{"account": "a"}], min_sequence_number=1)).event_records
    assert numbers(conflict.facts) == [3, 5]
    with pytest.raises(ConditionalAppendConflict) as from_nothing:
        store.append_if([event("withdrawn", {"account": "a"})], account_a, None)
    assert numbers(from_nothing.value.facts) == [1, 3, 5]
    assert store.head() == 5


def test_conflict_facts_are_empty_when_the_version_is_not_above_the_expected_one(store: EventStore) -> None:
    """C9.3: an expected version above the actual one (or a context with no facts) has nothing to show."""
    seed(store)
    with pytest.raises(ConditionalAppendConflict) as ahead:
        store.append_if([event("x")], query(predicates=[{"account": "a"}]), 9)
    assert (ahead.value.actual, ahead.value.facts, ahead.value.truncated) == (5, [], False)
    with pytest.raises(ConditionalAppendConflict) as empty:
        store.append_if([event("x")], query(types=["never-seen"]), 2)
    assert (empty.value.actual, empty.value.facts, empty.value.truncated) == (None, [], False)


def test_conflict_facts_stop_at_the_limit_and_say_so(store: EventStore) -> None:
    """C9.3: at most CONFLICT_FACTS_LIMIT facts, the oldest, and truncated tells that more were committed."""
    many = CONFLICT_FACTS_LIMIT + 3
    store.append([event("tick", {"n": n}) for n in range(many)])
    store.append([event("tock")])
    with pytest.raises(ConditionalAppendConflict) as raised:
        store.append_if([event("tick")], query(types=["tick"]), 2)
    conflict = raised.value
    assert (conflict.actual, conflict.truncated) == (many, True)
    assert numbers(conflict.facts) == list(range(3, 3 + CONFLICT_FACTS_LIMIT))
    with pytest.raises(ConditionalAppendConflict) as exactly:
        store.append_if([event("tick")], query(types=["tick"]), 3)
    assert (len(exactly.value.facts), exactly.value.truncated) == (CONFLICT_FACTS_LIMIT, False)


def test_conflict_with_facts_survives_pickling(store: EventStore) -> None:
    """C9.3: a conflict crosses process boundaries (multiprocessing, task queues) with its facts."""
    seed(store)
    with pytest.raises(ConditionalAppendConflict) as raised:
        store.append_if([event("x")], query(types=["closed"]), None)
    copy = pickle.loads(pickle.dumps(raised.value))
    assert (copy.expected, copy.actual, copy.facts, copy.truncated) == (None, 5, raised.value.facts, False)


# --- C9.4 idempotent appends ------------------------------------------------------------------------------


def test_append_with_a_known_idempotency_key_returns_the_original_result_and_writes_nothing(store: EventStore) -> None:
    """C9.4: the retry of a committed batch gets the same numbers; the log holds the batch once."""
    store.append([event("before")])
    batch = [event("paid", {"order": 17}), event("shipped", {"order": 17})]
    first = store.append(batch, idempotency_key="order-17:payment")
    store.append([event("after")])
    again = store.append(batch, idempotency_key="order-17:payment")
    assert again == first == store.append(list(batch), idempotency_key="order-17:payment")
    assert (first.first_sequence_number, first.last_sequence_number, first.committed_count) == (2, 3, 2)
    assert store.head() == 4
    assert [r.event_type for r in store.query(EventQuery()).event_records] == ["before", "paid", "shipped", "after"]


def test_known_idempotency_key_wins_over_a_condition_that_would_now_conflict(store: EventStore) -> None:
    """C9.4: append_if with a known key returns the original result, before the condition is looked at."""
    context = query(types=["reserved"], predicates=[{"seat": "4A"}])
    first = store.append_if([event("reserved", {"seat": "4A"})], context, None, idempotency_key="seat-4A")
    again = store.append_if([event("reserved", {"seat": "4A"})], context, None, idempotency_key="seat-4A")
    assert again == first
    assert store.head() == 1
    with pytest.raises(ConditionalAppendConflict):
        store.append_if([event("reserved", {"seat": "4A"})], context, None, idempotency_key="seat-4A-bis")
    assert store.head() == 1


def test_a_conflict_stores_no_idempotency_key(store: EventStore) -> None:
    """C9.4: only a committed batch keeps its key; after a conflict the same key may commit."""
    store.append([event("reserved", {"seat": "1"})])
    context = query(types=["reserved"])
    with pytest.raises(ConditionalAppendConflict):
        store.append_if([event("reserved", {"seat": "2"})], context, None, idempotency_key="k")
    committed = store.append_if([event("reserved", {"seat": "2"})], context, 1, idempotency_key="k")
    assert committed.first_sequence_number == 2


def test_same_idempotency_key_with_other_events_is_invalid_input(store: EventStore) -> None:
    """C9.4: a key names one batch; other events under it are refused and nothing is committed."""
    store.append([event("paid", {"order": 1})], idempotency_key="order-1")
    for other in (
        [event("paid", {"order": 2})],
        [event("refunded", {"order": 1})],
        [event("paid", {"order": 1}), event("paid", {"order": 1})],
    ):
        with pytest.raises(InvalidInput, match="idempotency key"):
            store.append(other, idempotency_key="order-1")
    with pytest.raises(InvalidInput, match="idempotency key"):
        store.append_if([event("paid", {"order": 2})], query(types=["paid"]), 1, idempotency_key="order-1")
    assert store.head() == 1


@pytest.mark.parametrize("bad", ["", "a" * 129, "has space", "tab\t", "é", "new\nline", 17, b"bytes"])
def test_bad_idempotency_key_is_invalid_input(store: EventStore, bad: object) -> None:
    """C9.4, C7: 1 to 128 letters, digits or - _ . : ~ + / =; anything else is refused before anything is written."""
    with pytest.raises(InvalidInput, match="idempotency_key"):
        store.append([event("x")], idempotency_key=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="idempotency_key"):
        store.append_if([event("x")], query(), None, idempotency_key=bad)  # type: ignore[arg-type]
    assert store.head() is None


def test_every_allowed_idempotency_key_character_is_accepted(store: EventStore) -> None:
    """C9.4: UUIDs, base64 and the documented punctuation are keys."""
    for key in ("3f2b8a0e-5c1d-4f7a-9b2e-0c6d1e2f3a4b", "aGVsbG8+/w==", "a_b.c:d~e", "Z" * 128):
        first = store.append([event("k", {"key": key})], idempotency_key=key)
        assert store.append([event("k", {"key": key})], idempotency_key=key) == first


def test_concurrent_appends_with_one_idempotency_key_commit_once(store: EventStore) -> None:
    """C9.4: appends racing with the same key (grouped into one commit or not) write the batch once."""
    barrier = threading.Barrier(8)
    results: list[object] = []
    lock = threading.Lock()

    def appender() -> None:
        barrier.wait()
        result = store.append([event("once", {"n": 1}), event("once", {"n": 2})], idempotency_key="race")
        with lock:
            results.append(result)

    threads = [threading.Thread(target=appender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(map(repr, results))) == 1
    assert store.head() == 2


def test_idempotency_keys_are_shared_by_every_handle_and_survive_reopening(backend: Backend) -> None:
    """C9.4: a key is stored with the log, so another handle (another process) and a reopened store know it."""
    if not backend.persistent:
        pytest.skip("a memory store's keys live as long as the store object")
    store = backend.open()
    first = store.append([event("paid")], idempotency_key="kept")
    other = backend.open()
    assert other.append([event("paid")], idempotency_key="kept") == first
    store.close()
    reopened = backend.open()
    assert reopened.append([event("paid")], idempotency_key="kept") == first
    assert reopened.head() == 1


__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
