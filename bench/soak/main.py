"""``python -m bench soak``: the full soak by default (2,000 orders, 20 kills, PostgreSQL from
$BITRIX_INFLOW_TEST_PG)."""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
from dataclasses import replace
from pathlib import Path

from bench.soak.run import SoakOptions, SoakReport, run_soak
from bench.soak.world import Faults

CALM = Faults(wms_5xx=0, wms_timeouts=0, wms_429=0, webhook_drop=0, webhook_duplicate=0, picking_errors=0)


def render(report: SoakReport) -> str:
    o = report.options
    lines = [
        f"soak: {o.orders} orders at {o.rate:g}/s, {o.instances} instances x {o.workers} workers on "
        f"{'PostgreSQL' if o.pg_admin else 'SQLite'}, warehouse step every {o.pace:g} s",
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        f"time: load {report.seconds.get('load', 0):.0f} s, settle {report.seconds.get('settle', 0):.0f} s, "
        f"total {report.seconds.get('total', 0):.0f} s",
        f"kills: {len(report.kills)} (" + ", ".join(f"{at:.0f}s {who}" for at, who in report.kills) + ")",
        "warehouse faults met: " + ", ".join(f"{k} {v}" for k, v in sorted(report.wms_faults_met.items())),
        "shop errors answered: " + ", ".join(f"{k} {v}" for k, v in sorted(report.shop_errors.items())),
        f"people: {len(report.record.placed)} placed, {len(report.record.edited)} edited, "
        f"{len(report.record.shop_cancelled)} cancelled in the shop, "
        f"{sum(len(v) for v in report.record.wms_cancelled.values())} picking orders cancelled in the warehouse, "
        f"{report.record.bursts} shop 503 bursts, {len(report.record.refused)} refused by the other side "
        "(a cancel or an edit after shipping)",
        "figures: " + ", ".join(f"{k} {v}" for k, v in report.findings.counts.items()),
        "invariants:",
    ]
    for name, broken in report.findings.violations.items():
        lines.append(
            f"  {'OK  ' if not broken else 'FAIL'} {name}" + (f": {len(broken)} violations" if broken else "")
        )
        lines.extend(f"       {what}" for what in broken[:20])
    if len(report.kills) < o.kills:
        lines.append(f"  FAIL kills: {len(report.kills)} of {o.kills}")
    lines.append(f"verdict: {'PASS' if report.ok else 'FAIL'} (logs in {report.work})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=3.0, help="orders per second")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--workers", type=int, default=3, help="job threads per instance")
    parser.add_argument("--pace", type=float, default=2.0, help="seconds between two warehouse steps")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument(
        "--settle", type=float, default=900, help="seconds the service has to catch up at the end"
    )
    parser.add_argument(
        "--calm",
        action="store_true",
        help="the baseline: the same orders and people, but no faults, no kills and no shop 503 bursts",
    )
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--pg", default=os.environ.get("BITRIX_INFLOW_TEST_PG"), help="PostgreSQL admin URL")
    parser.add_argument("--work", type=Path, help="where the logs and the configuration go")
    args = parser.parse_args(argv)
    if not args.sqlite and not args.pg:
        parser.error("no PostgreSQL: pass --pg URL (or set BITRIX_INFLOW_TEST_PG), or --sqlite")
    options = SoakOptions(
        orders=args.orders,
        rate=args.rate,
        kills=0 if args.calm else args.kills,
        instances=args.instances,
        workers=args.workers,
        pace=args.pace,
        seed=args.seed,
        settle_timeout_s=args.settle,
        pg_admin=None if args.sqlite else args.pg,
        work=args.work,
    )
    if args.calm:
        options = replace(options, faults=CALM, mix=replace(options.mix, burst_every_s=math.inf))
    report = run_soak(options)
    print(render(report))
    sys.exit(0 if report.ok else 1)
