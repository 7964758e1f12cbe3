"""The ``factstr`` command: serve a store over HTTP, and look after a store from the shell.

Every subcommand takes ``--store URL`` (default: ``$FACTSTR_STORE``, else ``sqlite:///factstr.db``), which may
also name a running server (``http://host:port``, with ``--token`` or ``$FACTSTR_TOKEN``), and talks to the store
through the public contract only, so it works the same on every store. Output is JSON (one object, or NDJSON
for many); messages and progress go to stderr; the exit status is 0 on success, 1 when the work found a problem
(a refused import, a failed verification, a store that does not exist), 2 for bad usage.

One module per group of commands: ``_serve``, ``_log`` (append, query, tail), ``_admin`` (cursors, models),
``_transfer`` (export, import), ``_checks`` (verify, stats); ``_stores`` opens the store a command names.
"""

from ._main import build_parser, main

__all__ = ["build_parser", "main"]
