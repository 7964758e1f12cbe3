"""The posting index's vocabulary: term hashes of payloads and predicates, type keys, and context specs.

A term is one scalar leaf of a JSON document with the path that leads to it (:func:`factstr._matching.payload_leaves`
defines them: every array step is the same marker, because array containment ignores positions). If a predicate is
contained in a payload, every term of the predicate is a term of the payload; the converse does not hold, so every
candidate the index yields is rechecked against the predicate itself.

The ``postings`` table holds one row per (term, type key, sequence number): the hash of each distinct term of an
event's payload, the hash of its event type, and its number. A context "events of type T whose payload contains P"
is then a backward walk of the btree on ``(term, type_key, seq)``: the newest candidate is its first entry.

The hashes are part of the schema's format (rows written today are looked up by hashes computed tomorrow, in other
processes and on other machines), so they are defined here and nowhere else: BLAKE2b with a personalisation of its
own, over an unambiguous encoding. ``tests/postgres/test_terms.py`` pins known values.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

import msgspec

from .._matching import Filters
from .._model import JSON
from ._jsonb import jsonb_text

_encode = msgspec.json.Encoder().encode
_blake2b = hashlib.blake2b
_from_bytes = int.from_bytes
_TERM_PERSON = b"factstr-pg-term"
_TYPE_PERSON = b"factstr-pg-type"

# Terms of top-level scalars, by (key, scalar text): most payloads repeat a few values (an account, a currency),
# so most of their terms are found here. Cleared when full, so its size stays bounded.
_CACHE_LIMIT = 65_536
_top_level_terms: dict[tuple[str, str], int] = {}
_top_level_string_terms: dict[tuple[str, str], int] = {}  # by (key, the string itself)


def scalar_text(value: JSON) -> str:
    """The text of a scalar leaf: the kind and the value, with 1 and 1.0 the same number (C2)."""
    if isinstance(value, str):
        return "s" + value
    if isinstance(value, bool):
        return "b1" if value else "b0"
    if isinstance(value, int):
        return f"n{value}"
    if isinstance(value, float):
        return "n" + (str(int(value)) if value.is_integer() else repr(value))
    return "z"


def term_hash(path: tuple[str | int, ...], scalar: str) -> int:
    """The signed 64-bit hash of one term (the path of a leaf and the text of its scalar)."""
    hasher = _term_hasher.copy()  # a copy of a keyed, personalised state costs less than building one
    hasher.update(_encode([*path, scalar]))
    return _from_bytes(hasher.digest(), "big", signed=True)


_term_hasher = _blake2b(digest_size=8, person=_TERM_PERSON)


def _top_level_term(key: str, scalar: str) -> int:
    """``term_hash((key,), scalar)``, from a state that has hashed the key's part of the encoding already."""
    hasher = _key_hashers.get(key)
    if hasher is None:
        if len(_key_hashers) >= _CACHE_LIMIT:
            _key_hashers.clear()
        # The encoding of [key, scalar] is that of [key, followed by the scalar's and "]".
        hasher = _key_hashers[key] = _term_hasher.copy()
        hasher.update(_encode([key])[:-1] + b",")
    hasher = hasher.copy()
    hasher.update(_encode(scalar) + b"]")
    return _from_bytes(hasher.digest(), "big", signed=True)


_key_hashers: dict[str, Any] = {}


@lru_cache(maxsize=4096)
def type_key(event_type: str) -> int:
    """The signed 64-bit hash of an event type, as the ``type_key`` column of the postings holds it."""
    digest = _blake2b(event_type.encode(), digest_size=8, person=_TYPE_PERSON).digest()
    return _from_bytes(digest, "big", signed=True)


def payload_terms(payload: JSON) -> list[int]:
    """The distinct term hashes of a payload: what the postings hold for it, one row each."""
    if type(payload) is not dict:
        return list({term_hash(path, text) for path, text in leaves(payload)})
    terms: set[int] = set()
    cache = _top_level_terms
    strings = _top_level_string_terms
    for key, value in payload.items():
        kind = type(value)
        if kind is str:
            # The commonest leaf, looked up by its value itself (a string equals no other kind of value).
            found = strings.get((key, value))
            if found is None:
                if len(strings) >= _CACHE_LIMIT:
                    strings.clear()
                found = strings[(key, value)] = _top_level_term(key, "s" + value)
            terms.add(found)
            continue
        if kind is dict or kind is list:
            terms.update(term_hash(path, text) for path, text in leaves(value, (key,)))
            continue
        text = scalar_text(value)
        found = cache.get((key, text))
        if found is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            found = cache[(key, text)] = _top_level_term(key, text)
        terms.add(found)
    return list(terms)


def predicate_terms(predicate: JSON) -> list[int]:
    """The term hashes a payload must all have to contain ``predicate``, sorted (empty: no scalar leaf)."""
    return sorted({term_hash(path, text) for path, text in leaves(predicate)})


def leaves(value: JSON, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    """Every scalar leaf of a JSON value as (path, scalar text); an array step is the marker 0 (an int, never a
    key), so the path of a leaf does not depend on positions in arrays."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    pending: list[tuple[tuple[str | int, ...], JSON]] = [(path, value)]
    while pending:
        where, item = pending.pop()
        kind = type(item)
        if kind is dict:
            pending.extend(((*where, key), sub) for key, sub in item.items())
        elif kind is list:
            step = (*where, _ARRAY_STEP)
            pending.extend((step, sub) for sub in item)
        else:
            found.append((where, scalar_text(item)))
    return found


_ARRAY_STEP = 0


def context_spec(filters: Filters) -> str:
    """The JSON text that the server functions ``context_version`` and ``matching_events`` take for ``filters``.

    ``null`` means every event; otherwise an array of *sources*, whose matches together are the query's:
    ``{"y": types}`` matches the events of those types (a walk of the ``(event_type, seq)`` index per type);
    ``{"y": types, "k": their keys, "p": [predicate], "a": container?, "t": terms}`` walks, for each type, the
    postings of the predicate's terms and rechecks each candidate against the type and the predicate (wrapped in
    an array, so that a JSON ``null`` predicate stays a value); without ``"y"`` and ``"k"`` it does so for every
    type the terms occur with; without ``"t"`` (a predicate with no scalar leaf, such as ``{}``) it walks the
    types' events, or the whole log, rechecking each.

    Remembered by the filters' JSON (equal JSON, equal filters: ints and floats, true and 1 encode apart), since
    a feature asks about the same few contexts over and over; cleared when full.
    """
    if filters is None:
        return "null"
    key = _encode(filters)
    spec = _specs.get(key)
    if spec is None:
        if len(_specs) >= _CACHE_LIMIT:
            _specs.clear()
        spec = _specs[key] = _context_spec(filters)
    return spec


_specs: dict[bytes, str] = {}


def _context_spec(filters: Filters) -> str:
    """Build the spec of :func:`context_spec` (not remembered)."""
    if filters is None:
        return "null"
    whole_types: dict[str, None] = {}  # types a filter without predicates matches whole
    any_type: set[str] = set()  # predicates (as JSON text) that a filter without types carries
    for flt in filters:
        if flt.predicates is None:
            whole_types.update(dict.fromkeys(flt.types or ()))
        elif flt.types is None:
            any_type.update(jsonb_text(predicate) for predicate in flt.predicates)
    sources: dict[str, None] = {}  # distinct, in order
    if whole_types:
        sources[f'{{"y":{_encode(list(whole_types)).decode()}}}'] = None
    for flt in filters:
        if flt.predicates is None:
            continue
        types = None
        if flt.types is not None:
            types = [event_type for event_type in flt.types if event_type not in whole_types]
            if not types:
                continue  # every type of this filter is matched whole already
        for predicate in flt.predicates:
            text = jsonb_text(predicate)
            if types is not None and text in any_type:
                continue  # the same predicate for every type already covers this one
            shape = f'"p":[{text}],"a":{"true" if type(predicate) in (dict, list) else "false"}'
            terms = predicate_terms(predicate)
            if terms:
                shape += f',"t":{_encode(terms).decode()}'
            if types is not None:
                keys = [type_key(event_type) for event_type in types]
                shape = f'"y":{_encode(types).decode()},"k":{_encode(keys).decode()},' + shape
            sources["{" + shape + "}"] = None
    return "[" + ",".join(sources) + "]"
