"""The transformation API over HTTP: negotiation, bounded variants, fuzzed queries, metadata."""

from __future__ import annotations

import json
import random
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvips
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enlarger.media import ACCEPTED
from enlarger.proxy.service import REVALIDATED, TIERS
from enlarger.proxy.spec import ALIASES, snap_width
from enlarger.settings import Settings
from tests.e2e.conftest import Stack, decode, make_jpeg
from tests.e2e.process import clean_env, request, serve

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


async def test_auto_format_follows_accept(stack: Stack) -> None:
    image_id = (await (await stack.upload(make_jpeg(900, 600))).json())["id"]
    cases = {
        "image/avif,image/webp,image/apng,image/*,*/*;q=0.8": "image/avif",
        "image/webp,*/*": "image/webp",
        "image/avif;q=0,image/webp": "image/webp",
        "*/*": "image/jpeg",
        "": "image/jpeg",
    }
    etags = {}
    for accept, expected in cases.items():
        response = await stack.client.get(
            f"/i/{image_id}?w=320&fmt=auto", headers={"Accept": accept}
        )
        assert response.status == 200, accept
        assert response.headers["Content-Type"] == expected, accept
        assert response.headers["Vary"] == "Accept"
        assert decode(await response.read()).width == 320
        etags.setdefault(expected, set()).add(response.headers["ETag"])
    assert all(len(tags) == 1 for tags in etags.values())
    assert len({tag for tags in etags.values() for tag in tags}) == 3
    explicit = await stack.client.get(f"/i/{image_id}?w=320&fmt=webp")
    assert explicit.headers["Content-Type"] == "image/webp" and "Vary" not in explicit.headers


async def test_auto_format_keeps_an_animated_webp_animated(stack: Stack) -> None:
    """A client that names neither WebP nor AVIF (curl's ``*/*``) gets a GIF of an animated
    WebP, every frame kept; a WebP client gets the animated WebP."""
    from tests.golden.test_animation import GENERATED_DATA

    upload = await (await stack.upload(GENERATED_DATA["webp"], filename="anim.webp")).json()
    for accept, expected in (("*/*", "image/gif"), ("image/webp,*/*", "image/webp")):
        answer = await stack.client.get(
            f"/i/{upload['id']}?w=32&fmt=auto", headers={"Accept": accept}
        )
        assert answer.status == 200 and answer.headers["Content-Type"] == expected, accept
        image = pyvips.Image.new_from_buffer(await answer.read(), "", n=-1)
        assert image.get("n-pages") > 1 and image.width == 32, accept


async def test_random_widths_and_qualities_store_a_bounded_number_of_variants(
    stack: Stack,
) -> None:
    """400 random w/q views of one image: every quality stored is a step of the ladder, so the
    variants are at most (ladder widths asked) x (quality steps). Before the ladder, q in steps
    of 5 made twice as many."""
    image_id = (await (await stack.upload(make_jpeg(480, 320, seed=4))).json())["id"]
    settings = Settings()
    rng = random.Random(400)
    widths = set()
    for _ in range(400):
        width, quality = rng.randint(1, 2048), rng.randint(1, 100)
        answer = await stack.client.get(f"/i/{image_id}?w={width}&q={quality}")
        assert answer.status == 200, (width, quality, await answer.text())
        widths.add(snap_width(width, settings.width_ladder))
    names = [name.rsplit("/", 1)[-1] for name in await stack.variant_names(image_id)]
    qualities = {int(re.search(r"\.q(\d+)\.", name).group(1)) for name in names}  # type: ignore[union-attr]
    assert qualities <= set(settings.quality_ladder), sorted(qualities)
    assert 0 < len(names) <= len(widths) * len(settings.quality_ladder)


async def test_links_with_an_extension_choose_the_format(stack: Stack) -> None:
    """``/i/<id>.jpg`` (and .jpeg .png .webp .avif .gif, any case) is ``fmt=`` of that format:
    the same variant, ETag and bytes; a conflicting ``fmt`` is a 400; HEAD works too."""
    image_id = (await (await stack.upload(make_jpeg(640, 480, seed=5))).json())["id"]
    types = {"jpg": "jpeg", "JPEG": "jpeg", "png": "png", "webp": "webp", "avif": "avif"}
    for suffix, fmt in {**types, "gif": "gif"}.items():
        answer = await stack.client.get(f"/i/{image_id}.{suffix}?w=160")
        assert answer.status == 200, (suffix, await answer.text())
        assert answer.headers["Content-Type"] == f"image/{fmt}" and "Vary" not in answer.headers
        assert decode(await answer.read()).width == 160
        same = await stack.client.get(f"/i/{image_id}?w=160&fmt={fmt}")
        assert same.headers["ETag"] == answer.headers["ETag"], suffix
    agreeing = await stack.client.get(f"/i/{image_id}.jpg?format=jpeg")
    assert agreeing.status == 200
    for query in ("fmt=png", "fmt=auto", "f=webp"):
        refused = await stack.client.get(f"/i/{image_id}.jpg?{query}")
        assert refused.status == 400, query
        assert (await refused.json())["error"]["parameter"] == "fmt"
    head = await stack.client.head(f"/i/{image_id}.webp")
    assert head.status == 200 and head.headers["Content-Type"] == "image/webp"
    unknown = await stack.client.get(f"/i/{image_id}.bmp")
    assert unknown.status == 400 and (await unknown.json())["error"]["parameter"] == "extension"
    missing = await stack.client.get("/i/" + "a" * 26 + ".jpg")
    assert (missing.status, (await missing.json())["error"]["code"]) == (404, "image_not_found")


async def test_transform_parameters_over_http(stack: Stack) -> None:
    image_id = (await (await stack.upload(make_jpeg(1200, 800))).json())["id"]
    cases = {
        "w=400&h=300&fit=cover&g=attention": (400, 300),
        "width=400&height=300&fit=pad&bg=ff000080&fmt=png": (400, 300),
        "w=400&h=400&fit=fill": (400, 400),
        "w=400&h=400": (400, 267),
        "h=240": (360, 240),
        "w=320&dpr=2": (640, 427),
        "size=small&dpr=2": (640, 427),
        "crop=0,0,600,400&w=320": (320, 213),
        "w=320&rot=90&flip=1&flop=1&blur=1&sharpen=1": (320, 480),
    }
    for query, (width, height) in cases.items():
        response = await stack.client.get(f"/i/{image_id}?{query}")
        assert response.status == 200, (query, await response.text())
        image = decode(await response.read())
        assert image.width == width and abs(image.height - height) <= 1, query
    padded = decode(
        await (
            await stack.client.get(f"/i/{image_id}?w=400&h=400&fit=pad&bg=00ff00&fmt=png")
        ).read()
    )
    assert padded(200, 5)[:3] == [0, 255, 0]


async def test_trim_over_http(stack: Stack) -> None:
    """A 600 x 400 picture in a white border answers 600 x 400 trimmed (scaled by w), under a key
    of its own; a value that is no threshold is a 400 naming trim."""
    inner = pyvips.Image.xyz(600, 400)[0].cast("uchar").bandjoin([0, 90])
    framed = inner.copy(interpretation="srgb").embed(50, 30, 740, 470, extend="white")
    image_id = (await (await stack.upload(framed.jpegsave_buffer(Q=95))).json())["id"]
    plain = await stack.client.get(f"/i/{image_id}?w=640")
    assert decode(await plain.read()).height == 406  # 740 x 470, border and all
    for query, (width, height) in {"trim=1": (600, 400), "trim=20&w=320": (320, 213)}.items():
        response = await stack.client.get(f"/i/{image_id}?{query}")
        assert response.status == 200, (query, await response.text())
        image = decode(await response.read())
        assert (image.width, image.height) == (width, height), query
        assert response.headers["ETag"] != plain.headers["ETag"]
    for bad in ("255", "-1", "x", "1.5"):
        refused = await stack.client.get(f"/i/{image_id}?trim={bad}")
        assert refused.status == 400, bad
        error = (await refused.json())["error"]
        assert (error["code"], error["parameter"]) == ("invalid_parameter", "trim"), bad


async def test_limits_describe_every_parameter(stack: Stack) -> None:
    limits = await (await stack.client.get("/v1/limits")).json()
    assert set(limits["parameters"]) == set(ALIASES)
    for name, entry in limits["parameters"].items():
        assert entry["names"] == list(ALIASES[name])
    assert limits["accepted_formats"] == list(ACCEPTED)
    assert limits["width_ladder"] == list(Settings().width_ladder)
    ladder = [40, 50, 60, 70, 75, 80, 85, 90, 95, 100]
    assert limits["quality_ladder"] == limits["quality"]["ladder"] == ladder
    assert limits["parameters"]["q"]["ladder"] == ladder
    answer = await stack.client.get("/v1/limits")
    assert answer.headers["Cache-Control"] == "public, max-age=60"


def test_api_doc_matches_limits() -> None:
    """docs/api.md lists every parameter with all its names, its range and an example URL."""
    doc = (ROOT / "docs" / "api.md").read_text()
    from enlarger.proxy.spec import ViewPolicy, describe

    policy = ViewPolicy.from_settings(Settings())
    for name, entry in describe(policy).items():
        row = next((line for line in doc.splitlines() if line.startswith(f"| `{name}`")), None)
        assert row is not None, f"docs/api.md has no table row for {name}"
        for alias in entry["names"]:  # type: ignore[attr-defined]
            assert f"`{alias}`" in row, (name, alias)
        for bound in ("min", "max"):
            if bound in entry:
                value = entry[bound]
                assert (str(value) if isinstance(value, int) else f"{value:g}") in row, name
        for value in [*entry.get("values", []), *entry.get("ladder", [])]:  # type: ignore[misc]
            assert str(value) in row, (name, value)
        assert re.search(rf"/i/\w+\?[^ `]*\b{re.escape(str(entry['names'][0]))}=", doc), (  # type: ignore[index]
            f"docs/api.md has no example URL using {name}"
        )


async def test_every_server_timing_tier_is_documented(stack: Stack) -> None:
    """A 304 names its tier (``etag``); README, docs/api.md and docs/operations.md list every
    tier the view path can name."""
    image_id = (await (await stack.upload(make_jpeg(320, 240))).json())["id"]
    first = await stack.client.get(f"/i/{image_id}?size=small")
    again = await stack.client.get(
        f"/i/{image_id}?size=small", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status == 304
    tier = re.search(r'tier;desc="(\w+)"', again.headers["Server-Timing"])
    assert tier is not None and tier.group(1) == REVALIDATED and REVALIDATED in TIERS
    for doc in ("README.md", "docs/api.md", "docs/operations.md"):
        text = (ROOT / doc).read_text().replace("\\|", "|")
        listed = re.findall(r'tier;desc="([a-z|]+)"', text)
        named = [set(names.split("|")) for names in listed]
        assert set(TIERS) in named and all(names <= set(TIERS) for names in named), doc


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """A real server on the embedded defaults with one uploaded 2000x1500 image."""
    data_dir = tmp_path_factory.mktemp("live") / "data"
    for base in serve(clean_env(data_dir)):
        status, _, body = request(
            f"{base}/v1/images", make_jpeg(2000, 1500, seed=9), {"Content-Type": "image/jpeg"}
        )
        assert status == 201
        yield base, json.loads(body)["id"], data_dir


_NAMES = sorted({alias for spellings in ALIASES.values() for alias in spellings})
_VALUES = st.one_of(
    st.integers(-5, 20000).map(str),
    st.floats(allow_nan=True).map(str),
    st.sampled_from(
        [
            "auto",
            "webp",
            "avif",
            "cover",
            "pad",
            "north",
            "attention",
            "original",
            "small",
            "ff0000",
            "transparent",
            "0,0,10,10",
            "90",
            "1",
            "true",
            "",
        ]
    ),
    st.text(max_size=16),
)
_PAIRS = st.lists(
    st.tuples(st.one_of(st.sampled_from(_NAMES), st.text(max_size=8)), _VALUES), max_size=6
)


@given(pairs=_PAIRS, raw=st.text(max_size=40))
@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_query_string_is_200_3xx_or_400(
    live: tuple[str, str, Path], pairs: list[tuple[str, str]], raw: str
) -> None:
    base, image_id, _ = live
    for query in (urllib.parse.urlencode(pairs), urllib.parse.quote(raw, safe="=&,;")):
        status, _, body = request(
            f"{base}/i/{image_id}?{query}", headers={"Accept": "image/avif,image/webp"}
        )
        assert status == 200 or 300 <= status < 400 or status == 400, (query, status, body[:200])
        if status == 400:
            assert json.loads(body)["error"]["code"]


def test_random_widths_store_no_more_variants_than_the_ladder(
    live: tuple[str, str, Path],
) -> None:
    base, image_id, data_dir = live
    rng = random.Random(1234)
    before = _stored_variants(data_dir, image_id)
    for _ in range(1000):
        status, _, _ = request(f"{base}/i/{image_id}?w={rng.randint(1, 16384)}")
        assert status == 200
    made = _stored_variants(data_dir, image_id) - before
    assert 0 < len(made) <= len(Settings().width_ladder)
    assert all(re.fullmatch(r"p\d+\.w\d+\.q80\.same", name) for name in made)


def _stored_variants(data_dir: Path, image_id: str) -> set[str]:
    folder = data_dir / "blobs" / "variants" / image_id[:2] / image_id[2:4] / image_id
    return {path.name for path in folder.iterdir()} if folder.exists() else set()


async def test_q_auto_is_rendered_once_stored_and_then_a_hit(
    stack: Stack, images_dir: Path
) -> None:
    """``?w=800&q=auto``: the search runs at the first view (tier render), the variant is stored
    under ``qauto`` once, and the second view is served from a cache tier, the same bytes."""
    photo = (images_dir / "photo-nikon-d90-4288x2848.jpg").read_bytes()
    original = pyvips.Image.thumbnail_buffer(photo, 1200).jpegsave_buffer(Q=95)
    image_id = (await (await stack.upload(original)).json())["id"]
    first = await stack.client.get(f"/i/{image_id}?w=800&q=auto&fmt=jpeg")
    assert first.status == 200, await first.text()
    data = await first.read()
    assert 'tier;desc="render"' in first.headers["Server-Timing"]
    assert pyvips.Image.new_from_buffer(data, "").width == 800
    second = await stack.client.get(f"/i/{image_id}?w=800&q=auto&fmt=jpeg")
    assert second.status == 200 and await second.read() == data
    tier = re.search(r'tier;desc="(\w+)"', second.headers["Server-Timing"])
    assert tier is not None and tier.group(1) in ("memory", "redis", "store"), tier
    names = [name.rsplit("/", 1)[-1] for name in await stack.variant_names(image_id)]
    assert [name for name in names if ".qauto." in name] == [f"{_prefix()}.w800.qauto.jpeg"]
    refused = await stack.client.get(f"/i/{image_id}?w=800&q=auto:ultra")
    assert refused.status == 400 and (await refused.json())["error"]["parameter"] == "q"


def _prefix() -> str:
    from enlarger.proxy.spec import PIPELINE_VERSION

    return f"p{PIPELINE_VERSION}"


async def test_max_bytes_over_http(stack: Stack, images_dir: Path) -> None:
    """``max_bytes``: met in JPEG and WebP, the answer stored under its ``mb`` key and then a
    hit; an unreachable budget is a 422 with its code and the smallest answer made; a budget out
    of bounds a 400 naming ``max_bytes``."""
    photo = (images_dir / "photo-nikon-d90-4288x2848.jpg").read_bytes()
    original = pyvips.Image.thumbnail_buffer(photo, 1200).jpegsave_buffer(Q=95)
    image_id = (await (await stack.upload(original)).json())["id"]
    plain = await stack.client.get(f"/i/{image_id}?w=800&fmt=jpeg")
    assert len(await plain.read()) > 40_000  # so that the budgets below do something
    for query, budget in (
        ("fmt=jpeg&max_bytes=40000", 40_000),
        ("fmt=webp&max_bytes=25999", 25_000),
    ):
        first = await stack.client.get(f"/i/{image_id}?w=800&{query}")
        assert first.status == 200, await first.text()
        data = await first.read()
        assert len(data) <= budget and 'tier;desc="render"' in first.headers["Server-Timing"]
        assert first.headers["ETag"] != plain.headers["ETag"]
        again = await stack.client.get(f"/i/{image_id}?w=800&{query}")
        assert await again.read() == data and again.headers["ETag"] == first.headers["ETag"]
        assert 'tier;desc="render"' not in again.headers["Server-Timing"]
    names = [name.rsplit("/", 1)[-1] for name in await stack.variant_names(image_id)]
    assert f"{_prefix()}.w800.mb40000.q80.jpeg" in names
    noise = pyvips.Image.gaussnoise(20, 3000, sigma=60).cast("uchar").jpegsave_buffer(Q=90)
    strip_id = (await (await stack.upload(noise)).json())["id"]  # 16 x 2400 at q40: over 1000
    refused = await stack.client.get(f"/i/{strip_id}?size=original&max_bytes=1000")
    assert refused.status == 422 and refused.headers["Cache-Control"] == "no-store"
    error = (await refused.json())["error"]
    assert error["code"] == "max_bytes_unreachable" and error["smallest_bytes"] > 1_000
    for bad in ("999", "50000001", "1e5", "-1"):
        answer = await stack.client.get(f"/i/{image_id}?w=800&max_bytes={bad}")
        assert answer.status == 400, bad
        assert (await answer.json())["error"]["parameter"] == "max_bytes", bad
