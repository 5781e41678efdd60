"""``python -m enlarger``: the ``enlarger`` command (its exit status too)."""

import sys

from enlarger.top.cli import main

sys.exit(main())
