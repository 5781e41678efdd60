"""Deletes in a real browser (issue 18): the same photo uploaded twice from one browser and
deleted on /me is gone (404), and the page says so only then; another uploader's claim keeps it
online, and the page says that; every delete asks first, a delete_url opened in the browser
too; unknown and deleted pages answer as pages in the site's style; the favicon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser.driving import assert_accessible, by, pick, uploaded_id, wait
from tests.e2e.conftest import make_jpeg
from tests.e2e.process import request
from tests.e2e.servers import Server

pytestmark = pytest.mark.e2e


def _anonymous(server: Server, data: bytes) -> dict[str, Any]:
    status, _, body = request(f"{server.base}/v1/images", data, {"Content-Type": "image/jpeg"})
    assert status == 201
    answer: dict[str, Any] = json.loads(body)
    return answer


def _delete_on_me(driver: Any, base: str, image_id: str) -> str:
    driver.get(f"{base}/me")
    cards = wait(
        lambda: driver.find_elements(by("CSS_SELECTOR"), f"#anonymous .card[data-id='{image_id}']"),
        "the card",
    )
    assert len(cards) == 1
    cards[0].find_element(by("CSS_SELECTOR"), "button.danger").click()
    wait(lambda: driver.find_element(by("ID"), "confirm").is_displayed(), "the question")
    assert request(f"{base}/i/{image_id}")[0] == 200  # asked first: nothing deleted yet
    driver.find_element(by("ID"), "confirm-delete").click()
    notice = driver.find_element(by("ID"), "notice")
    return str(wait(lambda: notice.text if notice.text.startswith("Deleted") else "", "a notice"))


def test_the_same_photo_twice_deleted_on_me_is_gone(
    browser: Any, site: tuple[Server, str], photo: Path, tmp_path: Path, screenshots: Path
) -> None:
    server, _ = site
    driver = browser
    driver.get(f"{server.base}/")
    for count in (1, 2):  # two picks of the same file: two claims, two delete tokens
        pick(driver, photo)
        wait(
            lambda n=count: len(driver.find_elements(by("CSS_SELECTOR"), ".upload.done")) == n,
            "it",
        )
    image_id = uploaded_id(driver, 0)
    assert uploaded_id(driver, 1) == image_id
    assert _delete_on_me(driver, server.base, image_id) == "Deleted: the image is gone."
    driver.save_screenshot(str(screenshots / "me-deleted.png"))
    assert request(f"{server.base}/i/{image_id}")[0] == 404
    assert request(f"{server.base}/p/{image_id}")[0] == 404
    assert not driver.find_elements(by("CSS_SELECTOR"), f".card[data-id='{image_id}']")

    # another uploader holds the same bytes: the page deletes its own claims, says it stays
    shared = tmp_path / "shared.jpg"
    shared.write_bytes(make_jpeg(900, 600, seed=31))
    other = _anonymous(server, shared.read_bytes())
    driver.get(f"{server.base}/")
    pick(driver, shared)
    assert uploaded_id(driver, 0) == other["id"]
    said = _delete_on_me(driver, server.base, other["id"])
    assert "still online" in said, said
    assert request(f"{server.base}/i/{other['id']}")[0] == 200


def test_a_delete_link_opened_in_the_browser_asks(
    browser: Any, axe_source: str, site: tuple[Server, str], screenshots: Path
) -> None:
    server, _ = site
    driver = browser
    answer = _anonymous(server, make_jpeg(400, 300, seed=32))
    driver.get(answer["delete_url"])
    wait(lambda: driver.find_element(by("ID"), "confirm").is_displayed(), "the question")
    assert driver.current_url.startswith(f"{server.base}/me#delete=")
    driver.find_element(by("ID"), "confirm-cancel").click()
    assert request(f"{server.base}/i/{answer['id']}")[0] == 200  # kept
    driver.get(answer["delete_url"])
    wait(lambda: driver.find_element(by("ID"), "confirm").is_displayed(), "the question")
    driver.save_screenshot(str(screenshots / "me-confirm.png"))
    driver.find_element(by("ID"), "confirm-delete").click()
    wait(lambda: driver.find_element(by("ID"), "notice").text.startswith("Deleted"), "deletion")
    assert request(f"{server.base}/i/{answer['id']}")[0] == 404

    # an unknown or deleted page answers a page, in the site's style; the favicon is there
    for path in (f"/p/{answer['id']}", f"/p/{answer['id']}/", "/me/"):
        driver.get(server.base + path)
        heading = driver.find_element(by("TAG_NAME"), "h1").text
        assert heading in ("Image not found", "Page not found"), (path, heading)
        assert (
            driver.find_element(by("CSS_SELECTOR"), "header.bar").value_of_css_property("display")
            == "flex"
        )  # the stylesheet applies
    driver.save_screenshot(str(screenshots / "not-found.png"))
    assert_accessible(driver, axe_source, "404")
    assert driver.execute_script("return fetch('/favicon.ico').then((r) => r.status)") == 200
