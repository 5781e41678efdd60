"""The share page's editor (issue 22, "Editing in the page") in a real browser: Edit only for
the image's uploaders; Rotate gives a ``rot=90`` link that answers the turned picture; a crop
dragged on the (turned, mirrored) picture gives the ``crop=`` of the dragged region in the
original's pixels, checked against the proxy's answer pixel by pixel; keyboard crop; Copy; phone
width with a touch drag; axe-core with the editor open; the Text and Watermark overlays, each
landing where its position says and nowhere else, the preview debounced, the server's refusals
(a character the font lacks, an unknown overlay) said in the editor."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import pyvips

from tests.browser.driving import (
    CAPTURE_COPY,
    PHONE,
    assert_accessible,
    assert_same_origin,
    by,
    no_sideways_scroll,
    pick,
    uploaded_id,
    wait,
    wait_for_photo,
)
from tests.e2e.conftest import make_jpeg
from tests.e2e.process import clean_env, cli, request
from tests.e2e.servers import Server, servers

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).parents[2] / "docs"
LARGE = 1600  # the large size's box: the editor's links are served at it
STAGE_READY = """
const img = document.querySelector('#editor .stage-image');
const editor = document.getElementById('editor');
const open = Boolean(editor && editor.open);
return Boolean(img && img.complete && img.naturalWidth > 0 && open
               && !img.classList.contains('loading'));
"""

Rect = tuple[int, int, int, int]


def _uploaded_here(driver: Any, base: str, jpeg: bytes) -> dict[str, Any]:
    """An anonymous upload whose delete link this browser keeps, as the upload page does."""
    status, _, body = request(f"{base}/v1/images", jpeg, {"Content-Type": "image/jpeg"})
    assert status == 201
    answer: dict[str, Any] = json.loads(body)
    driver.get(f"{base}/")
    driver.execute_script(
        "const [id, url, deleteUrl] = arguments;"
        "Enlarger.keepAnonymousUpload({id, url, delete_url: deleteUrl})",
        answer["id"],
        answer["url"],
        answer["delete_url"],
    )
    return answer


def _open_share(driver: Any, base: str, image_id: str) -> str:
    """The share page, once its script decided whether Edit is shown: "true" or "false"."""
    driver.get(f"{base}/p/{image_id}")
    wait_for_photo(driver)
    return str(
        wait(lambda: driver.find_element(by("ID"), "main").get_attribute("data-editable"), "Edit")
    )


def _open_editor(driver: Any, base: str, image_id: str) -> None:
    assert _open_share(driver, base, image_id) == "true"
    driver.find_element(by("ID"), "edit").click()
    wait(lambda: driver.execute_script(STAGE_READY), "the editor's picture")


def _link(driver: Any) -> str:
    return str(driver.find_element(by("ID"), "edit-link").get_attribute("value"))


def _params(link: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def _crop(link: str) -> Rect:
    x, y, w, h = (int(v) for v in _params(link)["crop"].split(","))
    return x, y, w, h


def _turned(driver: Any, rot: int) -> None:
    """Rotate until the link says ``rot``, and the stage shows it."""
    driver.find_element(by("ID"), "edit-rotate").click()
    wait(lambda: _params(_link(driver)).get("rot", "0") == str(rot), f"rot={rot}")
    wait(lambda: driver.execute_script(STAGE_READY), "the turned picture")


def _result_shown(driver: Any) -> None:
    """The link's own picture (small), under the link as it is now: its parameters and
    ``size=small``, the overlays' pixel sizes (txt_size, wm_margin) scaled to the small size."""

    def shown() -> bool:
        src = driver.execute_script(
            "const r = document.querySelector('.edit-result');"
            "return r.complete && r.naturalWidth > 0 ? r.src : ''"
        )
        link = _link(driver)
        if not src or urlsplit(src).path != urlsplit(link).path:
            return False
        scaled = ("txt_size", "wm_margin")
        got = {k: v for k, v in _params(src).items() if k not in scaled}
        want = {k: v for k, v in _params(link).items() if k not in scaled}
        return got == {**want, "size": "small", "fmt": "auto"}

    wait(shown, "the link's own picture")


def _drag(driver: Any, element: Any, dx: int, dy: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).click_and_hold(element).move_by_offset(dx, dy).release().perform()


def _stage_width(driver: Any) -> int:
    return int(driver.execute_script("return document.querySelector('.stage').clientWidth"))


def _fetch(link: str) -> pyvips.Image:
    status, _, data = request(link)
    assert status == 200, (link, status, data[:200])
    return pyvips.Image.new_from_buffer(data, "")


def _alike(got: pyvips.Image, want: pyvips.Image) -> None:
    """The same picture (JPEG noise aside): a region a few pixels off, mirrored or turned the
    wrong way would differ far more."""
    assert (got.width, got.height) == (want.width, want.height)
    diff = (got[0:3].cast("float") - want[0:3].cast("float")).abs().avg()
    assert diff < 6, diff


def _to_view(crop: Rect, height: int) -> Rect:
    """Where the original's rectangle lands in the picture turned 90° clockwise (the original's
    bottom-left corner becomes the top-left)."""
    x, y, w, h = crop
    return height - y - h, x, h, w


def _near(got: Rect, want: tuple[float, ...], slack: float = 2) -> None:
    assert all(abs(g - w) <= slack for g, w in zip(got, want, strict=True)), (got, want)


def test_edit_rotate_drag_a_crop_flip_and_copy(
    browser: Any,
    axe_source: str,
    site: tuple[Server, str],
    photo: Path,
    screenshots: Path,
) -> None:
    server, _ = site
    driver = browser
    base = server.base
    original = pyvips.Image.new_from_file(str(photo)).autorot()
    width, height = original.width, original.height
    driver.get(f"{base}/")
    pick(driver, photo)  # uploaded here: its delete link is kept in this browser
    image_id = uploaded_id(driver, 0)
    driver.get_log("performance")
    _open_editor(driver, base, image_id)
    assert _link(driver) == f"{base}/i/{image_id}"  # nothing edited yet: the plain link
    driver.save_screenshot(str(screenshots / "editor-desktop.png"))
    assert_accessible(driver, axe_source, "/p/<id> with the editor open")

    # Rotate: a rot=90 link, whose picture is the original turned (its sides swapped)
    _turned(driver, 90)
    assert _params(_link(driver)) == {"rot": "90"}
    plain, turned = _fetch(f"{base}/i/{image_id}"), _fetch(_link(driver))
    assert (turned.width, turned.height) == (plain.height, plain.width)
    _alike(turned, plain.rot90())

    # a crop dragged on the upright picture: its corner, then the box
    driver.find_element(by("ID"), "edit-reset").click()
    wait(lambda: driver.execute_script(STAGE_READY) and "rot" not in _link(driver), "reset")
    shown = _stage_width(driver)
    scale = width / shown  # original pixels per CSS pixel
    corner_dx, corner_dy = -round(shown * 0.6), -round(shown * height / width * 0.6)
    _drag(driver, driver.find_element(by("CSS_SELECTOR"), ".handle.se"), corner_dx, corner_dy)
    box_dx, box_dy = round(shown * 0.2), round(shown * height / width * 0.3)
    _drag(driver, driver.find_element(by("CSS_SELECTOR"), ".crop-area"), box_dx, box_dy)
    wait(lambda: "crop=" in _link(driver), "a crop")
    crop = _crop(_link(driver))
    _near(
        crop,
        (box_dx * scale, box_dy * scale, width + corner_dx * scale, height + corner_dy * scale),
    )
    assert max(crop[2:]) <= LARGE  # served as cropped: the size is the crop's
    _alike(_fetch(_link(driver)), original.crop(*crop))
    _result_shown(driver)
    driver.save_screenshot(str(screenshots / "editor-crop.png"))

    # Rotate keeps the cropped region (now turned): the same crop=, the picture turned
    _turned(driver, 90)
    assert _crop(_link(driver)) == crop
    _alike(_fetch(_link(driver)), original.crop(*crop).rot90())

    # a crop dragged on the turned picture: mapped back to the upright original's pixels
    driver.find_element(by("ID"), "edit-reset").click()
    wait(lambda: "crop" not in _link(driver) and "rot" not in _link(driver), "reset")
    _turned(driver, 90)
    shown = _stage_width(driver)
    scale = height / shown  # the turned picture is `height` pixels wide
    corner_dx, corner_dy = -round(shown * 0.5), -round(shown * width / height * 0.55)
    _drag(driver, driver.find_element(by("CSS_SELECTOR"), ".handle.se"), corner_dx, corner_dy)
    box_dx, box_dy = round(shown * 0.3), round(shown * width / height * 0.1)
    _drag(driver, driver.find_element(by("CSS_SELECTOR"), ".crop-area"), box_dx, box_dy)
    wait(lambda: "crop=" in _link(driver), "a crop of the turned picture")
    dragged = (
        box_dx * scale,
        box_dy * scale,
        height + corner_dx * scale,
        width + corner_dy * scale,
    )
    crop = _crop(_link(driver))
    view = _to_view(crop, height)
    _near(view, dragged)
    answer = _fetch(_link(driver))
    assert (answer.width, answer.height) == view[2:]  # the crop's, turned
    _alike(answer, original.rot90().crop(*view))  # what was dragged on the turned picture
    _result_shown(driver)
    driver.save_screenshot(str(screenshots / "editor-turned-crop.png"))

    # Flip: flop=1 (left to right), the same region, mirrored after the turn
    driver.find_element(by("ID"), "edit-flip").click()
    wait(lambda: _params(_link(driver)).get("flop") == "1", "flop=1")
    assert driver.find_element(by("ID"), "edit-flip").get_attribute("aria-pressed") == "true"
    assert _crop(_link(driver)) == crop and "flip" not in _params(_link(driver))
    _alike(_fetch(_link(driver)), original.crop(*crop).rot90().fliphor())
    wait(lambda: driver.execute_script(STAGE_READY), "the mirrored picture")
    _result_shown(driver)
    driver.save_screenshot(str(screenshots / "editor-flipped.png"))
    if os.environ.get("ENLARGER_TEST_UPDATE_DOCS") or not (DOCS / "editor.png").exists():
        shutil.copyfile(screenshots / "editor-flipped.png", DOCS / "editor.png")  # the README's

    # Copy, and the same link as Markdown, HTML and BBCode
    driver.execute_script(CAPTURE_COPY)
    link = _link(driver)
    driver.find_element(by("CSS_SELECTOR"), "button[data-copy='edit-link']").click()
    wait(lambda: driver.execute_script("return window.__copied.length"), "the copy")
    assert driver.execute_script("return window.__copied") == [link]
    for name, want in (
        ("markdown", f"![image]({link})"),
        ("html", f'<img src="{link}" width="{crop[3]}" height="{crop[2]}" alt="image">'),
        ("bbcode", f"[img]{link}[/img]"),
    ):
        assert driver.find_element(by("ID"), f"edit-{name}").get_attribute("value") == want

    # Escape closes; the focus is back on Edit; the original is unchanged; one origin only
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    wait(
        lambda: not driver.execute_script("return document.getElementById('editor').open"), "close"
    )
    assert driver.execute_script("return document.activeElement.id") == "edit"
    status, _, body = request(f"{base}/v1/images/{image_id}")
    assert status == 200 and (json.loads(body)["width"], json.loads(body)["height"]) == (
        width,
        height,
    )
    assert_same_origin(driver, base)


def test_keyboard_crop_and_who_sees_edit(
    browser: Any, site: tuple[Server, str], screenshots: Path
) -> None:
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.select import Select

    server, key = site
    driver = browser
    base = server.base
    anonymous = json.loads(
        request(f"{base}/v1/images", make_jpeg(900, 600, seed=41), {"Content-Type": "image/jpeg"})[
            2
        ]
    )
    status, _, body = request(
        f"{base}/v1/images",
        make_jpeg(1200, 900, seed=42),
        {"Content-Type": "image/jpeg", "Authorization": f"Bearer {key}"},
    )
    assert status == 201
    mine = json.loads(body)

    # a visitor (no key, no delete link here) sees no Edit; nor a signed-in user who did not
    # upload it
    assert _open_share(driver, base, anonymous["id"]) == "false"
    assert not driver.find_elements(by("ID"), "edit")
    driver.execute_script("localStorage.setItem('enlarger.apiKey', arguments[0])", key)
    assert _open_share(driver, base, anonymous["id"]) == "false"
    assert not driver.find_elements(by("ID"), "edit")

    # the key's own upload: Edit, opened and worked with the keyboard alone
    assert _open_share(driver, base, mine["id"]) == "true"
    driver.find_element(by("ID"), "edit").send_keys(Keys.ENTER)
    wait(lambda: driver.execute_script(STAGE_READY), "the editor")
    assert driver.execute_script("return document.activeElement.className") == "crop-area"
    unit = round(1200 / 100)  # a press moves 1 % of the picture's width
    handle = driver.find_element(by("CSS_SELECTOR"), ".handle.se")
    handle.send_keys(Keys.ARROW_LEFT * 10 + Keys.ARROW_UP * 5)
    area = driver.find_element(by("CSS_SELECTOR"), ".crop-area")
    area.send_keys(Keys.ARROW_RIGHT * 3 + Keys.ARROW_DOWN * 2)
    wait(lambda: "crop=" in _link(driver), "a crop")
    assert _crop(_link(driver)) == (3 * unit, 2 * unit, 1200 - 10 * unit, 900 - 5 * unit)
    area.send_keys(Keys.SHIFT + Keys.ARROW_LEFT + Keys.NULL)  # Shift: 10 %, stopped at the edge
    assert _crop(_link(driver))[0] == 0
    said = driver.find_element(by("ID"), "edit-said").text
    assert said == f"Crop: {1200 - 10 * unit} \u00d7 {900 - 5 * unit} px.", said

    # an aspect: the largest 1:1 inside the box; the link's picture is square
    Select(driver.find_element(by("ID"), "edit-aspect")).select_by_value("1:1")
    wait(lambda: _crop(_link(driver))[2] == _crop(_link(driver))[3], "a square crop")
    side = _crop(_link(driver))[2]
    assert side == 900 - 5 * unit
    answer = _fetch(_link(driver))
    assert (answer.width, answer.height) == (side, side)
    handle.send_keys(Keys.ARROW_LEFT * 4)  # a corner moved keeps the aspect
    assert _crop(_link(driver))[2:] == (side - 4 * unit, side - 4 * unit)
    driver.find_element(by("ID"), "edit-rotate").send_keys(Keys.ENTER)
    wait(lambda: "rot=90" in _link(driver), "rot=90")
    wait(lambda: driver.execute_script(STAGE_READY), "the turned picture")
    _result_shown(driver)
    driver.save_screenshot(str(screenshots / "editor-keyboard.png"))
    area.send_keys(Keys.ESCAPE)
    wait(
        lambda: not driver.execute_script("return document.getElementById('editor').open"), "close"
    )
    assert driver.execute_script("return document.activeElement.id") == "edit"


def test_the_editor_at_phone_width_with_a_touch_drag(
    browser: Any, axe_source: str, site: tuple[Server, str], screenshots: Path
) -> None:
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    server, _ = site
    driver = browser
    base = server.base
    answer = _uploaded_here(driver, base, make_jpeg(1600, 1200, seed=43))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True})
    try:
        _open_editor(driver, base, answer["id"])
        assert driver.execute_script("return window.innerWidth") == 390
        assert no_sideways_scroll(driver)
        dialog = driver.find_element(by("ID"), "editor").rect
        assert dialog["x"] >= 0 and dialog["x"] + dialog["width"] <= 390, dialog
        handle = driver.find_element(by("CSS_SELECTOR"), ".handle.nw")
        assert min(handle.size["width"], handle.size["height"]) >= 24
        shown = _stage_width(driver)
        scale = 1600 / shown
        rect = handle.rect
        x, y = rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2
        finger = PointerInput(interaction.POINTER_TOUCH, "finger")
        actions = ActionBuilder(driver, mouse=finger)
        actions.pointer_action.move_to_location(round(x), round(y)).pointer_down()
        actions.pointer_action.move_to_location(round(x) + 100, round(y) + 60).pointer_up()
        actions.perform()
        wait(lambda: "crop=" in _link(driver), "a crop from the touch drag")
        _near(
            _crop(_link(driver)),
            (100 * scale, 60 * scale, 1600 - 100 * scale, 1200 - 60 * scale),
            slack=scale + 2,  # the finger lands on a whole CSS pixel
        )
        assert no_sideways_scroll(driver)
        _result_shown(driver)
        driver.save_screenshot(str(screenshots / "editor-phone.png"))
        assert_accessible(driver, axe_source, "/p/<id> with the editor open, phone")
    finally:
        driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_editors_geometry_is_the_pipelines(browser: Any, site: tuple[Server, str]) -> None:
    """Every turn and mirror: the editor's rectangle maps land where libvips' ``rot`` and
    ``flip`` (the pipeline's own calls, proxy/pipeline.py) put a marked rectangle, and back."""
    server, _ = site
    driver = browser
    driver.get(f"{server.base}/")
    driver.execute_script(
        "const s = document.createElement('script');"
        "s.src = '/static/editor.js'; document.head.append(s);"
    )
    wait(lambda: driver.execute_script("return typeof EnlargerEditor === 'object'"), "the script")
    width, height, src = 70, 50, (11, 7, 23, 9)
    marked = pyvips.Image.black(width, height).draw_rect(255, *src, fill=True)
    for rot in (0, 90, 180, 270):
        for flop in (False, True):
            turned = marked.rot({0: "d0", 90: "d90", 180: "d180", 270: "d270"}[rot])
            turned = turned.flip("horizontal") if flop else turned
            left, top, w, h = turned.find_trim(background=[0], threshold=1)
            view = driver.execute_script(
                "const [[x, y, w, h], ...size] = Array.from(arguments);"
                "const v = EnlargerEditor.toView({x, y, w, h}, ...size);"
                "const b = EnlargerEditor.toSource(v, ...size);"
                "return [[v.x, v.y, v.w, v.h], [b.x, b.y, b.w, b.h]];",
                list(src),
                width,
                height,
                rot,
                flop,
            )
            assert view == [[left, top, w, h], list(src)], (rot, flop)


def test_a_server_that_signs_its_links_says_so_in_the_editor(
    browser: Any, tmp_path: Path, screenshots: Path
) -> None:
    """Under ``ENLARGER_REQUIRE_SIGNATURE`` an unsigned ``rot=90`` is refused: the editor says
    why in the server's words instead of showing a broken picture."""
    env = clean_env(
        tmp_path / "data",
        ENLARGER_SIGNING_KEYS="editor-test-key",
        ENLARGER_REQUIRE_SIGNATURE="true",
    )
    assert cli(env, "migrate").returncode == 0
    driver = browser
    with servers(env, 1) as (server,):
        base = server.base
        answer = _uploaded_here(driver, base, make_jpeg(800, 600, seed=44))
        _open_editor(driver, base, answer["id"])  # size=large&fmt=auto: a named size, unsigned
        driver.find_element(by("ID"), "edit-rotate").click()
        notice = wait(
            lambda: (
                driver.find_element(by("CSS_SELECTOR"), "#editor .notice.error").is_displayed()
                and driver.find_element(by("CSS_SELECTOR"), "#editor .notice.error")
            ),
            "the reason",
        )
        assert notice.text == (
            "The preview could not be made: this server only serves named sizes and presets "
            "without a signature: sign the URL."
        ), notice.text
        driver.save_screenshot(str(screenshots / "editor-signed-server.png"))


def _changed_box(got: pyvips.Image, plain: pyvips.Image) -> Rect:
    """The bounding box of the pixels that differ clearly (not JPEG noise) between two answers of
    the same size; (0, 0, 0, 0) when none do."""
    assert (got.width, got.height) == (plain.width, plain.height)
    diff = (got[0:3].cast("float") - plain[0:3].cast("float")).abs().bandmean() > 40
    if diff.max() == 0:
        return 0, 0, 0, 0
    left, top, width, height = diff.find_trim(background=[0], threshold=1)
    return left, top, width, height


def _inside(box: Rect, region: Rect) -> bool:
    x, y, w, h = box
    rx, ry, rw, rh = region
    return w > 0 and h > 0 and rx <= x and ry <= y and x + w <= rx + rw and y + h <= ry + rh


def _type(driver: Any, element_id: str, text: str) -> None:
    element = driver.find_element(by("ID"), element_id)
    element.clear()
    element.send_keys(text)


def test_text_and_watermark_overlays(
    browser: Any, axe_source: str, site: tuple[Server, str], screenshots: Path
) -> None:
    from selenium.webdriver.support.select import Select

    server, _ = site
    driver = browser
    base = server.base
    logo = pyvips.Image.black(300, 150).new_from_image([30, 190, 60])  # a green logo
    green = logo.cast("uchar").copy(interpretation="srgb")
    overlay = _uploaded_here(driver, base, green.jpegsave_buffer(Q=90))  # among this browser's
    answer = _uploaded_here(driver, base, make_jpeg(1200, 800, seed=45))
    image_id = answer["id"]
    driver.get_log("performance")  # the browser's own start-up pages: not the site's requests
    _open_editor(driver, base, image_id)
    plain = _fetch(f"{base}/i/{image_id}")  # 1200x800: inside the large box, as the link serves
    quarter = (plain.width // 2, plain.height // 2)

    # Text: typed (one preview for the whole caption, not one a key), put top left
    caption = "\u00a9 Ada & Bo"
    _type(driver, "edit-txt", caption)
    Select(driver.find_element(by("ID"), "edit-txt-pos")).select_by_value("north-west")
    wait(lambda: _params(_link(driver)).get("txt_pos") == "north-west", "txt_pos=north-west")
    link = _link(driver)
    assert "txt=%C2%A9%20Ada%20%26%20Bo&" in link, link
    params = _params(link)
    assert (params["txt"], params["txt_size"], params["txt_color"]) == (caption, "32", "ffffff")
    _result_shown(driver)
    previews = driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter((e) => e.name.includes('txt=')).map((e) => e.name)"
    )
    assert 1 <= len(previews) <= 2, previews  # debounced: not one render per key
    assert _params(previews[-1])["txt_size"] == "8"  # 32 px on 1200, on the small 320: 8.5
    text_only = _fetch(link)
    box = _changed_box(text_only, plain)
    assert _inside(box, (0, 0, *quarter)), box  # top left, and nowhere else
    assert box[2] > 100, box  # the caption's width, not a speck
    notice = driver.find_element(by("CSS_SELECTOR"), "#editor .notice.error")

    # characters the font lacks: the server's 400, in its words; the caption again: gone
    _type(driver, "edit-txt", "\u6771\u4eac")
    wait(lambda: notice.is_displayed(), "the server's refusal")
    assert notice.text.startswith(
        "The preview could not be made: txt has characters the font (DejaVu Sans) does not draw"
    ), notice.text
    _type(driver, "edit-txt", caption)
    wait(lambda: not notice.is_displayed(), "the refusal gone")
    _result_shown(driver)

    # Watermark: chosen among this browser's uploads, bottom right by default
    choice = Select(driver.find_element(by("ID"), "edit-wm-choice"))
    wait(lambda: any(o.get_attribute("value") == overlay["id"] for o in choice.options), "choice")
    choice.select_by_value(overlay["id"])
    assert driver.find_element(by("ID"), "edit-wm").get_attribute("value") == overlay["id"]
    wait(lambda: _params(_link(driver)).get("wm") == overlay["id"], "wm=<id>")
    link = _link(driver)
    assert _params(link)["wm_pos"] == "south-east" and "wm_margin" not in _params(link)
    box = _changed_box(_fetch(link), text_only)
    assert _inside(box, (*quarter, *quarter)), box  # bottom right, and nowhere else
    _near(box, (1200 - 16 - 300, 800 - 16 - 150, 300, 150), slack=3)  # 0.25 of 1200, 16 px in
    _result_shown(driver)
    src = driver.execute_script("return document.querySelector('.edit-result').src")
    assert _params(src)["wm_margin"] == "4"  # 16 px on 1200 is 4 on the small 320 (4.3)
    driver.execute_script("document.querySelector('.edit-result').scrollIntoView({block: 'end'})")
    driver.save_screenshot(str(screenshots / "editor-overlays.png"))
    assert_accessible(driver, axe_source, "/p/<id>, the editor with its overlays")

    # An id of no image: the link has it, the preview says the server's words
    _type(driver, "edit-wm", "a" * 26)
    wait(lambda: _params(_link(driver)).get("wm") == "a" * 26, "the unknown id in the link")
    wait(lambda: "wm names no image" in notice.text and notice.is_displayed(), "the words")
    assert notice.text == (
        "The preview could not be made: wm names no image (or a deleted one)."
    ), notice.text
    driver.save_screenshot(str(screenshots / "editor-unknown-overlay.png"))
    # not an id at all: said in the page, left out of the link, nothing asked of the server
    _type(driver, "edit-wm", "logo")
    wait(lambda: "wm" not in _params(_link(driver)), "no wm")
    wait(lambda: notice.text.startswith("Not in the link yet: an image id is 26"), "the check")
    # a valid one again: the message goes
    _type(driver, "edit-wm", overlay["id"])
    wait(lambda: not notice.is_displayed(), "the message gone")
    _result_shown(driver)
    assert_same_origin(driver, base)
