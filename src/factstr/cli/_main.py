"""The command line itself: the parser, and ``main``, which turns every expected failure into one line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

import msgspec

from .. import __version__
from .._errors import EventStoreError
from ._admin import cmd_cursors, cmd_models
from ._checks import cmd_stats, cmd_verify
from ._log import cmd_append, cmd_query, cmd_tail
from ._output import CommandError, UsageError, say
from ._serve import add_namespace_options, cmd_serve
from ._stores import missing_extra_message
from ._transfer import cmd_export, cmd_import

DEFAULT_STORE = "sqlite:///factstr.db"
DEFAULT_PORT = 7117

_STORE_HELP = (
    "the store: sqlite:///file.db (relative) or sqlite:////abs/file.db, postgresql://user@host/db, memory://, "
    "or http://host:port for a server started with `factstr serve` (then add --token if it needs one). "
    "Default: $FACTSTR_STORE, else %(default)s"
)
_DESCRIPTION = """\
FACTSTR: an event store for facts-first event sourcing.

Every command works on the store named by --store: a SQLite file, a PostgreSQL database, memory, or a running
`factstr serve` (http://host:port, with --token or $FACTSTR_TOKEN when it needs one). Results are JSON on
stdout; messages go to stderr. Exit status: 0 done, 1 a problem was found or the work failed, 2 a bad command
line. Only serve, append and import create a store that does not exist yet; the others refuse it.
"""


def _add_query_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--type", action="append", metavar="EVENT_TYPE", help="match this type (repeatable)")
    parser.add_argument(
        "--predicate", action="append", metavar="JSON", help="match payloads containing this JSON (repeatable)"
    )
    parser.add_argument("--query", metavar="JSON", help="a whole EventQuery as JSON (instead of --type/--predicate)")


def _store_options(*, token: bool, defaults: bool = True) -> argparse.ArgumentParser:
    """``--store``, and for client commands ``--token`` (the one an http:// store needs).

    ``defaults=False`` is for the actions of ``cursors`` and ``models``: the options may come before or after
    the action, and a default at the action's level would overwrite a value given before it.
    """
    options = argparse.ArgumentParser(add_help=False)
    store_default = os.environ.get("FACTSTR_STORE", DEFAULT_STORE)
    options.add_argument(
        "--store",
        default=store_default if defaults else argparse.SUPPRESS,
        metavar="URL",
        help=_STORE_HELP.replace("%(default)s", store_default),
    )
    if token:
        options.add_argument(
            "--token",
            default=None if defaults else argparse.SUPPRESS,
            metavar="TOKEN",
            help="bearer token for an http:// store (default: $FACTSTR_TOKEN)",
        )
        options.add_argument(
            "--namespace",
            default=None if defaults else argparse.SUPPRESS,
            metavar="NAME",
            help="use this namespace of the store instead of its default log (default: $FACTSTR_NAMESPACE)",
        )
    return options


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``factstr`` command."""
    located = _store_options(token=False)
    client = _store_options(token=True)
    action = _store_options(token=True, defaults=False)
    parser = argparse.ArgumentParser(
        prog="factstr", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"factstr {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str,
        help_text: str,
        handler: Callable[[argparse.Namespace], int],
        parent: argparse.ArgumentParser = client,
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[parent], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    serve = command(
        "serve",
        "Serve the store over HTTP (JSON and server-sent events, a web inspector at /ui); creates it if needed.",
        cmd_serve,
        located,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s)")
    serve.add_argument("--token", help="require this bearer token from clients (default: $FACTSTR_TOKEN)")
    serve.add_argument("--insecure", action="store_true", help="allow a non-loopback address without a token")
    serve.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024, help="request body limit")
    serve.add_argument("--max-streams-per-client", type=int, default=64, help="open streams per client address")
    serve.add_argument("--heartbeat-seconds", type=float, default=15.0, help="SSE heartbeat interval")
    serve.add_argument("--cors-origin", action="append", metavar="ORIGIN", help="allow a browser origin (repeatable)")
    serve.add_argument(
        "--allowed-host", action="append", metavar="HOST", help="also answer this Host header: name, name:port or *"
    )
    serve.add_argument(
        "--allowed-origin", action="append", metavar="ORIGIN", help="let pages of this origin change things (no CORS)"
    )
    serve.add_argument("--request-timeout", type=float, default=30.0, help="seconds to send a whole request")
    serve.add_argument("--stream-buffer-bytes", type=int, default=1024 * 1024, help="bytes queued per stream")
    serve.add_argument(
        "--stream-stall-seconds", type=float, default=60.0, help="end a stream whose client reads nothing this long"
    )
    serve.add_argument(
        "--ui-admin", action="store_true", help="let the web inspector at /ui reset and delete durable cursors"
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_namespace_options(serve)

    append = command(
        "append",
        "Append one event, or the NDJSON events read from stdin as one batch; creates the store if needed.",
        cmd_append,
    )
    append.add_argument("event_type", nargs="?", help="the event type (omit to read NDJSON from stdin)")
    append.add_argument("payload", nargs="?", help="the payload as JSON (default: {})")

    query = command("query", "Print the matching events as NDJSON.", cmd_query)
    _add_query_options(query)
    query.add_argument("--after", type=int, metavar="N", help="only events after sequence number N")
    query.add_argument("--limit", type=int, metavar="N", help="at most N events")
    query.add_argument("--backwards", action="store_true", help="newest first")
    query.add_argument("--result", action="store_true", help="print the whole QueryResult as one JSON object")

    tail = command("tail", "Follow a stream: print each committed batch's matching events as NDJSON.", cmd_tail)
    _add_query_options(tail)
    tail.add_argument("--durable", metavar="NAME", help="follow the durable stream NAME (stores its cursor)")
    tail.add_argument("--start", metavar="WHERE", help="beginning, end or a sequence number")
    tail.add_argument("--count", type=int, metavar="N", help="stop after N batches")
    tail.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds")

    cursors = command("cursors", "List, inspect, reset or delete durable stream cursors.", cmd_cursors)
    actions = cursors.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="every stored cursor", parents=[action])
    actions.add_parser("inspect", help="one cursor", parents=[action]).add_argument("name")
    actions.add_parser("delete", help="forget a cursor (says whether there was one)", parents=[action]).add_argument(
        "name"
    )
    reset = actions.add_parser("reset", help="the next registration resumes after POSITION", parents=[action])
    reset.add_argument("name")
    reset.add_argument("position", type=int)

    models = command(
        "models",
        "List, inspect, reset or rebuild query models (factstr.projections); --store names the database itself.",
        cmd_models,
    )
    model_actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    model_actions.add_parser("list", help="every stored query model", parents=[action])
    model_actions.add_parser("inspect", help="one query model", parents=[action]).add_argument("name")
    model_actions.add_parser(
        "reset", help="forget its state and cursor (says whether there were any)", parents=[action]
    ).add_argument("name")
    rebuild = model_actions.add_parser(
        "rebuild", help="fold every matching fact again, with a progress bar", parents=[action]
    )
    rebuild.add_argument(
        "model",
        metavar="MODULE:ATTRIBUTE",
        help="where the QueryModel is, e.g. shop.models:SALES (imported from the current directory, as python does)",
    )

    export = command(
        "export", "Write the log (batch by batch), the cursors and a checksummed end line as NDJSON.", cmd_export
    )
    export.add_argument("file", nargs="?", default="-", help="output file (default: stdout)")

    imp = command(
        "import",
        "Load an export into an empty store (or continue a partial import of the same file), keeping numbers, "
        "batches, commit times and cursors; checks the file and the result. Creates the store if needed.",
        cmd_import,
    )
    imp.add_argument("file", nargs="?", default="-", help="input file (default: stdin)")

    verify = command("verify", "Check the log: gapless, batches whole, queries and indexes agree.", cmd_verify)
    verify.add_argument(
        "--max-index-checks", type=int, default=10_000, metavar="N", help="probe the indexes for the first N events"
    )

    command("stats", "Summarise the log and the cursors.", cmd_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``factstr`` command; return its exit status."""
    args = build_parser().parse_args(argv)
    command = args.command if getattr(args, "action", None) is None else f"{args.command} {args.action}"
    try:
        status: int = args.handler(args)
    except UsageError as exc:
        say(command, str(exc))
        return 2
    except (CommandError, EventStoreError, msgspec.MsgspecError) as exc:
        say(command, str(exc))
        return 1
    except ModuleNotFoundError as exc:
        advice = missing_extra_message(exc)
        if advice is None:
            raise
        say(command, advice)
        return 1
    except BrokenPipeError:
        _drop_stdout()
        return 0
    except KeyboardInterrupt:
        say(command, "interrupted")
        return 130
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        say(command, f"{exc.strerror or exc}{where}")
        return 1
    return status


def _drop_stdout() -> None:
    """The reader (e.g. ``head``) went away: stop quietly, and keep Python's final flush from complaining."""
    try:
        descriptor = sys.stdout.fileno()
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), descriptor)
    except (OSError, ValueError):
        pass
