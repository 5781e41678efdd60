"""The pages in a real browser: upload a real photo through the file input and watch its
progress, open the link, the share page at desktop and phone width, sign in on /me and delete,
the statistics chart; axe-core on each page; nothing asked of another origin."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pyvips

from tests.e2e.conftest import make_jpeg
from tests.e2e.process import clean_env, cli, request
from tests.e2e.servers import Server, servers

pytestmark = pytest.mark.e2e

PHOTO = "photo-iphone6-3264x2448.jpg"
DOCS = Path(__file__).parents[2] / "docs"
WAIT = 20.0

RECORD_STATUS = """
window.__statuses = [];
new MutationObserver(() => {
  for (const s of document.querySelectorAll('.status')) window.__statuses.push(s.textContent);
}).observe(document.getElementById('uploads'),
            {subtree: true, childList: true, characterData: true});
"""
PAINTED = """
const done = arguments[arguments.length - 1];
const photo = document.getElementById('photo');
photo.decode().then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(
  document.querySelector('.frame').classList.contains('loaded')))), () => done(false));
"""
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(
  (r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                        nodes: v.nodes.map((n) => n.target.join(' '))}))),
  (e) => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));
"""


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


def _wait(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _assert_accessible(driver: Any, axe: str, page: str) -> None:
    driver.execute_script(axe)
    violations = driver.execute_async_script(RUN_AXE)
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page}: {json.dumps(bad, indent=1)}"


def _wait_for_photo(driver: Any) -> None:
    """The shared image loaded (naturalWidth > 0), decoded and painted, placeholder gone."""
    _wait(
        lambda: driver.execute_script(
            "const p = document.getElementById('photo'); return p.complete && p.naturalWidth > 0"
        ),
        "the shared image",
    )
    assert driver.execute_async_script(PAINTED)


def _assert_same_origin(driver: Any, base: str) -> None:
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


def _no_sideways_scroll(driver: Any) -> bool:
    return bool(
        driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    )


def _api(server: Server, method: str, path: str, key: str, body: bytes | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    if body is not None:
        headers["Content-Type"] = "image/jpeg"
    assert method == ("POST" if body is not None else "GET")
    status, _, answer = request(f"{server.base}{path}", body, headers)
    return status, (json.loads(answer) if answer else None)


def test_upload_share_me_and_stats_in_chromium(
    browser: Any,
    axe_source: str,
    site: tuple[Server, str],
    photo: Path,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By

    server, key = site
    driver = browser
    base = server.base

    # 1. the upload page: a real photo through the file input, progress, then the links
    driver.get(f"{base}/")
    driver.execute_script(RECORD_STATUS)
    driver.find_element(By.ID, "files").send_keys(str(photo))
    link = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, ".upload a.link"), "the link")[0]
    statuses = driver.execute_script("return window.__statuses")
    assert any("%" in text for text in statuses), statuses  # real progress events were shown
    assert driver.find_element(By.CSS_SELECTOR, ".upload progress").get_attribute("value") == "100"
    labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".upload .copy-row label")]
    assert labels == ["URL", "Share page", "Markdown", "HTML", "BBCode"]
    _wait(
        lambda: driver.execute_script(
            "const i = document.querySelector('.upload img.thumb');"
            "return i.complete && i.naturalWidth > 0"
        ),
        "the preview",
    )
    driver.save_screenshot(str(screenshots / "upload.png"))
    if os.environ.get("ENLARGER_TEST_UPDATE_DOCS") or not (DOCS / "upload-page.png").exists():
        shutil.copyfile(screenshots / "upload.png", DOCS / "upload-page.png")  # the README's
    _assert_accessible(driver, axe_source, "/")
    text_file = tmp_path / "notes.txt"  # an upload error, in the API's words
    text_file.write_text("not an image")
    driver.find_element(By.ID, "files").send_keys(str(text_file))
    error = _wait(
        lambda: driver.find_elements(By.CSS_SELECTOR, ".upload .status.error"), "the error"
    )[0]
    assert error.text.startswith("Not uploaded: the file is not an image; send one of"), error.text
    driver.save_screenshot(str(screenshots / "upload-error.png"))
    share_url = link.get_attribute("href")
    image_id = share_url.rsplit("/", 1)[1]

    # 2. the share page: the image loads (no other origin asked), desktop and phone widths
    driver.get_log("performance")  # drop what came before
    link.click()
    _wait_for_photo(driver)
    driver.save_screenshot(str(screenshots / "share-desktop.png"))
    _assert_same_origin(driver, base)
    og = driver.find_element(By.CSS_SELECTOR, "meta[property='og:image']").get_attribute("content")
    width = driver.find_element(By.CSS_SELECTOR, "meta[property='og:image:width']").get_attribute(
        "content"
    )
    height = driver.find_element(By.CSS_SELECTOR, "meta[property='og:image:height']").get_attribute(
        "content"
    )
    status, _, data = request(og)
    decoded = pyvips.Image.new_from_buffer(data, "")
    assert status == 200 and (str(decoded.width), str(decoded.height)) == (width, height)
    _assert_accessible(driver, axe_source, "/p/<id>")
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    driver.get(share_url)
    _wait_for_photo(driver)
    assert driver.execute_script("return window.innerWidth") == 390
    assert _no_sideways_scroll(driver)
    driver.save_screenshot(str(screenshots / "share-phone.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    # 3. /me: sign in with a key, delete one of the user's images there
    status, mine = _api(server, "POST", "/v1/images", key, make_jpeg(1200, 900, seed=21))
    assert status == 201
    status, kept = _api(server, "POST", "/v1/images", key, make_jpeg(1000, 700, seed=22))
    assert status == 201
    for size in ("small", "medium", "large"):
        assert request(f"{base}/i/{kept['id']}?size={size}")[0] == 200
    driver.get(f"{base}/me")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()
    _wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#mine .card")) == 2, "my images")
    assert not driver.find_element(By.ID, "signin").is_displayed()  # signed in: form hidden
    anonymous = driver.find_elements(By.CSS_SELECTOR, "#anonymous .card a")
    assert any(a.get_attribute("href").endswith(f"/p/{image_id}") for a in anonymous)
    _assert_accessible(driver, axe_source, "/me")
    driver.save_screenshot(str(screenshots / "me.png"))
    driver.find_element(
        By.CSS_SELECTOR, f"#mine .card button.danger[aria-label='Delete {mine['id']}']"
    ).click()
    _wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#mine .card")) == 1, "the deletion")
    assert request(f"{base}/v1/images/{mine['id']}")[0] == 404

    # an anonymous upload's delete_page (the token in the fragment) asks, then deletes
    status, _, body = request(
        f"{base}/v1/images", make_jpeg(500, 400, seed=23), {"Content-Type": "image/jpeg"}
    )
    anonymous_upload = json.loads(body)
    driver.get(anonymous_upload["delete_page"])
    _wait(lambda: driver.find_element(By.ID, "confirm").is_displayed(), "the question")
    driver.find_element(By.ID, "confirm-delete").click()
    _wait(lambda: driver.find_element(By.ID, "notice").text == "Deleted.", "the deletion")
    assert request(f"{base}/v1/images/{anonymous_upload['id']}")[0] == 404
    assert "#" not in driver.current_url  # the token left the address bar

    # 4. the statistics page draws its chart
    _wait(
        lambda: _api(server, "GET", f"/v1/images/{kept['id']}/stats", key)[1]["views"] >= 3, "views"
    )
    driver.get(f"{base}/p/{kept['id']}/stats")
    bars = _wait(
        lambda: driver.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar-rect"), "the chart"
    )
    assert len(bars) == 30
    assert float(bars[-1].get_attribute("height")) > 0  # today's views
    assert driver.find_elements(By.CSS_SELECTOR, "#tables table")
    driver.save_screenshot(str(screenshots / "stats.png"))
    _assert_accessible(driver, axe_source, "/p/<id>/stats")
