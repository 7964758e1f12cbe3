"""What an idle follower costs: the CPU time of a process whose SQLite store streams but receives nothing.

``python -m bench.idle [--seconds S] [--streams K]`` starts a child process that opens a SQLite store on a
scratch file, starts ``K`` live streams and one durable stream (so the store watches for other processes'
commits), says ``ready``, and then does nothing. The parent reads the child's CPU ticks (``utime + stime`` of
``/proc/<pid>/stat``, in clock ticks of ``SC_CLK_TCK``) at the start and the end of ``S`` seconds and prints the
difference, the tick length and the CPU share. Then it appends one event from this process and checks that every
stream of the child received it (the follower was idle, not dead). Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time

from factstr import NewEvent, SQLiteStore

_FOLLOWER = """
    import sys
    from factstr import SQLiteStore
    path, streams = sys.argv[1], int(sys.argv[2])
    with SQLiteStore(path) as store:
        received = []
        live = [store.stream_all(received.append) for _ in range(streams)]
        durable = store.stream_all_durable("idle-bench", lambda batch: None)
        print("ready", flush=True)
        sys.stdin.readline()
        for stream in live:
            assert stream.wait_until(1, timeout=10), "a live stream missed the append"
        assert durable.wait_until(1, timeout=10), "the durable stream missed the append"
        print("received", len(received), flush=True)
"""


def cpu_ticks(pid: int) -> int:
    """Return user + system CPU time of ``pid`` so far, in clock ticks."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=4)
    arguments = parser.parse_args()
    tick = 1 / os.sysconf("SC_CLK_TCK")
    with tempfile.TemporaryDirectory(prefix="factstr-idle-") as directory:
        path = os.path.join(directory, "idle.db")
        SQLiteStore(path).close()
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_FOLLOWER), path, str(arguments.streams)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None and child.stdout is not None
        try:
            if child.stdout.readline().strip() != "ready":
                raise SystemExit("the follower did not start")
            time.sleep(1.0)  # let the start-up settle (imports, first reads)
            before = cpu_ticks(child.pid)
            time.sleep(arguments.seconds)
            ticks = cpu_ticks(child.pid) - before
            with SQLiteStore(path) as writer:
                writer.append([NewEvent("wake", {})])
            child.stdin.write("go\n")
            child.stdin.flush()
            said = child.stdout.readline().strip()
            if child.wait(timeout=30) != 0 or not said.startswith("received"):
                raise SystemExit(f"the follower failed after the idle period: {said!r}")
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    seconds = ticks * tick
    print(
        f"idle follower ({arguments.streams} live streams + 1 durable): {ticks} ticks of {tick * 1e3:g} ms "
        f"= {seconds * 1e3:.0f} ms CPU in {arguments.seconds:g} s ({seconds / arguments.seconds:.2%}); "
        f"it then received the next append ({said})"
    )


if __name__ == "__main__":
    main()
