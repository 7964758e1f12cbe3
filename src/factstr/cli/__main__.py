"""``python -m factstr.cli``: the same as the ``factstr`` command."""

import sys

from . import main

sys.exit(main())
