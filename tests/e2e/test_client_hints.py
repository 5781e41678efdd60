"""Client hints over HTTP against a real ``enlarger serve``: ``w=auto`` with ``Sec-CH-Width: 700``
answers 720 px, a width from 700 to 800 (issue 22's "done" item 2), with Vary naming the hints;
answers without ``auto`` keep their headers whatever hints come; a signed ``w=auto`` serves any
hint and refuses tampering; every HTML page asks for the hints (Accept-CH)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from enlarger.proxy.hints import ACCEPT_CH
from enlarger.proxy.signing import Signer
from tests.e2e.conftest import decode, make_jpeg
from tests.e2e.process import clean_env, request, serve

pytestmark = pytest.mark.e2e

KEY = "hints-signing-key"
# Headers that differ between two answers of the same variant whatever was asked.
PER_ANSWER = {"Date", "Server-Timing", "X-Request-Id"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real server (signing on, unsigned URLs allowed) with one 2000x1500 image."""
    data_dir = tmp_path_factory.mktemp("hints") / "data"
    for base in serve(clean_env(data_dir, ENLARGER_SIGNING_KEYS=KEY)):
        status, _, body = request(
            f"{base}/v1/images", make_jpeg(2000, 1500, seed=22), {"Content-Type": "image/jpeg"}
        )
        assert status == 201, body
        yield base, json.loads(body)["id"]


def view(url: str, **headers: str) -> tuple[int, dict[str, str], int | None]:
    """Status, headers and the decoded width of a view. A quick first answer (a rendered JPEG
    while it is polished, with a weak ETag of its own: proxy/polish.py) is asked again: the
    tests compare the variant's own headers."""
    status, answer, body = request(url, headers=headers)
    if answer.get("ETag", "").startswith("W/"):
        status, answer, body = request(url, headers=headers)
    return status, answer, decode(body).width if status == 200 else None


def test_w_auto_with_sec_ch_width_700_answers_700_to_800_px_varying_on_the_hint(
    live: tuple[str, str],
) -> None:
    base, image_id = live
    status, headers, width = view(f"{base}/i/{image_id}?w=auto", **{"Sec-CH-Width": "700"})
    assert status == 200 and width is not None and 700 <= width <= 800
    vary = [name.strip() for name in headers["Vary"].split(",")]
    assert "Sec-CH-Width" in vary and vary == ["Sec-CH-Width", "Width"]
    _, explicit, explicit_width = view(f"{base}/i/{image_id}?w=720")
    assert explicit_width == width == 720  # the ladder step: the same variant
    assert explicit["ETag"] == headers["ETag"] and "Vary" not in explicit


def test_the_legacy_width_the_fallback_and_dpr_auto(live: tuple[str, str]) -> None:
    base, image_id = live
    assert view(f"{base}/i/{image_id}?w=auto", Width="300")[2] == 320
    assert view(f"{base}/i/{image_id}?w=%41UTO&q=80", Width="300")[2] == 320  # any spelling
    assert view(f"{base}/i/{image_id}?w=+auto", Width="300")[2] == 320
    assert view(f"{base}/i/{image_id}?w=auto", Width="1000", DPR="2")[2] == 1024  # not doubled
    status, headers, width = view(f"{base}/i/{image_id}?w=auto", **{"Sec-CH-Width": "wide"})
    assert (status, width) == (200, 800) and headers["Vary"] == "Sec-CH-Width, Width"
    status, headers, width = view(f"{base}/i/{image_id}?w=400&dpr=auto", **{"Sec-CH-DPR": "2"})
    assert (status, width, headers["Vary"]) == (200, 800, "Sec-CH-DPR, DPR")
    assert view(f"{base}/i/{image_id}?w=400&dpr=auto")[2] == 400  # no hint: dpr 1


def test_vary_keeps_accept_beside_the_hints(live: tuple[str, str]) -> None:
    base, image_id = live
    _, headers, width = view(
        f"{base}/i/{image_id}?w=auto&fmt=auto",
        **{"Sec-CH-Width": "500", "Accept": "image/webp,*/*"},
    )
    assert width == 540 and headers["Content-Type"] == "image/webp"
    assert headers["Vary"] == "Accept, Sec-CH-Width, Width"
    status, revalidated, _ = view(
        f"{base}/i/{image_id}?w=auto&fmt=auto",
        **{"Sec-CH-Width": "500", "Accept": "image/webp", "If-None-Match": headers["ETag"]},
    )
    assert status == 304 and revalidated["Vary"] == headers["Vary"]


def test_answers_without_auto_keep_their_headers_whatever_hints_come(
    live: tuple[str, str],
) -> None:
    base, image_id = live
    hints = {"Sec-CH-Width": "300", "Width": "300", "Sec-CH-DPR": "3", "DPR": "3"}
    for query in ("w=640", "w=640&fmt=auto", "size=small", "w=320&dpr=2", "q=auto&w=64"):
        accept = {"Accept": "image/avif,image/webp"}
        _, plain, plain_width = view(f"{base}/i/{image_id}?{query}", **accept)
        _, hinted, hinted_width = view(f"{base}/i/{image_id}?{query}", **accept, **hints)
        assert plain_width == hinted_width, query
        drop = {name: value for name, value in plain.items() if name not in PER_ANSWER}
        assert drop == {k: v for k, v in hinted.items() if k not in PER_ANSWER}, query


def test_a_signed_w_auto_serves_any_hint_and_refuses_tampering(live: tuple[str, str]) -> None:
    base, image_id = live
    signed = Signer((KEY.encode(),)).sign(f"/i/{image_id}?w=auto")
    widths = {
        hint: view(f"{base}{signed}", **{"Sec-CH-Width": hint})[1:] for hint in ("300", "701")
    }
    assert widths["300"][1] == 320 and widths["701"][1] == 720  # the ladder, though signed
    assert all(headers["Vary"] == "Sec-CH-Width, Width" for headers, _ in widths.values())
    for tampered in (signed.replace("w=auto", "w=701"), signed.replace("w=auto", "w=auto&q=90")):
        status, _, body = request(f"{base}{tampered}", headers={"Sec-CH-Width": "701"})
        assert status == 403 and json.loads(body)["error"]["code"] == "bad_signature", tampered
    exact = Signer((KEY.encode(),)).sign(f"/i/{image_id}?w=701")
    assert view(f"{base}{exact}", **{"Sec-CH-Width": "300"})[2] == 701  # no auto: no hint


def test_html_pages_ask_for_the_hints_and_images_do_not(live: tuple[str, str]) -> None:
    base, image_id = live
    for path in ("/", "/me", f"/p/{image_id}", f"/p/{image_id}/stats"):
        status, headers, _ = request(f"{base}{path}", headers={"Accept": "text/html"})
        assert status == 200 and headers["Accept-CH"] == ACCEPT_CH, path
        assert "Critical-CH" not in headers, path
    status, headers, _ = request(f"{base}/i/{image_id}?w=auto")
    assert status == 200 and "Accept-CH" not in headers
    assert "Accept-CH" not in request(f"{base}/static/app.css")[1]


def test_stored_variants_of_hints_stay_on_the_ladder(live: tuple[str, str]) -> None:
    """A hundred different hints make no variant off the ladder: each answer is a step."""
    base, image_id = live
    widths = {view(f"{base}/i/{image_id}?w=auto", Width=str(w))[2] for w in range(650, 750)}
    assert widths == {720, 800}
