"""A short run of every benchmark scenario (a second each, tiny generated images, embedded
defaults, loopback only), so that the tool cannot rot. The benchmarks themselves are not part
of the test suite: speed is measured by ``python -m benchmarks``, never asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import allocators, cli, plots
from benchmarks.images import generate, make_unique
from benchmarks.peers import formats
from benchmarks.scenarios import soak
from benchmarks.server import Server, ServerPlan, running_server

pytestmark = pytest.mark.e2e

TINY = ["--synthetic", "320x240", "--duration", "0.7", "--no-progress", "--timeout", "10"]
PLOTS = [] if plots.available() else ["--no-plots"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs = tmp_path_factory.mktemp("bench-logs")
    with running_server(ServerPlan(workers=1), logs) as running:
        yield running


def _result(out: Path, scenario: str) -> dict[str, object]:
    files = sorted(out.glob(f"{scenario}-*.json"))
    assert files, f"no {scenario} result in {out}"
    found: dict[str, object] = json.loads(files[-1].read_text())
    return found


def _stats(result: dict[str, object], kind: str) -> dict[str, object]:
    stats = result["stats"]
    assert isinstance(stats, dict) and kind in stats, stats
    kind_stats: dict[str, object] = stats[kind]
    assert kind_stats["ok"] == kind_stats["count"] and kind_stats["count"], kind_stats
    return kind_stats


def test_hot_writes_json_and_plots(server: Server, tmp_path: Path) -> None:
    argv = ["hot", "--url", server.url, "--concurrency", "4", "--warmup", "0.2", "--body-kb", "5"]
    assert cli.main([*argv, "--out", str(tmp_path), *TINY, *PLOTS]) == 0
    hot = _stats(_result(tmp_path, "hot"), "hot")
    assert hot["tiers"] == {"memory": hot["count"]}
    if not PLOTS:
        assert len(list(tmp_path.glob("hot-*.png"))) == 2


def test_cold_renders_every_request(server: Server, tmp_path: Path) -> None:
    argv = ["cold", "--url", server.url, "--concurrency", "2", "--mix", "ladder"]
    assert cli.main([*argv, "--out", str(tmp_path), "--no-plots", *TINY]) == 0
    stats = _result(tmp_path, "cold")["stats"]
    assert isinstance(stats, dict)
    for name, kind in stats.items():
        if name != "all":
            assert set(kind["tiers"]) == {"render"}, kind


def test_upload_never_deduplicates(server: Server, tmp_path: Path) -> None:
    argv = ["upload", "--url", server.url, "--concurrency", "2"]
    assert cli.main([*argv, "--out", str(tmp_path), "--no-plots", *TINY]) == 0
    result = _result(tmp_path, "upload")
    _stats(result, "upload")
    extra = result["extra"]
    assert isinstance(extra, dict) and extra["outcomes"]["deduplicated"] == 0
    assert extra["outcomes"]["accepted"] > 0


def test_day_find_max(server: Server, tmp_path: Path) -> None:
    """Two steps of the design's mix (1x, 2x), each with its SLO verdict."""
    argv = ["day", "--url", server.url, "--seed-images", "3", "--out", str(tmp_path)]
    cli.main([*argv, "--find-max", "--max-steps", "2", "--no-plots", *TINY])
    result = _result(tmp_path, "day-find-max")
    _stats(result, "view")
    assert result["slo"], "the day scenario reports an SLO verdict"
    extra = result["extra"]
    assert isinstance(extra, dict) and 1 <= len(extra["steps"]) <= 2
    assert extra["cpu_limit"]["cpu_limit_multiple"] > 0  # from the floor, in the same run


def test_day_share_shape(server: Server, tmp_path: Path) -> None:
    """The "share" shape: most views the link (large), the rest other sizes; views renders
    and hits by recency; the CPU limit and the share of it that was run."""
    argv = ["day", "--url", server.url, "--seed-images", "3", "--out", str(tmp_path)]
    cli.main([*argv, "--shape", "share", "--multiple", "1", "--no-plots", *TINY])
    result = _result(tmp_path, "day")
    _stats(result, "view")
    extra = result["extra"]
    assert isinstance(extra, dict) and extra["first_views"] + extra["repeat_views"] > 0
    assert extra["share_of_cpu_limit"] == pytest.approx(
        1 / extra["cpu_limit"]["cpu_limit_multiple"]
    )


def _checks(result: dict[str, object]) -> dict[str, dict[str, object]]:
    checks = result["slo"]
    assert isinstance(checks, list)
    return {str(check["name"]): check for check in checks}


LATER = ["later", "--synthetic", "4000x2250", "--min-megapixels", "0", "--repeats", "1"]
LATER += ["--no-progress", "--no-plots", "--timeout", "20"]
ISSUE_13_SIZES = ("w=640", "size=small", "w=400", "size=medium", "w=960")


def test_later_sizes_render_from_the_master(server: Server, tmp_path: Path) -> None:
    """Photos large enough to keep a master (4000 px: a 2000 px one, from which ``large``'s
    first view renders and which it keeps after the answer): each later size is timed,
    known to have rendered from the master, and set against the floor measured in the run.
    The 0.3x verdict is speed, so its outcome is not asserted, only that it is given."""
    cli.main([*LATER, "--url", server.url, "--out", str(tmp_path)])
    result = _result(tmp_path, "later")
    checks = _checks(result)
    assert checks["every later size rendered from the master"]["passed"], checks
    assert len(checks) == 1 + 5  # and one verdict per later size
    extra = result["extra"]
    assert isinstance(extra, dict) and len(extra["floor_ms"]) == 3
    assert all(ms > 0 for ms in extra["floor_ms"].values())
    sizes = extra["sizes"]
    assert tuple(row["query"] for row in sizes) == ISSUE_13_SIZES
    for row in sizes:
        assert row["count"] == row["from_master"] == 3 and row["median_ratio"] > 0, row
    for kind in ("floor 800 px", "size=large", "later w=640"):
        assert _stats(result, kind)["count"] == 3


def test_later_sizes_say_when_the_master_is_not_used(tmp_path: Path) -> None:
    """With masters off every size renders from the original: the run fails on that check."""
    plan = ServerPlan(workers=1, env={"ENLARGER_MASTER_SIDE": "0"})
    with running_server(plan, tmp_path / "logs") as off:
        assert cli.main([*LATER, "--url", off.url, "--out", str(tmp_path)]) == 1
    checks = _checks(_result(tmp_path, "later"))
    assert not checks["every later size rendered from the master"]["passed"]
    assert checks["every later size rendered from the master"]["detail"].startswith("0/15")


FIRST = ["first", "--synthetic", "640x480", "--rounds", "1", "--per-round", "4", "--settle", "0"]


def test_first_views_against_the_floor(server: Server, tmp_path: Path) -> None:
    """Every first view is a render of a fresh upload, and each size gets its floor's ratio
    (speed: the verdicts are not asserted, only that they are given)."""
    argv = [*FIRST, "--url", server.url, "--out", str(tmp_path), "--no-progress", "--no-plots"]
    cli.main(argv)
    result = _result(tmp_path, "first")
    checks = _checks(result)
    assert checks["every first view answered 200 from a render"]["passed"], checks
    assert len(checks) == 1 + 3
    extra = result["extra"]
    assert isinstance(extra, dict)
    rows = {row["query"]: row for row in extra["rows"]}
    assert set(rows) == {"w=800", "size=large", "size=small"}
    assert all(row["ratio"] > 0 and row["floor_rate"] > 0 for row in rows.values()), rows


def test_peers_without_network(tmp_path: Path) -> None:
    """The comparison runs with no peer installed and no network: floor, Enlarger, bare."""
    argv = ["peers", "--only", "floor,enlarger,bare", "--no-install", "--workers", "1"]
    argv += ["--warmup", "0", "--latency-duration", "0.3", "--hot-concurrency", "4"]
    argv += ["--body-kb", "5", "--peers-dir", str(tmp_path / "peers"), "--out", str(tmp_path)]
    assert cli.main([*argv, "--synthetic", "320x240", "--duration", "0.3", "--no-progress"]) == 0
    document = json.loads(next(tmp_path.glob("peers-*.json")).read_text())
    workloads = {(row["system"], row["workload"]) for row in document["rows"]}
    assert ("libvips floor", "cold c=1") in workloads and ("enlarger", "hot memory") in workloads
    for system in ("enlarger, masters off", "enlarger, kept masters"):  # like for like, deployed
        assert (system, "cold c=4") in workloads
    assert any(t["target"].startswith("hot memory") for t in document["targets"])
    rate = {(row["system"], row["workload"]): row["rate"] for row in document["rows"]}
    cold = next(t for t in document["targets"] if t["target"] == "cold c=4 vs libvips floor")
    like_for_like = rate["enlarger, masters off", "cold c=4"] / rate["libvips floor", "cold c=4"]
    assert cold["measured"] == pytest.approx(like_for_like)


def test_formats_plan_asks_what_the_public_benchmark_asks() -> None:
    """Fit 512x512 in the source's format at q80 / q75 / q65 (PNG none), every Enlarger request
    a new variant, thumbor's URLs without result storage; the systems alternate by round."""
    args = cli.parser().parse_args(["formats", "--formats", "avif,jpeg", "--rounds", "2"])
    plan = formats.Plan.from_args(args)
    expected = [
        ("avif", "enlarger"),
        ("avif", "thumbor"),
        ("jpeg", "enlarger"),
        ("jpeg", "thumbor"),
    ]
    assert plan.order(0) == expected
    assert plan.order(1)[0] == ("avif", "thumbor")
    paths = formats.enlarger_paths(["a", "b"], "avif")
    first, second = next(paths), next(paths)
    assert first.startswith("/i/b?w=512&h=512&fit=inside&q=65&bg=")
    assert second.startswith("/i/a?") and first.split("bg=")[1] != second.split("bg=")[1]
    assert "q=" not in next(formats.enlarger_paths(["a"], "png"))
    assert next(formats.thumbor_paths(["x.webp"], "webp")) == (
        "/unsafe/fit-in/512x512/filters:quality(75)/x.webp"
    )
    env = formats.server_env()  # 512 and q65 are asked as such, not snapped to 540 and q70
    assert "512" in env["ENLARGER_WIDTH_LADDER"].split(",")
    assert "65" in env["ENLARGER_QUALITY_LADDER"].split(",")
    assert formats.TARGETS == {"jpeg": 1.38, "png": 1.7, "webp": 1.54, "avif": 1.15}
    with pytest.raises(SystemExit):
        formats.Plan.from_args(cli.parser().parse_args(["formats", "--formats", "gif"]))


def test_formats_renders_every_request(tmp_path: Path) -> None:
    """Enlarger alone (thumbor not installed, said so): each format's sources uploaded, every
    answer a render, at 512 px."""
    argv = ["formats", "--only", "enlarger", "--no-install", "--workers", "1", "--rounds", "1"]
    argv += ["--synthetic", "1024x768", "--megapixels", "0.5", "--warmup", "0", "--duration"]
    argv += ["0.5", "--no-progress", "--peers-dir", str(tmp_path / "peers"), "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    document = json.loads(next(tmp_path.glob("formats-*.json")).read_text())
    assert [row["format"] for row in document["rows"]] == ["jpeg", "png", "webp", "avif"]
    for row in document["rows"]:
        ours = row["enlarger"]
        assert ours["answers"] > 0 and ours["errors"] == 0, row
        assert ours["tiers"] == {"render": ours["answers"]}, row
        assert row["thumbor"] is None and row["ratio"] is None
    assert all(s["name"].startswith("src-") for s in document["sources"]["png"])


def test_soak_compares_allocators(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The soak through its real path: each allocator's own fresh server, the same distinct
    renders, RSS sampled; a preloaded jemalloc and an arena limit in the tool's environment must
    not reach the glibc run (the run refuses a server whose allocator differs)."""
    jemalloc = allocators.find_jemalloc()
    if jemalloc is not None:
        monkeypatch.setenv("LD_PRELOAD", jemalloc)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    argv = ["soak", "--allocator", "all", "--workers", "1", "--requests", "24", "--idle", "0.6"]
    argv += ["--out"]
    code = cli.main([*argv, str(tmp_path), *TINY[:2], "--no-progress", *PLOTS])
    result = _result(tmp_path, "soak")
    rows = result["extra"]["allocators"]  # type: ignore[index]
    expected = [name for name in allocators.NAMES if name != "jemalloc" or jemalloc]
    assert [row["allocator"] for row in rows] == expected
    assert code == (0 if all(row["holds"] for row in rows) else 1)
    for row in rows:
        assert row["requests"] == row["renders"] == 24 and row["errors"] == 0, row
        rss = [mib for _, mib in row["rss_mib"]]
        assert len(rss) >= 2 and min(rss) > 10, rss
        assert min(rss) <= row["warmup_rss_mib"] <= max(rss)
        assert row["peak_rss_after_warmup_mib"] <= max(rss) and row["end_rss_mib"] == rss[-1]
        assert min(rss) <= row["load_end_rss_mib"] <= max(rss) and row["idle_seconds"] >= 0.5
        growth = row["peak_rss_after_warmup_mib"] / row["warmup_rss_mib"] - 1
        assert row["growth"] == pytest.approx(growth, abs=0.01)
        assert 0 < row["cache_estimate_end_mib"] <= row["cache_cap_mib"]
        processes = row["server"]["processes"]
        loaded = processes if row["allocator"] == "jemalloc" else 0
        assert row["observed"].startswith(f"jemalloc in {loaded}/{processes} "[:-1]), row
        unbounded = f"MALLOC_ARENA_MAX={8 * (os.cpu_count() or 1)}"
        assert (unbounded in row["observed"]) == (row["allocator"] == "unbounded")
        assert "MALLOC_ARENA_MAX=4" not in row["observed"]
    if not PLOTS:
        assert len(list(tmp_path.glob("soak-*-rss.png"))) == 1


def test_soak_against_a_running_server(server: Server, tmp_path: Path) -> None:
    """``--url``: the allocator is whatever the server runs, read from /proc."""
    argv = ["soak", "--url", server.url, "--requests", "12", "--idle", "0", "--no-plots"]
    cli.main([*argv, "--out", str(tmp_path), *TINY[:2], "--no-progress"])  # no --duration cap
    (row,) = _result(tmp_path, "soak")["extra"]["allocators"]  # type: ignore[index]
    assert row["allocator"] == "as running" and row["observed"].startswith("jemalloc in ")
    assert row["renders"] == 12 and row["cache_cap_mib"] is None


def test_soak_variants_are_distinct_and_repeatable() -> None:
    """Every request a new variant key; the same seed, the same sequence (so that allocators
    are compared on the same work)."""
    from benchmarks.scenarios.common import Uploaded

    images = [
        soak.SoakImage(Uploaded("a", "/i/a", 4032, 3024), "photo.jpg", 1),
        soak.SoakImage(Uploaded("b", "/i/b", 80, 80), "anim.gif", 30),
    ]
    first = soak.variant_source(images, 7)
    paths = [first().path for _ in range(3000)]
    assert len(set(paths)) == len(paths)
    again = soak.variant_source(images, 7)
    assert [again().path for _ in range(50)] == paths[:50]
    parts = {part for path in paths for part in path.split("?")[1].split("&")}
    assert {"fmt=jpeg", "fmt=webp", "fmt=avif", "fmt=png", "fmt=gif", "fit=cover"} <= parts
    assert any(part.startswith("crop=") for part in parts)


def test_soak_memory_summary() -> None:
    mib = 2**20
    series = [(0.0, 100 * mib), (1.0, 150 * mib), (2.0, 200 * mib), (3.0, 210 * mib)]
    series += [(4.0, 230 * mib), (5.0, 220 * mib)]
    memory = soak.memory_summary(series, warmup=2.0, load_end=4.5)
    assert (memory.warmup_rss, memory.peak_rss) == (200 * mib, 230 * mib)
    assert (memory.load_end_rss, memory.end_rss) == (230 * mib, 220 * mib)
    assert memory.growth == pytest.approx(0.15) and memory.holds
    assert not soak.memory_summary(series, warmup=0.5).holds  # 100 → 230: +130 %


def test_capacity_calculator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main(
            ["capacity", "--from-results", "--results", str(tmp_path), "--price-machine-month", "1"]
        )
        == 0
    )
    assert "storage growth per year" in capsys.readouterr().out


def test_unique_upload_is_the_same_valid_picture() -> None:
    import pyvips

    original = generate(64, 48, count=1).items[0].data
    changed = make_unique(original, b"token 1")
    assert changed != original
    before = pyvips.Image.new_from_buffer(original, "")
    after = pyvips.Image.new_from_buffer(changed, "", fail=True)
    assert (after.width, after.height) == (before.width, before.height)
    assert after.avg() == pytest.approx(before.avg())


def test_module_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "peers" in done.stdout


def test_costs_measures_every_render_path(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m benchmarks costs``: each size's direct render, and the master's paths for
    the sizes it serves (not ``large``: it needs more pixels than a 1600 px master spares)."""
    from benchmarks.cli import main

    assert main(["costs", "--synthetic", "3400x2400", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for line in (
        "large        first view (pixels kept if at the master's scale)",
        "(master)     built from the original",
        "medium       from the decoded master",
        "w=640 webp   from the encoded master",
        "(master)     decode it whole",
    ):
        assert line in out, out
    assert "large        from the" not in out


def test_quality_scores_every_encoder_size_and_q(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m benchmarks quality``: one row per photo, size, encoder and q, scored against
    the reference; a higher q never scores lower on average; the tables and the JSON."""
    pytest.importorskip("scipy", reason="the scorer needs numpy and scipy (the bench extra)")
    argv = ["quality", "--synthetic", "900x600", "--sizes", "small,w=400", "--q", "50,90"]
    assert cli.main([*argv, "--jobs", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "bytes relative to jpeg at equal score" in out and "one q, one look" in out
    result = _result(tmp_path, "quality")
    extra = result["extra"]
    assert isinstance(extra, dict)
    rows = extra["rows"]
    assert len(rows) == 3 * 2 * 3 * 2  # generated photos x sizes x encoders x qualities
    assert {row["encoder"] for row in rows} == {"jpeg", "webp", "avif"}
    assert {(row["size"], row["width"]) for row in rows} == {("small", 320), ("w=400", 400)}
    assert all(row["bytes"] > 0 and row["score"] < 100 and row["encode_ms"] >= 0 for row in rows)
    for setting in ("jpeg", "webp", "avif"):
        means = {
            q: sum(r["score"] for r in rows if r["encoder"] == setting and r["q"] == q)
            for q in (50, 90)
        }
        assert means[50] < means[90], (setting, means)
    assert all(score > 99 for score in extra["unencoded"].values()), extra["unencoded"]


def test_quality_measures_q_auto_against_the_default_q(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--q 80,auto``: q=auto rows carry the q the product's search chose, and the summary
    compares them with q80 (the spread of the scores, the bytes in all)."""
    pytest.importorskip("scipy", reason="the scorer needs numpy and scipy (the bench extra)")
    argv = ["quality", "--synthetic", "600x400", "--sizes", "w=400", "--q", "80,auto"]
    assert cli.main([*argv, "--encoders", "jpeg", "--jobs", "1", "--out", str(tmp_path)]) == 0
    assert "q=auto jpeg w=400: mean score" in capsys.readouterr().out
    extra = _result(tmp_path, "quality")["extra"]
    assert isinstance(extra, dict)
    auto = [row for row in extra["rows"] if row["q"] == 0]
    assert len(auto) == 3 and all(40 <= row["chosen_q"] <= 94 for row in auto)
    summary = extra["summary"]["auto"]["jpeg w=400"]
    assert summary["bytes_vs_default"] > 0 and summary["spread"] >= 0


def test_quality_encoders_take_added_options() -> None:
    from benchmarks.quality import encoder_options

    assert encoder_options("jpeg") == ("jpeg", None)  # the product's own encoder
    assert encoder_options("jpeg-plain") == ("jpeg", {"optimize_coding": True})  # the baseline
    assert encoder_options("jpeg/interlace=true") == (
        "jpeg",
        {"optimize_coding": True, "interlace": True},
    )
    fmt, options = encoder_options("jpeg+moz/quant_table=3")
    assert fmt == "jpeg" and options is not None
    assert options["quant_table"] == 3 and options["trellis_quant"] is True
    assert encoder_options("avif/effort=4") == ("avif", {"effort": 4})
    for wrong in ("jpegxl", "jpeg/interlace", "webp/=3"):
        with pytest.raises(ValueError):
            encoder_options(wrong)
