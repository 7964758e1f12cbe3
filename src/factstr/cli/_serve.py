"""``factstr serve``: the store behind the HTTP API until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import signal
from contextlib import suppress

from .._errors import InvalidInput
from .._namespaces import check_namespace_name
from ._output import UsageError
from ._stores import open_store


def add_namespace_options(serve: argparse.ArgumentParser) -> None:
    """The options of ``serve`` about namespaces and their tokens (docs/server.md, "Namespaces")."""
    serve.add_argument(
        "--admin-token",
        help="the token that administers namespaces and reaches all of them (default: $FACTSTR_ADMIN_TOKEN; "
        "without it, --token does)",
    )
    serve.add_argument(
        "--namespace-token",
        action="append",
        metavar="NAME=TOKEN",
        help="the token that reaches namespace NAME and nothing else; the namespace is created if missing (repeatable)",
    )
    serve.add_argument(
        "--namespace-tokens-file",
        metavar="FILE",
        help="NAME=TOKEN lines, as --namespace-token (blank lines and lines starting with # are skipped)",
    )
    serve.add_argument("--namespace-dir", metavar="DIR", help="where a SQLite store keeps its namespaces")
    serve.add_argument("--max-namespaces", type=int, default=100, help="namespaces the server may hold")
    serve.add_argument(
        "--max-streams-per-namespace", type=int, default=256, help="open streams per namespace (all clients)"
    )


def namespace_tokens(args: argparse.Namespace) -> dict[str, str]:
    """The ``NAME=TOKEN`` pairs of ``--namespace-token`` and ``--namespace-tokens-file``."""
    lines: list[tuple[str, str]] = [("--namespace-token", text) for text in args.namespace_token or ()]
    if args.namespace_tokens_file:
        try:
            with open(args.namespace_tokens_file, encoding="utf-8") as file:
                content = file.read()
        except OSError as exc:
            raise UsageError(f"cannot read --namespace-tokens-file: {exc}") from exc
        for number, line in enumerate(content.splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append((f"{args.namespace_tokens_file}:{number}", line.strip()))
    tokens: dict[str, str] = {}
    for where, text in lines:
        name, separator, token = text.partition("=")
        # Never echo the line: it holds a token.
        if not separator or not name.strip() or not token.strip():
            raise UsageError(f"{where}: write NAME=TOKEN")
        if name.strip() in tokens:
            raise UsageError(f"{where}: namespace {name.strip()!r} has a token already")
        tokens[name.strip()] = token.strip()
    return tokens


def cmd_serve(args: argparse.Namespace) -> int:
    # Imported here: the server is an extra (Starlette, uvicorn) that the other commands never need.
    from ..server import create_app, make_server
    from ..server._logging import configure_json_logging
    from ..server._security import check_listen_address

    token = args.token or os.environ.get("FACTSTR_TOKEN") or None
    admin_token = args.admin_token or os.environ.get("FACTSTR_ADMIN_TOKEN") or None
    tokens = namespace_tokens(args)
    for name in tokens:
        try:
            check_namespace_name(name)
        except InvalidInput as exc:
            raise UsageError(f"--namespace-token: {exc}") from exc
    check_listen_address(args.host, token or admin_token or (next(iter(tokens.values()), None)), args.insecure)
    configure_json_logging(args.log_level)
    logger = logging.getLogger("factstr.server")
    store, created = open_store(args, may_create=True, uses_token=False)
    with store:
        if created:
            logger.info("created a new store at %s", args.store, extra={"store": args.store})
        app = create_app(
            store,
            token=token,
            admin_token=admin_token,
            namespace_tokens=tokens,
            namespace_dir=args.namespace_dir,
            max_namespaces=args.max_namespaces,
            max_streams_per_namespace=args.max_streams_per_namespace,
            max_body_bytes=args.max_body_bytes,
            max_streams_per_client=args.max_streams_per_client,
            heartbeat_seconds=args.heartbeat_seconds,
            cors_origins=args.cors_origin or (),
            allowed_hosts=args.allowed_host or (),
            allowed_origins=args.allowed_origin or (),
            stream_buffer_bytes=args.stream_buffer_bytes,
            stream_stall_seconds=args.stream_stall_seconds,
            ui_admin=args.ui_admin,
        )
        server = make_server(app, args.host, args.port, request_timeout=args.request_timeout)
        logger.info("serving %s on http://%s:%d", args.store, args.host, args.port, extra={"store": args.store})
        # Uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again for the previous
        # handler: make that one a clean exit, since the shutdown already happened.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        with suppress(KeyboardInterrupt):
            server.run()
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)
