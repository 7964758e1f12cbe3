"""A process that runs the "totals" query model continuously, for the crash test to kill.

Usage: ``python -m tests.projections.crash_worker STORE_URL forever`` (runs until killed) or
``... STORE_URL until SEQUENCE_NUMBER`` (returns once the model has folded everything up to that number).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import factstr
from factstr import EventRecord
from factstr.projections import QueryModel, run_continuous

from .models import COUNTED, INITIAL, add_up


def slow_add_up(state: dict[str, Any], records: list[EventRecord]) -> dict[str, Any]:
    # A little work per batch, so that a kill lands while batches are being folded.
    time.sleep(0.002)
    return add_up(state, records)


def main(argv: list[str]) -> int:
    url, mode = argv[1], argv[2]
    model = QueryModel("totals", COUNTED, INITIAL, slow_add_up)
    with factstr.connect(url) as store, run_continuous(store, model) as running:
        if mode == "forever":
            while True:
                time.sleep(1)
        return 0 if running.wait_until(int(argv[3]), timeout=60) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
