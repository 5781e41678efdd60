"""The pages in a real browser: upload a real photo through the file input and watch its
progress, open the link, the share page at desktop and phone width, sign in on /me and delete,
the statistics chart; axe-core on each page; nothing asked of another origin."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import pyvips

from tests.browser.driving import (
    PHONE,
    assert_accessible,
    assert_same_origin,
    no_sideways_scroll,
    wait,
    wait_for_photo,
)
from tests.e2e.conftest import make_jpeg
from tests.e2e.process import request
from tests.e2e.servers import Server

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).parents[2] / "docs"

RECORD_STATUS = """
window.__statuses = [];
new MutationObserver(() => {
  for (const s of document.querySelectorAll('.status')) window.__statuses.push(s.textContent);
}).observe(document.getElementById('uploads'),
            {subtree: true, childList: true, characterData: true});
"""


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
    link = wait(lambda: driver.find_elements(By.CSS_SELECTOR, ".upload a.link"), "the link")[0]
    statuses = driver.execute_script("return window.__statuses")
    assert any("%" in text for text in statuses), statuses  # real progress events were shown
    assert driver.find_element(By.CSS_SELECTOR, ".upload progress").get_attribute("value") == "100"
    labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".upload .copy-row label")]
    assert labels == ["URL", "Share page", "Markdown", "HTML", "BBCode"]
    wait(
        lambda: driver.execute_script(
            "const i = document.querySelector('.upload img.thumb');"
            "return i.complete && i.naturalWidth > 0"
        ),
        "the preview",
    )
    driver.save_screenshot(str(screenshots / "upload.png"))
    if os.environ.get("ENLARGER_TEST_UPDATE_DOCS") or not (DOCS / "upload-page.png").exists():
        shutil.copyfile(screenshots / "upload.png", DOCS / "upload-page.png")  # the README's
    assert_accessible(driver, axe_source, "/")
    text_file = tmp_path / "notes.txt"  # an upload error, in the API's words
    text_file.write_text("not an image")
    driver.find_element(By.ID, "files").send_keys(str(text_file))
    error = wait(
        lambda: driver.find_elements(By.CSS_SELECTOR, ".upload .status.error"), "the error"
    )[0]
    assert error.text.startswith("Not uploaded: the file is not an image; send one of"), error.text
    driver.save_screenshot(str(screenshots / "upload-error.png"))
    share_url = link.get_attribute("href")
    image_id = share_url.rsplit("/", 1)[1]

    # 2. the share page: the image loads (no other origin asked), desktop and phone widths
    driver.get_log("performance")  # drop what came before
    link.click()
    wait_for_photo(driver)
    driver.save_screenshot(str(screenshots / "share-desktop.png"))
    assert_same_origin(driver, base)
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
    assert_accessible(driver, axe_source, "/p/<id>")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    driver.get(share_url)
    wait_for_photo(driver)
    assert driver.execute_script("return window.innerWidth") == 390
    assert no_sideways_scroll(driver)
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
    wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#mine .card")) == 2, "my images")
    assert not driver.find_element(By.ID, "signin").is_displayed()  # signed in: form hidden
    anonymous = driver.find_elements(By.CSS_SELECTOR, "#anonymous .card a")
    assert any(a.get_attribute("href").endswith(f"/p/{image_id}") for a in anonymous)
    assert_accessible(driver, axe_source, "/me")
    driver.save_screenshot(str(screenshots / "me.png"))
    driver.find_element(
        By.CSS_SELECTOR, f"#mine .card button.danger[aria-label='Delete {mine['id']}']"
    ).click()
    wait(lambda: driver.find_element(By.ID, "confirm").is_displayed(), "the question")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#mine .card")) == 2  # asked, not deleted
    driver.find_element(By.ID, "confirm-delete").click()
    wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#mine .card")) == 1, "the deletion")
    assert request(f"{base}/v1/images/{mine['id']}")[0] == 404

    # an anonymous upload's delete_page (the token in the fragment) asks, then deletes
    status, _, body = request(
        f"{base}/v1/images", make_jpeg(500, 400, seed=23), {"Content-Type": "image/jpeg"}
    )
    anonymous_upload = json.loads(body)
    driver.get(anonymous_upload["delete_page"])
    wait(lambda: driver.find_element(By.ID, "confirm").is_displayed(), "the question")
    driver.find_element(By.ID, "confirm-delete").click()
    wait(lambda: driver.find_element(By.ID, "notice").text.startswith("Deleted"), "the deletion")
    assert driver.find_element(By.ID, "notice").text == "Deleted: the image is gone."
    assert request(f"{base}/v1/images/{anonymous_upload['id']}")[0] == 404
    assert "#" not in driver.current_url  # the token left the address bar

    # 4. the statistics page draws its chart
    wait(
        lambda: _api(server, "GET", f"/v1/images/{kept['id']}/stats", key)[1]["views"] >= 3, "views"
    )
    driver.get(f"{base}/p/{kept['id']}/stats")
    bars = wait(
        lambda: driver.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar-rect"), "the chart"
    )
    assert len(bars) == 30
    assert float(bars[-1].get_attribute("height")) > 0  # today's views
    assert driver.find_elements(By.CSS_SELECTOR, "#tables table")
    driver.save_screenshot(str(screenshots / "stats.png"))
    assert_accessible(driver, axe_source, "/p/<id>/stats")
