"""The two-process example: a writer process appends, a follower process's query model follows live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import two_process

SCRIPT = two_process.__file__


def test_a_follower_process_sees_every_fact_a_writer_process_appends(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    command = [sys.executable, SCRIPT]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen([*command, "follower", path, "25"], stdout=subprocess.PIPE, text=True, env=env) as follower:
        try:
            assert follower.stdout is not None
            assert json.loads(follower.stdout.readline()) == {"ready": True}
            writer = subprocess.run([*command, "writer", path, "25"], timeout=60, check=False)
            output, _ = follower.communicate(timeout=60)
        finally:
            if follower.poll() is None:
                follower.kill()
    assert writer.returncode == 0
    assert follower.returncode == 0
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[-1] == {"count": 25, "last": "message 25"}
    # It followed along: it saw intermediate states, not only the end.
    assert len(lines) > 2


def test_the_two_process_demo_runs() -> None:
    assert two_process.main([]) == 0
