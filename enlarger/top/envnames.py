"""``ENLARGER_*`` variables that are not settings: pydantic-settings ignores them, so a typo
(``ENLARGER_PROT``) silently keeps a default. ``serve`` logs one warning per such variable at
start, and ``doctor`` lists them, each with the setting it most likely meant."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from enlarger.settings import ENV_PREFIX, Settings

SETTING_NAMES = tuple(sorted(ENV_PREFIX + name.upper() for name in Settings.model_fields))


def unknown(environ: Mapping[str, str]) -> list[str]:
    """The ``ENLARGER_*`` names in ``environ`` that no setting reads, sorted."""
    known = set(SETTING_NAMES)
    return sorted(k for k in environ if k.startswith(ENV_PREFIX) and k not in known)


def meant(name: str) -> str | None:
    """The setting ``name`` is closest to, when one is close (compared without the prefix)."""
    bare = name.removeprefix(ENV_PREFIX)
    names = [known.removeprefix(ENV_PREFIX) for known in SETTING_NAMES]
    close = difflib.get_close_matches(bare, names, n=1, cutoff=0.75)
    return ENV_PREFIX + close[0] if close else None


def describe(name: str) -> str:
    """``ENLARGER_PROT (did you mean ENLARGER_PORT?)``, or the name alone."""
    guess = meant(name)
    return f"{name} (did you mean {guess}?)" if guess else name
