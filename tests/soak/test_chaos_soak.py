"""The chaos soak, shortened for CI (``make soak``): 300 orders, 2 instances on PostgreSQL, 5 SIGKILLs, every fault
of the issue on; the full run (2,000 orders, 20 kills) is ``python -m bench soak`` and its figures are in
BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.soak.main import render
from bench.soak.run import SoakOptions, run_soak


@pytest.mark.soak
@pytest.mark.timeout(1800)  # the load (~2.5 min) and the settling (up to 10 min) are its work, not a hang
def test_300_orders_through_faults_and_5_kills_keep_every_invariant(pg_url: str, tmp_path: Path) -> None:
    report = run_soak(
        SoakOptions(orders=300, rate=3.0, kills=5, database=pg_url, work=tmp_path, settle_timeout_s=600)
    )
    print(render(report))
    assert len(report.kills) >= 5
    assert len(report.record.placed) == 300
    # The faults were there to meet: a soak through a calm warehouse proves nothing.
    met = report.wms_faults_met
    assert met.get("5xx", 0) and met.get("hang", 0) and met.get("429", 0), met
    assert met.get("webhook drop", 0) and met.get("webhook duplicate", 0), met
    assert report.record.bursts and report.shop_errors, "the shop's 503 bursts were met"
    assert report.findings.counts.get("incidents: picking_error", 0), "picking errors happened"
    assert report.findings.counts.get("marked units shipped", 0), "marked goods were shipped"
    broken = {name: found for name, found in report.findings.violations.items() if found}
    assert not broken, render(report)
