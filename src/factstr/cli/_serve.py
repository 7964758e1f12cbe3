"""``factstr serve``: the store behind the HTTP API until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import signal
from contextlib import suppress

from ._stores import open_store


def cmd_serve(args: argparse.Namespace) -> int:
    # Imported here: the server is an extra (Starlette, uvicorn) that the other commands never need.
    from ..server import create_app, make_server
    from ..server._logging import configure_json_logging
    from ..server._security import check_listen_address

    token = args.token or os.environ.get("FACTSTR_TOKEN") or None
    check_listen_address(args.host, token, args.insecure)
    configure_json_logging(args.log_level)
    logger = logging.getLogger("factstr.server")
    store, created = open_store(args, may_create=True, uses_token=False)
    with store:
        if created:
            logger.info("created a new store at %s", args.store, extra={"store": args.store})
        app = create_app(
            store,
            token=token,
            max_body_bytes=args.max_body_bytes,
            max_streams_per_client=args.max_streams_per_client,
            heartbeat_seconds=args.heartbeat_seconds,
            cors_origins=args.cors_origin or (),
            allowed_hosts=args.allowed_host or (),
            allowed_origins=args.allowed_origin or (),
            stream_buffer_bytes=args.stream_buffer_bytes,
            stream_stall_seconds=args.stream_stall_seconds,
            ui_admin=args.ui_admin,
            stream_secret=args.stream_secret or os.environ.get("FACTSTR_STREAM_SECRET") or None,
        )
        forwarded = [item.strip() for item in (args.forwarded_allow_ips or "").split(",") if item.strip()]
        server = make_server(
            app, args.host, args.port, request_timeout=args.request_timeout, forwarded_allow_ips=forwarded
        )
        logger.info("serving %s on http://%s:%d", args.store, args.host, args.port, extra={"store": args.store})
        # Uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again for the previous
        # handler: make that one a clean exit, since the shutdown already happened.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        with suppress(KeyboardInterrupt):
            server.run()
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)
