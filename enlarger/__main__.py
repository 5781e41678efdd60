"""``python -m enlarger``: the ``enlarger`` command."""

from enlarger.top.cli import main

main()
