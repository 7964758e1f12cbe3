"""The binary array parameters of an append mean, to the server, what the text literals of the same values mean."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factstr._model import JSON
from factstr.postgres import _prepared, _sql
from factstr.postgres._jsonb import jsonb_text
from factstr.testing._postgres_backend import require_server, server_url

# The server's own rendering of each array, from the parameter as it arrived (text: no NUL character in PostgreSQL).
STATEMENT = _prepared.prepared(
    "test_binary_arrays",
    "SELECT array_to_json($1::bigint[])::text, array_to_json($2::integer[])::text, array_to_json($3::text[])::text,"
    " array_to_json($4::jsonb[])::text, cardinality($4::jsonb[])",
)

TEXTS = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=20)
DOCUMENTS: st.SearchStrategy[JSON] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXTS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def conn() -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    require_server()
    with psycopg.connect(server_url(), autocommit=True) as connection:
        yield connection


def rendered(conn: psycopg.Connection[tuple[object, ...]], params: list[str | bytes | None]) -> list[bytes | None]:
    result = _prepared.run(conn, STATEMENT, params)
    return [result.get_value(0, column) for column in range(5)]


@settings(max_examples=150, deadline=None)
@given(
    big=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=30),
    small=st.lists(st.integers(-(2**31), 2**31 - 1), max_size=30),
    texts=st.lists(TEXTS, max_size=10),
    documents=st.lists(DOCUMENTS, max_size=10),
)
def test_binary_arrays_arrive_as_their_text_literals_do(
    conn: psycopg.Connection[tuple[object, ...]],
    big: list[int],
    small: list[int],
    texts: list[str],
    documents: list[JSON],
) -> None:
    payloads = [jsonb_text(document) for document in documents]
    as_text = rendered(
        conn, [_sql.int_array(big), _sql.int_array(small), _sql.text_array(texts), _sql.text_array(payloads)]
    )
    as_binary = rendered(
        conn,
        [
            _prepared.binary_bigint_array(big),
            _prepared.binary_int_array(small),
            _prepared.binary_text_array(texts),
            _prepared.binary_jsonb_array(payloads),
        ],
    )
    assert as_binary == as_text
    assert int(as_binary[4] or 0) == len(documents)
    if big:
        assert msgspec.json.decode(as_binary[0] or b"") == big
