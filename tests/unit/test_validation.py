"""Input validation (C7) as pure functions."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factstr import EmptyAppend, EventFilter, EventQuery, InvalidInput, NewEvent
from factstr._validation import (
    MAX_EVENT_TYPE_LENGTH,
    MAX_EVENT_TYPES_PER_FILTER,
    MAX_FILTERS,
    MAX_PREDICATE_BYTES,
    MAX_PREDICATE_DEPTH,
    MAX_PREDICATES_PER_FILTER,
    MAX_SEQUENCE_NUMBER,
    _json_problem,
    _surely_plain,
    check_durable_name,
    check_events,
    check_expected_version,
    check_import_batch,
    check_json,
    check_name,
    check_positive_number,
    check_query,
    check_sequence_number,
    check_start,
    filters_from_json,
    filters_to_json,
    filters_to_query,
    sequence_number_from_text,
)


def test_empty_events_raise_empty_append_which_is_invalid_input() -> None:
    with pytest.raises(EmptyAppend):
        check_events([], 100)
    with pytest.raises(EmptyAppend):
        check_events((), 100)
    assert issubclass(EmptyAppend, InvalidInput)


def test_prepared_events_carry_compact_json() -> None:
    (prepared,) = check_events([NewEvent("a", {"k": [1, 2.5, None]})], 100)
    assert prepared.payload_json == '{"k":[1,2.5,null]}'


def test_error_messages_say_where() -> None:
    with pytest.raises(InvalidInput, match=r"events\[1\]\.payload\['k'\]\[0\]"):
        check_events([NewEvent("a", {}), NewEvent("a", {"k": [float("nan")]})], 100)


def test_deep_nesting_is_refused_rather_than_crashing() -> None:
    value: list[object] = []
    for _ in range(10_000):
        value = [value]
    with pytest.raises(InvalidInput, match="deeper"):
        check_json(value, "payload")


def test_shared_but_acyclic_values_are_fine() -> None:
    shared = {"x": 1}
    check_json({"a": shared, "b": shared, "c": [shared, shared]}, "payload")


def test_expected_version_zero_means_none() -> None:
    assert check_expected_version(0) is None
    assert check_expected_version(None) is None
    assert check_expected_version(4) == 4


@pytest.mark.parametrize("start", ["beginning", "end", 0, 12])
def test_start_values(start: object) -> None:
    assert check_start(start) == start


def test_durable_name_from_str_or_durable_stream() -> None:
    from factstr import DurableStream

    assert check_durable_name("n") == check_durable_name(DurableStream("n")) == "n"


def test_filters_round_trip_through_their_canonical_json() -> None:
    query = EventQuery(
        filters=[
            EventFilter(event_types=["b", "a", "a"], payload_predicates=[{"z": 1.0, "a": [2, 1, 2]}]),
            EventFilter(payload_predicates=[None, 3]),
        ]
    )
    filters = check_query(query).filters
    text = filters_to_json(filters)
    assert filters_from_json(text) == filters
    assert check_query(filters_to_query(filters)).filters == filters
    assert '"z":1' in text and '"a":[1,2]' in text


def test_a_query_matching_nothing_stays_matching_nothing_after_a_round_trip() -> None:
    filters = check_query(EventQuery(filters=[EventFilter(event_types=[])])).filters
    assert filters == ()
    assert check_query(filters_to_query(filters)).filters == ()
    assert filters_from_json(filters_to_json(filters)) == ()


# --- the character rule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["a", "x" * 256, "\U0001f600" * 256, "order-placed.v2", "with space", "ünïcødé ✓", "\u00a0nbsp", "\u200bzwsp"],
)
def test_event_types_that_follow_the_character_rule(name: str) -> None:
    assert check_name(name, "event_type", MAX_EVENT_TYPE_LENGTH) == name


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "empty"),
        ("x" * 257, "257 characters long, above the limit of 256"),
        ("a\x00", "NUL"),
        ("a\n", "control character (U+000A)"),
        ("\x1f", "control character (U+001F)"),
        ("\x7f", "control character (U+007F)"),
        ("a\x80", "control character (U+0080)"),
        ("a\x9f", "control character (U+009F)"),
        ("\ud800", "lone surrogate (U+D800)"),
        ("x\udfff", "lone surrogate (U+DFFF)"),
        ("\ud83d\ude00", "lone surrogate (U+D83D)"),  # a pair as two code points is not a scalar value either
    ],
)
def test_event_types_that_break_the_character_rule(name: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(says)) as raised:
        check_name(name, "event_type", MAX_EVENT_TYPE_LENGTH)
    str(raised.value).encode()  # the message never carries the refused character


def test_payload_strings_refuse_only_nul_and_lone_surrogates() -> None:
    check_json({"k\n": "\t\x01\x7f\x9f\U0010ffff"}, "payload")
    for bad, says in [("\x00", "NUL"), ("\ud800", "U+D800"), ("ok\udc00", "U+DC00")]:
        for payload in ({"v": bad}, {bad: 1}, [[bad]], bad):
            with pytest.raises(InvalidInput, match=re.escape(says)) as raised:
                check_json(payload, "payload")
            str(raised.value).encode()


def test_the_event_type_of_each_event_is_checked_by_the_rule() -> None:
    with pytest.raises(InvalidInput, match=r"events\[1\]\.event_type contains a lone surrogate"):
        check_events([NewEvent("a", {}), NewEvent("\ud800", {})], 100)


def test_durable_names_follow_the_rule_with_200_characters() -> None:
    assert check_durable_name("\U0001d11e" * 200) == "\U0001d11e" * 200
    for bad in ("x" * 201, "a\nb", "\ud800", ""):
        with pytest.raises(InvalidInput, match="durable stream name"):
            check_durable_name(bad)


# --- numbers ---------------------------------------------------------------------------------------------------


def test_sequence_numbers_end_at_2_63_minus_1() -> None:
    assert check_sequence_number(MAX_SEQUENCE_NUMBER, "n") == 2**63 - 1
    for bad in (2**63, 10**5000, -(10**5000)):
        with pytest.raises(InvalidInput, match=r"^n must"):
            check_sequence_number(bad, "n")
    with pytest.raises(InvalidInput, match=r"2\*\*63 - 1"):
        check_expected_version(2**63)
    with pytest.raises(InvalidInput):
        check_start(2**63)


@pytest.mark.parametrize(
    ("text", "number"), [("0", 0), ("42", 42), ("0" * 5000 + "7", 7), (str(2**63 - 1), 2**63 - 1), ("000", 0)]
)
def test_sequence_numbers_from_text(text: str, number: int) -> None:
    assert sequence_number_from_text(text, "start") == number


@pytest.mark.parametrize("text", [str(2**63), "9" * 5000, "1" + "0" * 19, "", "-1", "+1", " 1", "1.0", "²", "٣"])
def test_bad_sequence_numbers_from_text(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"^start must"):
        sequence_number_from_text(text, "start")


def test_an_import_batch_cannot_number_past_the_largest_sequence_number() -> None:
    from datetime import UTC, datetime

    from factstr import EventRecord

    now = datetime.now(UTC)
    last = EventRecord(2**63 - 1, now, "t", {})
    assert check_import_batch([last])[2] == 2**63 - 1
    beyond = [EventRecord(2**63 - 1, now, "t", {}), EventRecord(2**63, now, "t", {})]
    with pytest.raises(InvalidInput, match="sequence_number"):
        check_import_batch(beyond)


@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan"), 10**400, True, "1"])
def test_bad_timeouts_are_invalid_input(value: object) -> None:
    with pytest.raises(InvalidInput, match="busy_timeout must be a positive number"):
        check_positive_number(value, "busy_timeout")


# --- query limits ----------------------------------------------------------------------------------------------


def test_each_query_limit_holds_at_its_value_and_refuses_one_more() -> None:
    types = [f"t{n}" for n in range(MAX_EVENT_TYPES_PER_FILTER)]
    predicates = [{"k": n} for n in range(MAX_PREDICATES_PER_FILTER)]
    at_the_limit = [
        EventQuery(filters=[EventFilter(event_types=[f"t{n}"]) for n in range(MAX_FILTERS)]),
        EventQuery(filters=[EventFilter(event_types=types)]),
        EventQuery(filters=[EventFilter(payload_predicates=predicates)]),
        EventQuery(filters=[EventFilter(payload_predicates=[{"f": f, **p} for p in predicates]) for f in range(4)]),
        EventQuery(filters=[EventFilter(event_types=types, payload_predicates=predicates[:8])]),
    ]
    for query in at_the_limit:
        check_query(query)
    over = [
        (EventQuery(filters=[EventFilter(event_types=[f"t{n}"]) for n in range(MAX_FILTERS + 1)]), "33 filters"),
        (EventQuery(filters=[EventFilter(event_types=[*types, "x"])]), "129 event types"),
        (EventQuery(filters=[EventFilter(payload_predicates=[*predicates, {}])]), "65 payload predicates"),
        (
            EventQuery(
                filters=[
                    *(EventFilter(payload_predicates=[{"f": f, **p} for p in predicates]) for f in range(4)),
                    EventFilter(payload_predicates=[{"f": 4}]),
                ]
            ),
            "more than 256 payload predicates",
        ),
        (
            EventQuery(
                filters=[
                    EventFilter(event_types=types, payload_predicates=predicates[:8]),
                    EventFilter(event_types=["x"], payload_predicates=[{"x": 1}]),
                ]
            ),
            "more than 1024 (event type, payload predicate) pairs",
        ),
    ]
    for query, says in over:
        with pytest.raises(InvalidInput, match=re.escape(says)):
            check_query(query)


def test_predicate_depth_and_size_limits() -> None:
    deep: object = 1
    for _ in range(MAX_PREDICATE_DEPTH):
        deep = [deep]
    check_query(EventQuery(filters=[EventFilter(payload_predicates=[deep])]))
    with pytest.raises(InvalidInput, match="deeper than the limit of 32"):
        check_query(EventQuery(filters=[EventFilter(payload_predicates=[[deep]])]))
    fits = "x" * (MAX_PREDICATE_BYTES - 2)  # with its two quotes
    check_query(EventQuery(filters=[EventFilter(payload_predicates=[fits])]))
    with pytest.raises(InvalidInput, match="1025 bytes of JSON, above the limit of 1024"):
        check_query(EventQuery(filters=[EventFilter(payload_predicates=[fits + "x"])]))


def test_duplicates_count_once_toward_the_query_totals() -> None:
    same = [{"k": 1}] * MAX_PREDICATES_PER_FILTER
    check_query(EventQuery(filters=[EventFilter(payload_predicates=same, event_types=[f"t{f}"]) for f in range(32)]))


def test_a_filter_matching_everything_does_not_skip_checking_the_others() -> None:
    with pytest.raises(InvalidInput, match=r"filters\[1\]\.event_types\[0\]"):
        check_query(EventQuery(filters=[EventFilter(), EventFilter(event_types=["\ud800"])]))
    assert check_query(EventQuery(filters=[EventFilter(), EventFilter(event_types=["a"])])).filters is None


# The fast path that accepts common payloads without building a path must never accept what the exact rule
# refuses: generated values mix plain JSON with everything the rule refuses or must look at closely.
class _Text(str):
    pass


class _Mapping(dict):  # type: ignore[type-arg]
    pass


_odd_scalars = st.one_of(
    st.sampled_from(
        [float("nan"), float("inf"), -float("inf"), 2**63, -(2**63) - 1, 2**63 - 1, -(2**63), b"x", _Text("t")]
    ),
    st.sampled_from(["a\x00b", "\ud800", "Zürich", "\x1f", "\x7f", "日本"]),
    st.integers(),
    st.floats(),
    st.text(),
)
_values = st.recursive(
    st.one_of(st.none(), st.booleans(), _odd_scalars),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=4), st.sampled_from(["\x00", "\udc00", "ä"])), children, max_size=4),
        st.tuples(children),
        st.builds(_Mapping, st.dictionaries(st.text(max_size=3), children, max_size=2)),
        st.frozensets(st.integers(), max_size=2),
    ),
    max_leaves=20,
)


@settings(max_examples=1500, deadline=None)
@given(value=_values, max_depth=st.integers(min_value=0, max_value=4))
def test_the_fast_path_accepts_only_what_the_exact_rule_accepts(value: object, max_depth: int) -> None:
    exact = _json_problem(value, [], set(), max_depth)
    if _surely_plain(value, 0, max_depth):
        assert exact is None
    with pytest.raises(InvalidInput) if exact is not None else contextlib.nullcontext():
        check_json(value, "payload", max_depth)


def test_the_fast_path_hands_cycles_and_deep_nesting_to_the_exact_rule() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(InvalidInput, match="contains itself"):
        check_json(cycle, "payload")
    deep: object = "leaf"
    for _ in range(200):
        deep = {"k": deep}
    with pytest.raises(InvalidInput, match="nested deeper"):
        check_json(deep, "payload")


def test_an_accepted_event_type_is_not_trusted_in_another_type() -> None:
    check_events([NewEvent("Seen", {})], 1024)
    with pytest.raises(InvalidInput, match="must be a str"):
        check_events([NewEvent(_Text("Seen"), {})], 1024)
