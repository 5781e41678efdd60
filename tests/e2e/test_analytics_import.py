"""``enlarger analytics import`` and ``rollup`` on both backend families: CDN views land on the
right images and days, once per file; old days fold into months with totals unchanged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from enlarger.proxy.spec import PIPELINE_VERSION
from enlarger.settings import Settings
from enlarger.top import cli
from tests.e2e.conftest import Stack, StackFactory, make_jpeg
from tests.logsamples import CLOUDFRONT_HEADER, cloudfront_line, nginx_line, write_log

P = f"p{PIPELINE_VERSION}"  # the pipeline version every key starts with

pytestmark = pytest.mark.e2e

MARCH_3 = datetime(2024, 3, 3, 23, 59, 30, tzinfo=UTC)
MARCH_4 = MARCH_3 + timedelta(minutes=1)


async def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: Settings,
    *args: str,
) -> tuple[int, str]:
    """The real command, in-process (the same code path as the installed ``enlarger``)."""
    monkeypatch.setenv("ENLARGER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ENLARGER_DATABASE_URL", settings.resolved_database_url)
    code = await asyncio.to_thread(cli.main, list(args))
    return code, capsys.readouterr().out


async def day_views(stack: Stack, image_id: str) -> dict[str, int]:
    body = await stats(stack, image_id)
    return {d["day"]: d["views"] for d in body["days"]}


async def stats(stack: Stack, image_id: str) -> Any:
    response = await stack.client.get(f"/v1/images/{image_id}/stats")
    assert response.status == 200, await response.text()
    return await response.json()


async def test_cdn_logs_add_views_once_per_file(
    backend_settings: Settings,
    make_stack: StackFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = await make_stack(backend_settings, public_stats=True)
    ids = []
    for seed in (0, 1):
        response = await stack.upload(make_jpeg(400, 300, seed=seed))
        ids.append((await response.json())["id"])
    a, b = ids
    cloudfront = write_log(
        tmp_path / "E2EXAMPLE.2024-03-04-00.a1b2c3d4.gz",
        [
            cloudfront_line(MARCH_3, f"/i/{a}", "w=640", size=2000, referer="https://x.org/"),
            cloudfront_line(MARCH_4, f"/i/{a}", "w=640", size=2000),
            cloudfront_line(MARCH_4, f"/i/{b}", "size=small", size=700),
            cloudfront_line(MARCH_4, f"/i/{b}", "size=small", result="Miss"),
            cloudfront_line(MARCH_4, "/i/" + "z" * 26, "w=640"),  # not an image here
        ],
        CLOUDFRONT_HEADER,
        compress=True,
    )
    paris = timezone(timedelta(hours=1))
    nginx = write_log(
        tmp_path / "access.log",
        [
            nginx_line(datetime(2024, 3, 4, 0, 30, tzinfo=paris), f"/i/{b}?size=small", size=700),
            nginx_line(datetime(2024, 3, 4, 1, 30, tzinfo=paris), f"/i/{b}?size=small", size=700),
            nginx_line(datetime(2024, 3, 4, 1, 30, tzinfo=paris), f"/i/{b}", status=404),
        ],
    )
    settings = stack.settings
    code, out = await run_cli(
        monkeypatch,
        capsys,
        settings,
        "analytics",
        "import",
        "--format",
        "cloudfront",
        str(cloudfront),
    )
    assert code == 0 and "3 views added, 1 for unknown images, 1 answered by the origin" in out
    code, out = await run_cli(
        monkeypatch, capsys, settings, "analytics", "import", "--format", "nginx", str(nginx)
    )
    assert code == 0 and "2 views added" in out and "1 not a view" in out
    assert await day_views(stack, a) == {"2024-03-03": 1, "2024-03-04": 1}
    assert await day_views(stack, b) == {"2024-03-03": 1, "2024-03-04": 2}
    body = await stats(stack, a)
    assert body["tiers"] == [{"tier": "cdn", "views": 2, "bytes": 4000}]
    assert {r["host"] for r in body["referrers"]} == {"x.org", None}
    assert body["variants"][0]["variant"] == f"{P}.w640.q80.same"

    for fmt, path in (("cloudfront", cloudfront), ("nginx", nginx)):
        code, out = await run_cli(
            monkeypatch, capsys, settings, "analytics", "import", "--format", fmt, str(path)
        )
        assert code == 0 and "already imported" in out
    assert await day_views(stack, a) == {"2024-03-03": 1, "2024-03-04": 1}
    assert (await stats(stack, b))["views"] == 3

    code, out = await run_cli(monkeypatch, capsys, settings, "analytics", "rollup", "--days", "30")
    assert code == 0 and "folded" in out
    rolled = await stats(stack, b)
    assert (rolled["views"], rolled["days"]) == (3, [])
    assert rolled["months"] == [{"month": "2024-03", "views": 3, "bytes": 2100}]


async def test_cloudfront_logs_without_result_column_and_reruns_with_misses(
    backend_settings: Settings,
    make_stack: StackFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = await make_stack(backend_settings, public_stats=True)
    image_id = (await (await stack.upload(make_jpeg(400, 300))).json())["id"]
    trimmed = write_log(
        tmp_path / "trimmed.log",
        [
            "\t".join(
                cloudfront_line(MARCH_4, f"/i/{image_id}", "w=640", result=r).split("\t")[:12]
            )
            for r in ("Hit", "Miss", "Hit")
        ],
        "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) "
        "cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query\n",
    )
    misses = write_log(
        tmp_path / "misses.log",
        [cloudfront_line(MARCH_3, f"/i/{image_id}", "w=640", result="Miss") for _ in range(2)],
        CLOUDFRONT_HEADER,
    )

    async def imports(path: Path, *extra: str) -> str:
        args = ("analytics", "import", "--format", "cloudfront", *extra, str(path))
        code, out = await run_cli(monkeypatch, capsys, stack.settings, *args)
        assert code == 0, out
        return out

    assert "3 views added" in await imports(trimmed)  # no column: every view counts
    first = await imports(misses)
    assert "0 views added" in first and "not recorded as imported" in first
    assert "2 views added" in await imports(misses, "--include-misses")  # not refused
    assert "already imported" in await imports(misses, "--include-misses")
    assert await day_views(stack, image_id) == {"2024-03-03": 2, "2024-03-04": 3}


async def test_import_refuses_missing_files_and_rollup_needs_days(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    args = ("analytics", "import", "--format", "nginx", str(tmp_path / "nope.log"))
    assert (await run_cli(monkeypatch, capsys, settings, *args))[0] == 2
    assert (await run_cli(monkeypatch, capsys, settings, "analytics", "rollup"))[0] == 2
