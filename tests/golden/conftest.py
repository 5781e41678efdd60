"""Golden-suite fixtures: libvips configured once as the app does, and the shared images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from enlarger.vips import configure_vips


@pytest.fixture(scope="session", autouse=True)
def _vips_policy() -> None:
    """The process-wide libvips policy of the app (blocked loaders, no operation cache)."""
    configure_vips()


@pytest.fixture(scope="session")
def shared(images_dir: Path) -> Callable[[str], Path]:
    """``shared("name.jpg")``: the path of one shared test image (skips if it is missing)."""

    def find(name: str) -> Path:
        path = images_dir / name
        if not path.is_file():
            pytest.skip(f"shared test image {name} not found in {images_dir}")
        return path

    return find
