"""Stream tokens: what lets any server behind a load balancer take a durable stream's acknowledgements.

A durable stream is held by the one server that serves its event stream, but its acknowledgements and its
closing may reach any server sharing the database. Each message of a durable event stream (``ready``, a batch,
``progress``) carries a token as its SSE ``id``: the stream's id and the number the message delivered up to,
signed with HMAC-SHA256 under a secret every server shares (``--stream-secret``). An acknowledgement sends the
newest token back; any server checks the signature, and so knows without asking anyone that this stream
delivered up to that number, the bound an acknowledgement may not pass (C6.1, issue 11's rule).

A token is bound to its durable name, so it cannot move another name's cursor. Without a shared secret each
server makes its own, and only the server that issued a token accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from .._errors import InvalidInput

_SIGNATURE_BYTES = 16


class StreamTokens:
    """Issues and checks the tokens of durable streams with one secret."""

    def __init__(self, secret: str | bytes | None) -> None:
        if secret is None or secret == "" or secret == b"":
            secret = secrets.token_bytes(32)
        self._key = secret.encode() if isinstance(secret, str) else secret

    def _signature(self, name: str, stream_id: str, delivered: int) -> str:
        message = b"\0".join((name.encode(), stream_id.encode(), str(delivered).encode()))
        digest = hmac.new(self._key, message, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, name: str, stream_id: str, delivered: int) -> str:
        """The token saying that stream ``stream_id`` of ``name`` delivered everything up to ``delivered``."""
        return f"{stream_id}.{delivered}.{self._signature(name, stream_id, delivered)}"

    def check(self, name: str, token: str) -> tuple[str, int]:
        """Return the stream id and delivered bound of a token issued for ``name``; InvalidInput otherwise."""
        stream_id, _, rest = token.partition(".")
        delivered_text, _, signature = rest.partition(".")
        if stream_id and delivered_text.isascii() and delivered_text.isdigit() and len(delivered_text) <= 19:
            delivered = int(delivered_text)
            if hmac.compare_digest(signature, self._signature(name, stream_id, delivered)):
                return stream_id, delivered
        raise InvalidInput(
            "the stream token is not one this server issued for this durable name "
            "(servers behind one load balancer need the same --stream-secret)"
        )
