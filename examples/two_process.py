"""Two processes, one SQLite file: one appends facts, the other's query model follows them live.

``python examples/two_process.py`` runs the demo: it starts a follower process and a writer process on a
file in a temporary directory and prints what the follower saw. The roles can also be started by hand,
in two terminals: ``... follower chat.db 20`` and ``... writer chat.db 20``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from factstr import EventFilter, EventQuery, EventRecord, NewEvent
from factstr.projections import QueryModel, run_continuous
from factstr.sqlite import SQLiteStore


def apply_chat(state: dict[str, Any], records: list[EventRecord]) -> dict[str, Any]:
    """The follower's query model: how many messages arrived, and the last one."""
    return {"count": state["count"] + len(records), "last": records[-1].payload["text"]}


CHAT: QueryModel[dict[str, Any]] = QueryModel(
    "demo.chat",
    EventQuery(filters=[EventFilter(event_types=["MessagePosted"])]),
    {"count": 0, "last": None},
    apply_chat,
)


def writer(path: str, count: int) -> None:
    """Append ``count`` messages, one batch each, a little apart."""
    with SQLiteStore(path) as store:
        for n in range(1, count + 1):
            store.append([NewEvent("MessagePosted", {"text": f"message {n}"})])
            time.sleep(0.01)


def follower(path: str, count: int, timeout: float = 30.0) -> dict[str, Any]:
    """Follow the chat until ``count`` messages arrived; print each change as a JSON line."""
    deadline = time.monotonic() + timeout
    with SQLiteStore(path) as store, run_continuous(store, CHAT) as chat:
        print(json.dumps({"ready": True}), flush=True)
        seen = None
        while chat.state["count"] < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {chat.state['count']} of {count} messages arrived")
            if chat.state != seen:
                seen = chat.state
                print(json.dumps(seen), flush=True)
            time.sleep(0.01)
        print(json.dumps(chat.state), flush=True)
        return chat.state


def command(role: str, path: str, count: int) -> list[str]:
    """The command that runs this script in another process, in the given role."""
    return [sys.executable, __file__, role, path, str(count)]


def main(argv: list[str] | None = None) -> int:
    """Run one role, or (without arguments) the whole demo with both roles in their own processes."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "writer":
        writer(args[1], int(args[2]))
        return 0
    if args and args[0] == "follower":
        follower(args[1], int(args[2]))
        return 0
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "chat.db")
        SQLiteStore(path).close()  # create the file before both processes open it
        with subprocess.Popen(command("follower", path, 20), stdout=subprocess.PIPE, text=True) as following:
            assert following.stdout is not None
            following.stdout.readline()  # {"ready": true}: the follower's model runs
            writing = subprocess.run(command("writer", path, 20), check=False)
            output, _ = following.communicate(timeout=60)
        print("the follower saw:", output.splitlines()[-1])
        return following.returncode or writing.returncode


if __name__ == "__main__":
    sys.exit(main())
