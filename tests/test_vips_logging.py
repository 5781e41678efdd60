"""libvips' log lines: INFO never crosses into Python, warnings still reach the ``pyvips``
logger (enlarger.vips)."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
import pyvips

from enlarger.vips import configure_vips


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "pyvips":  # libvips' own lines (pyvips' Python modules log below it)
            self.records.append(record)


@pytest.fixture
def pyvips_records() -> Iterator[_Records]:
    """Every record the ``pyvips`` logger gets, whatever its level (set to DEBUG meanwhile)."""
    logger = logging.getLogger("pyvips")
    level = logger.level
    handler = _Records()
    configure_vips()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _photo() -> bytes:
    noise = [pyvips.Image.gaussnoise(1200, 900) for _ in range(3)]
    data: bytes = noise[0].bandjoin(noise[1:]).cast("uchar").jpegsave_buffer(Q=90)
    return data


def test_a_render_says_nothing_to_python(pyvips_records: _Records) -> None:
    """A thumbnail and its encode make libvips log about 15 INFO lines (threadpools, the
    shrink chosen): none of them calls into Python."""
    image = pyvips.Image.thumbnail_buffer(_photo(), 320, height=320, size="down")
    assert image.jpegsave_buffer(Q=80)
    assert [record.getMessage() for record in pyvips_records.records] == []


_WARNINGS = """
import gc, logging, sys
import pyvips
from enlarger.vips import configure_vips

configure_vips()
logging.basicConfig(stream=sys.stdout, format="%(name)s %(levelname)s %(message)s")
noise = [pyvips.Image.gaussnoise(600, 400) for _ in range(3)]
data = noise[0].bandjoin(noise[1:]).cast("uchar").jpegsave_buffer(Q=90)
for _ in range(int(sys.argv[1])):
    configure_vips()
image = pyvips.Image.new_from_buffer(data[: len(data) // 2], "")  # fail_on none: warnings
image.avg()
del image  # libvips logs the read's warnings as it ends
gc.collect()
"""


def _warnings_of_a_truncated_read(configured: int) -> list[str]:
    """What a fresh process (``configure_vips`` first, as a server's) logs through Python's
    logging when it decodes a truncated JPEG, after configuring ``configured`` more times."""
    done = subprocess.run(
        [sys.executable, "-c", _WARNINGS, str(configured)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def test_libvips_warnings_still_reach_the_log() -> None:
    lines = _warnings_of_a_truncated_read(0)
    assert any(line.startswith("pyvips WARNING") and "premature end" in line for line in lines), (
        lines
    )


def test_configuring_again_keeps_one_handler() -> None:
    lines = _warnings_of_a_truncated_read(2)
    warnings = [line for line in lines if line.startswith("pyvips WARNING")]
    assert warnings, lines
    assert len(warnings) == len(set(warnings)), f"a warning arrived twice: {warnings}"
