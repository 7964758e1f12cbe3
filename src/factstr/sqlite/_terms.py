"""Payload terms: the words the SQLite store's full-text index holds for each event.

A term is one scalar leaf of a JSON document together with the path that leads to it, where every array step is
the same marker (array containment ignores positions). If a predicate is contained in a payload (C2), every term
of the predicate is a term of the payload; the converse does not hold, so index hits are always rechecked by the
reference matcher.

Each term is hashed to 64 bits and written as 16 hex digits, a word the index's ``ascii`` tokenizer keeps whole.
Encoding: a key is its JSON string (quoted, so it delimits itself), an array step is ``[``, and the leaf is ``=``
followed by its kind and text (``s`` string, ``n`` number with ``1`` and ``1.0`` alike, ``b0``/``b1``, ``z``
null). The words of a file never change: they are part of its format (schema version 2).
"""

from __future__ import annotations

import hashlib

import msgspec

from .._model import JSON

_ARRAY_STEP = b"["
_encode = msgspec.json.Encoder().encode
# Copying an empty 8-byte hasher is cheaper than building one with its keyword argument each time.
_EMPTY_HASHER = hashlib.blake2b(digest_size=8)

# Hashing is most of the cost of a term, and payloads repeat most of their keys and many values (types of
# things, currencies, flags, the accounts of a busy period). Recent words are remembered by the path of the leaf
# and then by its value itself, so that a recurring leaf costs two dictionary lookups and no bytes are built.
# Only short terms are kept (at most 64 Ki of them, about 10 MiB); everything is forgotten when full, which costs
# one rehash of what recurs. Values are keys of a dictionary, where 1 == 1.0 (the same term, as wanted) but also
# True == 1 (not the same term): booleans and null are therefore remembered by their whole term in _leaves.
_CACHE_LIMIT = 1 << 16
_CACHED_TERM_BYTES = 128
_values: dict[bytes, dict[str | int | float, str]] = {}
_leaves: dict[bytes, str] = {}
_keys: dict[str, bytes] = {}
_remembered = 0


def _new_key(key: str) -> bytes:
    encoded = _encode(key)
    if len(encoded) <= _CACHED_TERM_BYTES:
        if len(_keys) >= _CACHE_LIMIT:
            _keys.clear()
        _keys[key] = encoded
    return encoded


def _leaf(value: JSON) -> bytes:
    kind = type(value)
    if kind is str:
        text: str = value
        return b"=s" + text.encode()
    if kind is bool:
        return b"=b1" if value else b"=b0"
    if kind is int:
        return b"=n" + str(value).encode()
    if kind is float:
        # 1 and 1.0 are the same number (C2), so they must be the same term.
        number: float = value
        return b"=n" + (str(int(number)) if number.is_integer() else repr(number)).encode()
    return b"=z"


def _new_word(path: bytes, value: JSON) -> str:
    """Hash the term of a scalar ``value`` at ``path`` and remember its word when the term is short."""
    global _remembered
    term = path + _leaf(value)
    hasher = _EMPTY_HASHER.copy()
    hasher.update(term)
    word = hasher.hexdigest()
    if len(term) <= _CACHED_TERM_BYTES:
        if _remembered >= _CACHE_LIMIT:
            _values.clear()
            _leaves.clear()
            _remembered = 0
        _remembered += 1
        kind = type(value)
        if kind is str or kind is int or kind is float:
            known = _values.get(path)
            if known is None:
                known = _values[path] = {}
            known[value] = word
        else:
            _leaves[term] = word
    return word


def _word(path: bytes, value: JSON) -> str:
    """The word of the term of a scalar ``value`` at ``path``."""
    kind = type(value)
    if kind is str or kind is int or kind is float:
        known = _values.get(path)
        if known is not None:
            word = known.get(value)
            if word is not None:
                return word
        return _new_word(path, value)
    return _leaves.get(path + _leaf(value)) or _new_word(path, value)


def _collect(value: JSON, path: bytes, words: list[str]) -> None:
    # Runs for every payload of every append: the common leaves of an object are handled inline.
    kind = type(value)
    if kind is dict:
        for key, sub in value.items():
            step = _keys.get(key) or _new_key(key)
            if path:
                step = path + step
            sub_kind = type(sub)
            if sub_kind is str or sub_kind is int or sub_kind is float:
                known = _values.get(step)
                word = None if known is None else known.get(sub)
                words.append(word or _new_word(step, sub))
            elif sub_kind is dict or sub_kind is list:
                _collect(sub, step, words)
            else:
                words.append(_word(step, sub))
    elif kind is list:
        step = path + _ARRAY_STEP
        for element in value:
            _collect(element, step, words)
    else:
        words.append(_word(path, value))


def payload_words(payload: JSON) -> list[str]:
    """Return the words of every term of a payload (repeated terms repeat; the index keeps one posting)."""
    words: list[str] = []
    _collect(payload, b"", words)
    return words


def payload_document(payload: JSON) -> str:
    """Return the text the full-text index stores for a payload: its words, separated by spaces."""
    return " ".join(payload_words(payload))


def predicate_words(predicate: JSON) -> tuple[str, ...]:
    """Return the distinct words a payload must all have to possibly contain ``predicate`` (may be none)."""
    return tuple(sorted(set(payload_words(predicate))))
