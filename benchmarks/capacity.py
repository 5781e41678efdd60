"""``python -m benchmarks capacity``: machines, storage and money for a load, from measured CPU
costs per operation. Every price and assumption is a parameter.

The CPU costs (core-milliseconds per operation) default to the numbers measured on the 2-core
machine of docs/benchmarks.md; ``--from-results`` takes them from the newest ``peers-*.json``
instead (server CPU from /proc divided by answers per second; its render is the 800 px JPEG).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

from benchmarks.images import REPO

DAY = 86_400
RESULTS = REPO / "benchmarks" / "results"
# Core-milliseconds per operation, measured (docs/benchmarks.md, docs/capacity.md).
# A first view, design mix (1.5 renders per upload), with kept masters (`benchmarks costs`,
# 2026-12-01): 1 large that also makes the master (98.9: 1.07x the direct render's 92.6, since
# libjpeg decodes the master at its size) + 0.5 medium from it (11.0), over 1.5 renders = 69.6.
DEFAULT_RENDER_MS = 69.6
DEFAULT_HIT_MS = 0.12  # a 160 KB variant from the in-process cache (docs/capacity.md)
DEFAULT_UPLOAD_MS = 8.8  # a 3.6 MB photo in one pass: 0.54 cores at 61.5/s (2026-12-01)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    load = parser.add_argument_group("load")
    load.add_argument("--uploads-per-day", type=float, default=500_000)
    load.add_argument("--views-per-day", type=float, default=5_000_000)
    load.add_argument("--peak", type=float, default=10.0, help="peak / average")
    load.add_argument("--renders-per-upload", type=float, default=1.5, help="sizes first-viewed")
    load.add_argument(
        "--cdn-hit", type=float, default=0.90, help="share of repeat views a CDN answers"
    )
    cost = parser.add_argument_group("measured costs (default: docs/capacity.md)")
    cost.add_argument("--render-ms", type=float, help="CPU core-ms per render")
    cost.add_argument("--hit-ms", type=float, help="CPU core-ms per cached view")
    cost.add_argument("--upload-ms", type=float, help="CPU core-ms per upload")
    cost.add_argument("--from-results", action="store_true", help="newest peers-*.json costs")
    cost.add_argument("--results", type=Path, default=RESULTS, help="where peers-*.json are")
    machine = parser.add_argument_group("machines and data")
    machine.add_argument("--cores-per-machine", type=int, default=8)
    machine.add_argument("--utilization", type=float, default=0.6, help="planned CPU use at peak")
    machine.add_argument("--original-mb", type=float, default=3.57, help="mean original size")
    machine.add_argument("--variant-kb", type=float, default=184.0, help="mean stored variant")
    machine.add_argument("--served-kb", type=float, default=210.0, help="mean answer size")
    machine.add_argument("--dedup", type=float, default=0.0, help="share of uploads deduplicated")
    machine.add_argument("--master-mb", type=float, default=0.98, help="kept master per image")
    machine.add_argument(
        "--master-days",
        type=float,
        default=30.0,
        help="masters expire after this many days (an S3 lifecycle rule on masters/; 0: kept)",
    )
    price = parser.add_argument_group("prices (USD; defaults: public list prices, change them)")
    price.add_argument("--price-machine-month", type=float, default=250.0, help="8 vCPU machine")
    price.add_argument("--price-storage-gb-month", type=float, default=0.023)
    price.add_argument("--price-egress-gb", type=float, default=0.09, help="origin to internet")
    price.add_argument("--price-cdn-gb", type=float, default=0.085)
    price.add_argument("--price-put-1k", type=float, default=0.005)
    price.add_argument("--price-get-1k", type=float, default=0.0004)
    price.add_argument("--price-redis-month", type=float, default=150.0)
    price.add_argument("--price-db-month", type=float, default=380.0, help="PostgreSQL, HA pair")


@dataclass(frozen=True, slots=True)
class Costs:
    render_ms: float
    hit_ms: float
    upload_ms: float
    source: str


def measured_costs(args: argparse.Namespace) -> Costs:
    use = args.from_results and args.results.is_dir()
    found = sorted(args.results.glob("peers-*.json")) if use else []
    from_file: dict[str, float] = {}
    source = "built-in defaults (docs/capacity.md)"
    if found:
        rows = json.loads(found[-1].read_text()).get("rows", [])
        for row in rows:
            if row["system"] == "enlarger" and row["cores"] and row["rate"]:
                from_file[row["workload"].split(" c=")[0]] = row["cores"] / row["rate"] * 1000
        source = str(found[-1])
    return Costs(
        args.render_ms or from_file.get("cold", DEFAULT_RENDER_MS),
        args.hit_ms or from_file.get("hot memory", DEFAULT_HIT_MS),
        args.upload_ms or from_file.get("upload", DEFAULT_UPLOAD_MS),
        source if from_file else "built-in defaults (docs/capacity.md)",
    )


@dataclass(frozen=True, slots=True)
class Plan:
    origin_views: float  # per second at peak
    renders: float
    hits: float
    uploads: float
    cores: float
    machines: int


def plan(args: argparse.Namespace, costs: Costs, cdn: bool) -> Plan:
    uploads = args.uploads_per_day / DAY * args.peak
    views = args.views_per_day / DAY * args.peak
    renders = min(views, uploads * args.renders_per_upload)  # first views miss every cache
    repeats = views - renders
    hits = repeats * (1 - args.cdn_hit) if cdn else repeats  # repeat views reaching the origin
    origin = renders + hits
    cores = (renders * costs.render_ms + hits * costs.hit_ms + uploads * costs.upload_ms) / 1000
    usable = args.cores_per_machine * args.utilization
    machines = max(2, math.ceil(cores / usable))  # two at least: one can fail
    return Plan(origin, renders, hits, uploads, cores, machines)


def storage_tb_per_year(args: argparse.Namespace) -> tuple[float, float]:
    originals = args.uploads_per_day * (1 - args.dedup) * args.original_mb * 1e6 * 365
    variants = args.uploads_per_day * args.renders_per_upload * args.variant_kb * 1e3 * 365
    return originals / 1e12, variants / 1e12


def masters_tb(args: argparse.Namespace, years: float) -> float:
    """Kept masters stored after ``years``: a steady stock when they expire, else growing."""
    days = float(args.master_days) if args.master_days > 0 else years * 365
    per_day: float = args.uploads_per_day * (1 - args.dedup) * args.master_mb * 1e6
    return per_day * days / 1e12


def monthly_cost(
    args: argparse.Namespace, machines: int, cdn: bool, years: float
) -> dict[str, float]:
    originals, variants = storage_tb_per_year(args)
    egress_gb = args.views_per_day * 30 * args.served_kb / 1e6
    puts = args.uploads_per_day * 30 * (1 + args.renders_per_upload)
    gets = args.uploads_per_day * 30 * args.renders_per_upload  # originals read for renders
    return {
        "machines": machines * args.price_machine_month,
        "storage": ((originals + variants) * years + masters_tb(args, years))
        * 1000
        * args.price_storage_gb_month,
        "egress": egress_gb * (args.price_cdn_gb if cdn else args.price_egress_gb),
        "requests": puts / 1000 * args.price_put_1k + gets / 1000 * args.price_get_1k,
        "redis + database": args.price_redis_month + args.price_db_month,
    }


def report(args: argparse.Namespace) -> str:
    costs = measured_costs(args)
    lines = [
        f"CPU per operation (core-ms): render {costs.render_ms:.1f}, cached view "
        f"{costs.hit_ms:.2f}, upload {costs.upload_ms:.1f}  [{costs.source}]",
        f"peak: {args.uploads_per_day / DAY * args.peak:.0f} uploads/s, "
        f"{args.views_per_day / DAY * args.peak:.0f} views/s ({args.peak:g}x the average)",
        "",
        f"{'':<12}{'origin views/s':>15}{'renders/s':>11}{'hits/s':>9}{'cores':>8}{'machines':>10}",
    ]
    for cdn in (False, True):
        p = plan(args, costs, cdn)
        label = f"CDN {args.cdn_hit:.0%}" if cdn else "no CDN"
        lines.append(
            f"{label:<12}{p.origin_views:>15.0f}{p.renders:>11.0f}{p.hits:>9.0f}{p.cores:>8.1f}"
            f"{p.machines:>10}"
        )
    originals, variants = storage_tb_per_year(args)
    lines += [
        "",
        f"storage growth per year: originals {originals:.0f} TB, variants {variants:.0f} TB; "
        f"kept masters {masters_tb(args, 1):.0f} TB "
        + (f"(expiring after {args.master_days:g} days)" if args.master_days > 0 else "per year"),
        "",
        f"monthly cost after 1 and 3 years ({args.cores_per_machine}-core machines at "
        f"{args.utilization:.0%} peak CPU):",
    ]
    for cdn in (False, True):
        machines = plan(args, costs, cdn).machines
        for years in (1, 3):
            parts = monthly_cost(args, machines, cdn, years)
            detail = ", ".join(f"{k} {v:,.0f}" for k, v in parts.items())
            label = "CDN" if cdn else "no CDN"
            lines.append(f"  {label:<7} year {years}: ${sum(parts.values()):,.0f}/month ({detail})")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    print(report(args))
    return 0
