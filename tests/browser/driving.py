"""What the browser tests share: bounded waits, axe-core's verdict, the shared image painted,
nothing asked of another origin, no sideways scrolling, the phone's metrics, picking files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WAIT = 20.0
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}

PAINTED = """
const done = arguments[arguments.length - 1];
const photo = document.getElementById('photo');
photo.decode().then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(
  document.querySelector('.frame').classList.contains('loaded')))), () => done(false));
"""
# Copy buttons write here instead of the clipboard (headless: nothing to read it back from).
CAPTURE_COPY = """
window.__copied = [];
navigator.clipboard.writeText = (text) => { window.__copied.push(text); return Promise.resolve(); };
"""
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(
  (r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                        nodes: v.nodes.map((n) => n.target.join(' '))}))),
  (e) => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));
"""


def wait(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def assert_accessible(driver: Any, axe: str, page: str) -> None:
    driver.execute_script(axe)
    violations = driver.execute_async_script(RUN_AXE)
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page}: {json.dumps(bad, indent=1)}"


def wait_for_photo(driver: Any) -> None:
    """The shared image loaded (naturalWidth > 0), decoded and painted, placeholder gone."""
    wait(
        lambda: driver.execute_script(
            "const p = document.getElementById('photo'); return p.complete && p.naturalWidth > 0"
        ),
        "the shared image",
    )
    assert driver.execute_async_script(PAINTED)


def assert_same_origin(driver: Any, base: str) -> None:
    names = driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    others = [name for name in names if not name.startswith(base + "/")]
    assert not others, others
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            assert url.startswith((base + "/", "data:", "blob:")), url


def no_sideways_scroll(driver: Any) -> bool:
    return bool(
        driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    )


def by(kind: str) -> Any:
    from selenium.webdriver.common.by import By

    return getattr(By, kind)


def pick(driver: Any, *paths: Path) -> None:
    driver.find_element(by("ID"), "files").send_keys("\n".join(str(p) for p in paths))


def uploaded_id(driver: Any, index: int) -> str:
    links = wait(lambda: driver.find_elements(by("CSS_SELECTOR"), ".upload a.link"), "a link")
    return str(links[index].get_attribute("href").rsplit("/", 1)[1])
