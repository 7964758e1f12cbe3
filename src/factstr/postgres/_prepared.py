"""The store's hot statements, run lean: prepared once per connection, text or binary parameters in, raw cells out.

psycopg's cursors adapt every parameter and every result cell through Python-level machinery; measured on a
single-event append, that cost more CPU than the server spent on the whole append. The statements on the hot
paths (append, query, stream reads, head) take text parameters, and an append's long arrays in binary format
(built here, below), and return a few columns that the store decodes itself, so they go through the
connection's libpq object: prepared on first use on each connection, then executed with psycopg's own (C) send
and wait loop, which still turns a Ctrl-C into a cancel request.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import psycopg
from psycopg import errors, generators, pq

_OK = frozenset({pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK})
_UNKNOWN_STATEMENT = "26000"  # invalid_sql_statement_name: the server forgot it (DISCARD ALL, a pooler)
_ATTRIBUTE = "_factstr_prepared"  # the names prepared on a connection, kept on the connection itself
_TEXT = pq.Format.TEXT
_BINARY = pq.Format.BINARY


class Prepared(NamedTuple):
    """A statement with ``$n`` placeholders and the name it is prepared under on every connection."""

    name: bytes
    text: bytes


def prepared(name: str, text: str) -> Prepared:
    return Prepared(("factstr_" + name).encode(), text.encode())


def run(
    conn: psycopg.Connection[Any], statement: Prepared, params: Sequence[str | bytes | None], *, binary: bool = False
) -> pq.abc.PGresult:
    """Execute ``statement`` with its parameters and return its result, in binary format if ``binary`` (then
    decode cells with the helpers below). A ``str`` parameter travels as text, a ``bytes`` one in binary format
    (see :func:`binary_bigint_array`), None as NULL.

    Raises the psycopg error of the server's answer, or psycopg.OperationalError when the connection failed (then
    ``conn.broken`` is true), as a cursor would.
    """
    values = [param.encode() if type(param) is str else param for param in params]
    formats = [_BINARY if type(param) is bytes else _TEXT for param in params]
    result_format = pq.Format.BINARY if binary else pq.Format.TEXT
    for attempt in (1, 2):
        names: set[bytes] | None = getattr(conn, _ATTRIBUTE, None)
        if names is None:
            names = set()
            setattr(conn, _ATTRIBUTE, names)
        if statement.name not in names:
            _check(conn, _exchange(conn, lambda pgconn: pgconn.send_prepare(statement.name, statement.text)))
            names.add(statement.name)
        result = _exchange(
            conn,
            lambda pgconn: pgconn.send_query_prepared(
                statement.name, values, param_formats=formats, result_format=result_format
            ),
        )
        if attempt == 1 and result.error_field(pq.DiagnosticField.SQLSTATE) == _UNKNOWN_STATEMENT.encode():
            names.clear()  # nothing ran: prepare again and run it once more
            continue
        _check(conn, result)
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def _exchange(conn: psycopg.Connection[Any], send: Any) -> pq.abc.PGresult:
    pgconn = conn.pgconn
    send(pgconn)
    results: list[pq.abc.PGresult] = conn.wait(generators.execute(pgconn))
    return results[-1]


def _check(conn: psycopg.Connection[Any], result: pq.abc.PGresult) -> None:
    if result.status in _OK:
        return
    if conn.pgconn.status == pq.ConnStatus.BAD:
        message = result.get_error_message(conn.info.encoding) if result.error_message else "connection lost"
        raise psycopg.OperationalError(message)
    raise errors.error_from_result(result, encoding=conn.info.encoding)


def int_array_of(value: bytes | None) -> list[int | None]:
    """Parse an integer array in PostgreSQL's text format (``{1,NULL,3}``)."""
    if value is None or value == b"{}":
        return []
    return [None if item == b"NULL" else int(item) for item in value[1:-1].split(b",")]


# --- binary parameters ------------------------------------------------------------------------------------

# The long arrays of an append (its payloads, the postings: six terms an event) cost less in binary format on
# both sides: here no decimal text per integer and no escaping of every quote of every payload; at the server no
# parsing of an array literal.
_INT8_OID = 20
_INT4_OID = 23
_TEXT_OID = 25
_JSONB_OID = 3802


def binary_bigint_array(values: Sequence[int]) -> bytes:
    """A one-dimensional ``bigint[]`` without NULLs in binary format (every value fits in 64 bits, signed)."""
    return _binary_array(values, _INT8_OID, 8, "q")


def binary_int_array(values: Sequence[int]) -> bytes:
    """A one-dimensional ``integer[]`` without NULLs in binary format (every value fits in 32 bits, signed)."""
    return _binary_array(values, _INT4_OID, 4, "i")


def binary_jsonb_array(texts: Sequence[str]) -> bytes:
    """A one-dimensional ``jsonb[]`` without NULLs in binary format, from each element's JSON text: the server
    parses each document as from text, but no array literal, and nothing here escapes its quotes."""
    return _binary_varlena_array([b"\x01" + text.encode() for text in texts], _JSONB_OID)  # 1: jsonb's format


def binary_text_array(texts: Sequence[str]) -> bytes:
    """A one-dimensional ``text[]`` without NULLs in binary format."""
    return _binary_varlena_array([text.encode() for text in texts], _TEXT_OID)


def _binary_varlena_array(cells: list[bytes], oid: int) -> bytes:
    count = len(cells)
    if count == 0:
        return struct.pack(">iiI", 0, 0, oid)
    parts = [struct.pack(">iiIii", 1, 0, oid, count, 1)]
    for cell in cells:
        parts.append(len(cell).to_bytes(4, "big"))
        parts.append(cell)
    return b"".join(parts)


def _binary_array(values: Sequence[int], oid: int, width: int, code: str) -> bytes:
    # The header (dimensions, no NULLs, element type; then length and lower bound of the one dimension), then
    # each element as its length and its value, big-endian.
    count = len(values)
    if count == 0:
        return struct.pack(">iiI", 0, 0, oid)
    cells: list[int] = [width] * (2 * count)
    cells[1::2] = values
    return struct.pack(">iiIii", 1, 0, oid, count, 1) + struct.pack(">" + ("i" + code) * count, *cells)


# --- binary cells -----------------------------------------------------------------------------------------

_POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def bigint_of(value: bytes) -> int:
    """A ``bigint`` in binary format."""
    return int.from_bytes(value, "big", signed=True)


def timestamptz_of(value: bytes) -> datetime:
    """A ``timestamptz`` in binary format: microseconds since 2000-01-01 UTC."""
    return _POSTGRES_EPOCH + timedelta(microseconds=int.from_bytes(value, "big", signed=True))
