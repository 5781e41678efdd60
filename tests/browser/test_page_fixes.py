"""What a new user hit on the pages (issue 18), in a real browser: the copied snippet's size
and format, a file over the limit, a batch's order and its "copy all", the phone wording, an
image that cannot be shown, the share page of a portrait photo, statistics in words and for
whom. Deletes and error pages: test_page_deletes.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import pyvips

from tests.browser.driving import (
    CAPTURE_COPY,
    PHONE,
    assert_accessible,
    by,
    no_sideways_scroll,
    pick,
    uploaded_id,
    wait,
    wait_for_photo,
)
from tests.corrupt import corrupt_jpeg
from tests.e2e.conftest import make_jpeg
from tests.e2e.process import request
from tests.e2e.servers import Server

pytestmark = pytest.mark.e2e


def test_the_upload_page_copies_served_sizes_and_portable_links(
    browser: Any,
    axe_source: str,
    site: tuple[Server, str],
    photo: Path,
    tmp_path: Path,
    screenshots: Path,
) -> None:
    server, _ = site
    driver = browser
    small = tmp_path / "small.jpg"
    small.write_bytes(make_jpeg(640, 480, seed=33))
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    avif = tmp_path / "picture.avif"
    avif.write_bytes(
        pyvips.Image.new_from_buffer(make_jpeg(1000, 750, seed=34), "").heifsave_buffer(
            compression="av1"
        )
    )
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as out:  # over the 32 MB limit: refused before it is sent
        out.truncate(34 * 1024 * 1024)
    driver.get(f"{server.base}/")
    driver.execute_script(CAPTURE_COPY)
    driver.get_log("performance")
    wait(lambda: driver.find_element(by("ID"), "limits").text, "the limits")
    pick(driver, notes, photo, huge, small, avif)
    wait(lambda: len(driver.find_elements(by("CSS_SELECTOR"), ".upload.done")) == 3, "uploads")
    wait(lambda: len(driver.find_elements(by("CSS_SELECTOR"), ".upload.failed")) == 2, "refusals")
    names = [e.text for e in driver.find_elements(by("CSS_SELECTOR"), ".upload .name")]
    assert names == [photo.name, "small.jpg", "picture.avif", "notes.txt", "huge.jpg"]
    statuses = [e.text for e in driver.find_elements(by("CSS_SELECTOR"), ".upload .status")]
    assert statuses[4] == "Not uploaded: the file is 34 MB; uploads are limited to 32 MB."
    said = driver.execute_script(  # the server's own 413, had it been sent: in MB too
        "return Enlarger.errorText(413, JSON.stringify({error: {code: 'payload_too_large',"
        "message: 'uploads are limited to 33554432 bytes', limit: 'max_upload_bytes',"
        "maximum: 33554432}}))"
    )
    assert said == "uploads are limited to 32 MB", said
    posts = [
        m
        for m in (json.loads(e["message"])["message"] for e in driver.get_log("performance"))
        if m["method"] == "Network.requestWillBeSent" and m["params"]["request"]["method"] == "POST"
    ]
    assert len(posts) == 4  # the huge one was never sent

    fields = driver.find_elements(by("CSS_SELECTOR"), ".upload .copy-row input")
    values = [f.get_attribute("value") for f in fields]
    html = [v for v in values if v.startswith("<img")]
    expected = _served(server, uploaded_id(driver, 0))
    assert f'width="{expected[0]}" height="{expected[1]}"' in html[0], html[0]
    avif_values = values[10:]
    assert avif_values[0].endswith(".jpg") and ".jpg)" in avif_values[2]
    assert ".jpg[/img]" in avif_values[4]
    status, headers, _ = request(avif_values[0])
    assert status == 200 and headers["Content-Type"] == "image/jpeg"

    button = driver.find_element(by("CSS_SELECTOR"), ".batch .copy-all")
    assert button.is_displayed()
    button.click()
    copied = wait(lambda: driver.execute_script("return window.__copied"), "the copy")
    assert copied[0].split("\n") == [values[0], values[5], avif_values[0]]
    driver.save_screenshot(str(screenshots / "upload-batch.png"))
    assert_accessible(driver, axe_source, "/ with a batch")

    # the phone: its own words, no native file control in sight, still reachable by keyboard
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    driver.get(f"{server.base}/")
    drop = driver.find_element(by("ID"), "drop")
    assert drop.text == "Choose photos" and "paste" not in drop.text
    size = driver.execute_script(
        "const r = document.getElementById('files').getBoundingClientRect();"
        "return [r.width, r.height]"
    )
    assert size[0] <= 1 and size[1] <= 1
    driver.execute_script("document.getElementById('files').focus()")
    assert driver.execute_script("return document.activeElement.id") == "files"
    assert no_sideways_scroll(driver)
    pick(driver, small, notes)
    wait(lambda: driver.find_elements(by("CSS_SELECTOR"), ".upload.failed"), "the refusal")
    assert no_sideways_scroll(driver)
    driver.save_screenshot(str(screenshots / "upload-phone.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _served(server: Server, image_id: str) -> tuple[int, int]:
    status, _, data = request(f"{server.base}/i/{image_id}?size=large")
    assert status == 200
    image = pyvips.Image.new_from_buffer(data, "")
    return image.width, image.height


def test_an_image_that_cannot_be_shown_says_so(
    browser: Any, axe_source: str, site: tuple[Server, str], tmp_path: Path, screenshots: Path
) -> None:
    server, _ = site
    driver = browser
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(corrupt_jpeg())
    driver.get(f"{server.base}/")
    pick(driver, broken)
    status = wait(lambda: driver.find_elements(by("CSS_SELECTOR"), ".upload .status.error"), "it")
    assert "cannot be shown" in status[0].text and "cannot be decoded" in status[0].text
    assert not driver.find_elements(by("CSS_SELECTOR"), ".upload a.link")
    driver.save_screenshot(str(screenshots / "upload-unrenderable.png"))
    image_id = json.loads(
        driver.execute_script("return localStorage['enlarger.anonymousUploads']")
    )[0]["id"]
    driver.get(f"{server.base}/p/{image_id}")
    notice = driver.find_element(by("ID"), "unrenderable")
    assert "cannot be shown" in notice.text
    assert_accessible(driver, axe_source, "/p/<unrenderable>")


def test_share_and_statistics_pages_of_a_portrait_photo(
    browser: Any, axe_source: str, site: tuple[Server, str], tmp_path: Path, screenshots: Path
) -> None:
    server, key = site
    driver = browser
    portrait = tmp_path / "portrait.jpg"
    portrait.write_bytes(make_jpeg(1200, 1600, seed=35))
    driver.get(f"{server.base}/")
    pick(driver, portrait)
    image_id = uploaded_id(driver, 0)
    driver.get(f"{server.base}/p/{image_id}")
    wait_for_photo(driver)
    fits = driver.execute_script(
        "const p = document.getElementById('photo').getBoundingClientRect();"
        "const l = document.getElementById('page-link').getBoundingClientRect();"
        "return [p.bottom, l.bottom, window.innerHeight]"
    )
    assert fits[0] <= fits[2] * 0.8 and fits[1] <= fits[2], fits  # photo and link above the fold
    title = driver.title.split(" · ")[0]
    alt = driver.find_element(by("ID"), "photo").get_attribute("alt")
    assert title == "Image 1200\u00d71600" and alt.endswith("1200\u00d71600"), (title, alt)
    meta = driver.find_element(by("CSS_SELECTOR"), ".details").text
    assert " KB." in meta and "0.0 MB" not in meta, meta
    assert driver.find_element(by("ID"), "your-file").text == "Your file: portrait.jpg"
    assert not driver.find_element(by("ID"), "stats-link").is_displayed()  # anonymous: hidden
    driver.save_screenshot(str(screenshots / "share-portrait.png"))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    driver.get(f"{server.base}/p/{image_id}")
    wait_for_photo(driver)
    assert no_sideways_scroll(driver)
    driver.save_screenshot(str(screenshots / "share-portrait-phone.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    # the statistics page of an anonymous upload: says who may see them, nothing dangling
    driver.get(f"{server.base}/p/{image_id}/stats")
    notice = wait(lambda: driver.find_element(by("ID"), "notice").text, "the notice")
    assert "API key" in notice
    assert "error" not in (driver.find_element(by("ID"), "notice").get_attribute("class") or "")
    assert not driver.find_element(by("ID"), "stats").is_displayed()
    assert "·" not in driver.find_element(by("CSS_SELECTOR"), "main p").text
    driver.save_screenshot(str(screenshots / "stats-anonymous.png"))
    assert_accessible(driver, axe_source, "/p/<id>/stats anonymous")

    # signed in: words, not keys; "1 view"; the Views heading on one line, also on a phone
    data = make_jpeg(800, 600, seed=36)
    _, _, body = request(
        f"{server.base}/v1/images",
        data,
        {"Content-Type": "image/jpeg", "Authorization": f"Bearer {key}"},
    )
    mine = json.loads(body)["id"]
    assert request(f"{server.base}/i/{mine}?w=320&h=320&fit=cover")[0] == 200
    wait(lambda: _views(server, mine, key) == 1, "the view counted")
    driver.execute_script("localStorage.setItem('enlarger.apiKey', arguments[0])", key)
    for metrics in (None, PHONE):
        if metrics:
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        driver.get(f"{server.base}/p/{mine}/stats")
        cells = wait(lambda: _variant_cells(driver), "the views")
        assert "320\u00d7320 cover, q80, same format" in cells, cells
        assert driver.find_element(by("ID"), "total").text == "1 view in all"
        lines = driver.execute_script(
            "return [...document.querySelectorAll('th.num')].map((th) => {"
            "const r = document.createRange(); r.selectNodeContents(th);"
            "return r.getClientRects().length; })"
        )
        assert lines and set(lines) == {1}, lines
        driver.save_screenshot(str(screenshots / f"stats-{'phone' if metrics else 'desktop'}.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert_accessible(driver, axe_source, "/p/<id>/stats")
    driver.get(f"{server.base}/me")
    wait(lambda: driver.find_elements(by("CSS_SELECTOR"), "#mine .card"), "my images")
    assert driver.find_element(by("ID"), "user").text.endswith("\u00b7 1 image")
    driver.get(f"{server.base}/p/{mine}")
    assert driver.find_element(by("ID"), "stats-link").is_displayed()  # signed in: shown
    driver.get(f"{server.base}/p/{image_id}/stats")  # signed in, not this image's uploader
    notice = wait(lambda: driver.find_element(by("ID"), "notice").text, "the notice")
    assert notice == "Only the image's uploaders can see its statistics."


def _views(server: Server, image_id: str, key: str) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    status, _, body = request(f"{server.base}/v1/images/{image_id}/stats", None, headers)
    return int(json.loads(body)["views"]) if status == 200 else -1


def _variant_cells(driver: Any) -> list[str]:
    tables = driver.find_elements(by("CSS_SELECTOR"), "#tables section")
    if not tables:
        return []
    return [td.text for td in tables[0].find_elements(by("CSS_SELECTOR"), "tbody td:first-child")]
