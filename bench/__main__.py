"""``python -m bench``: run the benchmark matrix and print one table (see ``bench.cli``)."""

from .cli import main

raise SystemExit(main())
