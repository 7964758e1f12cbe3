"""``factstr cursors`` and ``factstr models``: look after durable cursors and query models."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import msgspec

from .._wire import info_to_wire
from ._output import CommandError, Progress, print_json, say
from ._stores import is_remote, open_store


def cmd_cursors(args: argparse.Namespace) -> int:
    store, _ = open_store(args)
    with store:
        if args.action == "list":
            for info in store.durable_streams():
                print_json(info_to_wire(info))
        elif args.action == "inspect":
            found = store.durable_stream(args.name)
            if found is None:
                raise CommandError(f"no durable stream named {args.name!r}")
            print_json(info_to_wire(found))
        elif args.action == "reset":
            store.reset_durable_stream(args.name, args.position)
            print_json({"name": args.name, "cursor": args.position or None})
        else:
            existed = store.durable_stream(args.name) is not None
            store.delete_durable_stream(args.name)
            if existed:
                say("cursors delete", f"deleted the durable stream {args.name!r} and its cursor")
            else:
                say("cursors delete", f"no durable stream named {args.name!r}: nothing to delete")
            print_json({"name": args.name, "deleted": existed})
    return 0


@contextmanager
def _importable_from_the_current_directory() -> Iterator[None]:
    """Let ``models rebuild`` import modules next to the caller, as ``python -m`` would (sys.path[0] = cwd).

    An installed ``factstr`` script has its own directory there instead, so ``myapp.models:X`` would not be
    found from the project's directory without it.
    """
    here = os.getcwd()
    if sys.path and sys.path[0] in ("", here):
        yield
        return
    sys.path.insert(0, here)
    try:
        yield
    finally:
        with_here = [index for index, entry in enumerate(sys.path) if entry == here]
        if with_here:
            del sys.path[with_here[0]]


def cmd_models(args: argparse.Namespace) -> int:
    with _importable_from_the_current_directory():
        return _models(args)


def _models(args: argparse.Namespace) -> int:
    if is_remote(args.store):
        raise CommandError(
            "query models live in the store's database, which a server does not expose: pass the database "
            "itself, e.g. --store sqlite:///app.db or --store postgresql://user@host/db"
        )
    # Imported here: query models are an optional layer, and most commands never need them.
    from .. import projections

    if args.action == "rebuild":
        # Found before the store is opened: a typo in the model's path touches no store.
        model = projections.load_query_model(args.model)
    store, _ = open_store(args)
    with store:
        if args.action == "list":
            for info in projections.query_models(store):
                print_json(msgspec.to_builtins(info))
        elif args.action == "inspect":
            found = projections.inspect(store, args.name)
            if found is None:
                raise CommandError(f"no query model named {args.name!r}")
            print_json(msgspec.to_builtins(found))
        elif args.action == "reset":
            existed = projections.inspect(store, args.name) is not None or store.durable_stream(args.name) is not None
            projections.reset(store, args.name)
            if existed:
                say("models reset", f"forgot the state and cursor of {args.name!r}: it starts afresh next time")
            else:
                say("models reset", f"no query model named {args.name!r}: nothing to reset")
            print_json({"name": args.name, "reset": existed})
        else:
            progress: Progress | None = None

            def report(position: int, head: int) -> None:
                nonlocal progress
                if progress is None:
                    progress = Progress(f"rebuild {model.name}", head)
                progress.update(position)

            state = projections.rebuild(store, model, progress=report)
            if progress is not None:
                progress.finish()
            print_json({"name": model.name, "state": msgspec.to_builtins(state)})
    return 0
