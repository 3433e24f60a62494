"""Entry point: ``python -m bench <name> [options]``."""

from __future__ import annotations

import sys

from bench import inflow_stock, jobs, orders, stock
from bench.soak import main as soak

BENCHMARKS = {
    "jobs": jobs.main,
    "inflow_stock": inflow_stock.main,
    "orders": orders.main,
    "stock": stock.main,
    "soak": soak.main,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        print(f"usage: python -m bench {{{'|'.join(BENCHMARKS)}}} [--help]")
        raise SystemExit(2)
    name = sys.argv.pop(1)
    BENCHMARKS[name]()


main()
