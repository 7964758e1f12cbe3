"""JSON text that PostgreSQL's ``jsonb`` keeps exactly, for payloads and predicates.

``jsonb`` stores numbers as exact decimals and prints them back in plain notation. Two consequences matter:

* A float written with a positive exponent (``1e16``) comes back as the integer ``10000000000000000``: the
  value survives but the JSON kind does not, so such a payload would read back with an ``int`` in it.
* The shortest text of a large float is not its exact value (``2.0**60`` prints as ``1.152921504606847e18``),
  while Python compares ``2**60 == 2.0**60`` exactly. ``@>`` would then disagree with the reference matcher.

Every float with a positive exponent in its shortest text is an integer (it is at least 1e16, past 2**53),
so writing it as its exact integer value followed by ``.0`` fixes both: ``jsonb`` keeps the fraction digit
(the value reads back as the same float) and compares the exact value, as Python does.
"""

from __future__ import annotations

import re
from decimal import Decimal

import msgspec

from .._model import JSON

_encode_exact = msgspec.json.Encoder(decimal_format="number").encode
_encode = msgspec.json.Encoder().encode
# msgspec writes a positive exponent as ``e16`` and a negative one as ``e-7``. Text inside strings may match
# too; that only costs a second encoding, never a wrong one.
_POSITIVE_EXPONENT = re.compile(r"[0-9]e[0-9]")
_FIRST_INEXACT_MAGNITUDE = 1e16


def jsonb_text(value: JSON, compact: str | None = None) -> str:
    """Return JSON text for ``value`` that ``jsonb`` stores and compares exactly.

    ``compact`` is the value's plain msgspec encoding when the caller already has it (it is reused whenever
    it holds no float with a positive exponent, which is almost always).
    """
    text = compact if compact is not None else _encode(value).decode()
    if _POSITIVE_EXPONENT.search(text) is None:
        return text
    return _encode_exact(_exact_floats(value)).decode()


def _exact_floats(value: JSON) -> object:
    kind = type(value)
    if kind is float:
        if abs(value) >= _FIRST_INEXACT_MAGNITUDE:
            # Built from text: Decimal arithmetic would round to 28 digits.
            return Decimal(f"{int(value)}.0")
        return value
    if kind is dict:
        return {key: _exact_floats(sub) for key, sub in value.items()}
    if kind is list:
        return [_exact_floats(sub) for sub in value]
    return value
