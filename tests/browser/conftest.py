"""Real headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by selenium,
with axe-core from the npm registry; ``scripts/test`` installs all three where missing. Where
npm is not at hand (a fresh machine) the axe-core that the ``axe-core-python`` wheel carries
(4.4, older rules) checks the pages instead. Tests skip, saying why, only where they cannot be
had."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import make_jpeg
from tests.e2e.process import clean_env, cli
from tests.e2e.servers import Server, servers

HERE = Path(__file__).parent
PHOTO = "photo-iphone6-3264x2448.jpg"
CHROMIUM = Path(os.environ.get("ENLARGER_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("ENLARGER_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
AXE = HERE / ".node" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = HERE / "screenshots"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)


@pytest.fixture(scope="session")
def axe_source() -> str:
    if AXE.is_file():
        return AXE.read_text("utf-8")
    try:  # the test extra's wheel: no npm needed
        from importlib.resources import files

        return (files("axe_core_python") / "axe.min.js").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        pytest.skip(
            f"axe-core not found at {AXE} nor in the axe-core-python package: "
            "run ./scripts/test (npm install axe-core, pip install -e '.[test]')"
        )


@pytest.fixture
def browser() -> Iterator[object]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.skip(
            f"not installed: {', '.join(missing)} (apt-get install chromium chromium-driver)"
        )
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager must never download a browser
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="enlarger-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # not the text overlay's fontconfig (proxy/text.py sets it for this process): with it the
    # browser finds no font of its own and closes
    env = {name: value for name, value in os.environ.items() if name != "FONTCONFIG_FILE"}
    service = Service(executable_path=str(CHROMEDRIVER), env=env)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    env = clean_env(tmp_path / "data", ENLARGER_ANALYTICS_FLUSH_SECONDS="0.2")
    assert cli(env, "migrate").returncode == 0  # only serve and migrate create a database
    cli(env, "users", "create", "browser")
    key = cli(env, "keys", "create", "browser").stdout.strip().splitlines()[-1]
    with servers(env, 1) as (server,):
        yield server, key


def _photo(tmp_path: Path, images: Path | None) -> Path:
    if images is not None and (images / PHOTO).is_file():
        return images / PHOTO
    path = tmp_path / "photo.jpg"  # no shared images: a generated photo-sized JPEG
    path.write_bytes(make_jpeg(3000, 2000))
    return path


@pytest.fixture
def photo(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    try:
        images: Path | None = request.getfixturevalue("images_dir")
    except pytest.skip.Exception:
        images = None
    return _photo(tmp_path, images)
