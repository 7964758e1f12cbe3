"""The words of the SQLite term index: what a contained predicate needs is always in the payload."""

from __future__ import annotations

import hashlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from factstr._matching import json_contains
from factstr._model import JSON
from factstr.sqlite import _terms
from factstr.sqlite._terms import payload_document, payload_words, predicate_words

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 3),
        st.sampled_from([1.0, 2.5, -0.0, 2**63 - 1]),
        st.sampled_from(["x", "y", "", '"', "[", "=s"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.sampled_from(["a", "b", '"', "a[", "="]), children)
    ),
    max_leaves=8,
)


@given(json_values, json_values)
def test_the_words_of_a_contained_predicate_are_words_of_the_payload(predicate: JSON, payload: JSON) -> None:
    """What the index relies on: containment implies that every word of the predicate is present."""
    if json_contains(predicate, payload):
        assert set(predicate_words(predicate)) <= set(payload_words(payload))


def test_words_do_not_confuse_kinds_or_places() -> None:
    def words(value: JSON) -> set[str]:
        return set(payload_words(value))

    assert words({"a": 1}) == words({"a": 1.0})
    assert words({"a": 1}) != words({"a": True})
    assert words({"a": 0}) != words({"a": False})
    assert words({"a": "1"}) != words({"a": 1})
    assert words({"a": None}) != words({"a": "None"})
    assert words({"0": "x"}) != words(["x"])
    assert words({"a": ["x"]}) != words({"a[": "x"})  # a key's JSON string ends before the array step
    assert words({"a": {"b": "x"}}) != words({'a"b': "x"})
    assert words({"a": "=sx"}) != words({"a=sx": ""})
    assert words([["x"]]) != words(["x"])  # nesting depth is part of the path


def test_the_words_are_stable_because_they_are_stored_in_the_file() -> None:
    # Schema version 2 stores these words; a change here needs a migration that re-indexes every payload.
    assert payload_words({"a": 1}) == [hashlib.blake2b(b'"a"=n1', digest_size=8).hexdigest()]
    assert payload_words({"a": 1}) == ["e86a9e682886ecb7"]
    assert payload_words({"k": ["x", {"n": None}], "b": True}) == [
        hashlib.blake2b(b'"k"[=sx', digest_size=8).hexdigest(),
        hashlib.blake2b(b'"k"["n"=z', digest_size=8).hexdigest(),
        hashlib.blake2b(b'"b"=b1', digest_size=8).hexdigest(),
    ]
    assert payload_words({"x": 2.5, "y": -(2**63)}) == [
        hashlib.blake2b(b'"x"=n2.5', digest_size=8).hexdigest(),
        hashlib.blake2b(b'"y"=n-9223372036854775808', digest_size=8).hexdigest(),
    ]


def test_a_document_is_the_words_separated_by_spaces_and_a_predicate_lists_each_word_once() -> None:
    payload = {"a": [1, 1.0, 1], "b": "x"}
    assert payload_document(payload) == " ".join(payload_words(payload))
    assert len(payload_words(payload)) == 4
    assert len(predicate_words(payload)) == 2
    assert predicate_words({}) == () and predicate_words({"a": []}) == ()
    assert payload_document({}) == ""


def test_long_values_are_hashed_but_not_remembered() -> None:
    long_text = "v" * 10_000
    first = payload_words({"a": long_text})
    assert first == payload_words({"a": long_text})
    remembered = [path + _terms._leaf(value) for path, known in _terms._values.items() for value in known]
    assert all(len(term) <= _terms._CACHED_TERM_BYTES for term in [*remembered, *_terms._leaves])
    assert all(len(key) <= _terms._CACHED_TERM_BYTES for key in _terms._keys.values())


def _uncached_words(value: JSON, path: bytes = b"") -> list[str]:
    """The words as the file format defines them, computed the slow way: no cache, one hash per term."""
    if isinstance(value, dict):
        return [word for key, sub in value.items() for word in _uncached_words(sub, path + msgspec.json.encode(key))]
    if isinstance(value, list):
        return [word for element in value for word in _uncached_words(element, path + b"[")]
    if value is None:
        leaf = b"=z"
    elif isinstance(value, bool):
        leaf = b"=b1" if value else b"=b0"
    elif isinstance(value, str):
        leaf = b"=s" + value.encode()
    elif isinstance(value, float) and value.is_integer():
        leaf = b"=n" + str(int(value)).encode()
    else:
        leaf = b"=n" + repr(value).encode()
    return [hashlib.blake2b(path + leaf, digest_size=8).hexdigest()]


@given(st.lists(json_values, min_size=1, max_size=4))
def test_remembered_words_are_the_words_of_the_format(payloads: list[JSON]) -> None:
    """The cache is keyed by values, where True == 1 == 1.0: it must still give each term its own word."""
    for _ in range(2):  # the second round answers from the cache
        for payload in payloads:
            assert payload_words(payload) == _uncached_words(payload)


def test_booleans_and_numbers_under_one_key_keep_their_own_words() -> None:
    for value in (1, True, 1.0, 0, False, 0.0, -0.0, None, "1"):
        assert payload_words({"k": value}) == _uncached_words({"k": value})
        assert payload_words({"k": [value]}) == _uncached_words({"k": [value]})


def test_a_full_cache_is_forgotten_and_words_stay_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_terms, "_CACHE_LIMIT", 8)
    payloads = [{"n": n, "s": f"v{n % 3}", "b": n % 2 == 0} for n in range(40)]
    for payload in payloads + payloads:
        assert payload_words(payload) == _uncached_words(payload)
    assert _terms._remembered <= 8
