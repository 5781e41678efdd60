"""Option types shared by the command line (:mod:`.cli`) and the subcommands that add their own
options (:mod:`.peers.compare`)."""

from __future__ import annotations

import argparse

MAX_DURATION = 3600.0


def seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= MAX_DURATION:
        raise argparse.ArgumentTypeError(f"between 0 and {MAX_DURATION:g} seconds")
    return value
