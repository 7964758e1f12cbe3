"""``python -m factstr``: the same as the ``factstr`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
