"""Stock export through InflowClient: 100,000 SKUs over 1,000,000 bins seeded in the WMS sandbox.

The sandbox runs in its own process (so its memory is not counted); every measured variant runs in a fresh
child process, so each gets its own peak-RSS high-water mark:

* ``client-stream``: ``InflowClient.iter_available_stock`` / ``iter_bin_stock``, rows consumed as they come
  (the way the sync uses it): one page in memory at a time;
* ``client-list``: the same export collected into a list first (baseline: what not streaming costs);
* ``raw-httpx``: plain httpx page fetching and ``response.json()``, no client, no mapping to models, no retry
  layer (baseline: what the client's typed mapping costs in time).

Peak memory is the peak RSS of the child minus its RSS just before the export; ``py-heap`` is the tracemalloc
peak of a separate client-stream pass (Python allocations only). Run: ``python -m bench inflow_stock``.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import platform
import resource
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bitrix_inflow.adapters.inflow.client import InflowClient
from bitrix_inflow.adapters.inflow.settings import InflowSettings

API_KEY = "bench-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def sandbox(skus: int, bins: int) -> Iterator[str]:
    port = _free_port()
    cli = Path(sys.executable).with_name("bitrix-inflow")
    args = [str(cli), "sandbox", "wms", "--port", str(port), "--seed", "7", "--api-key", API_KEY]
    args += ["--skus", str(skus), "--bins", str(bins)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                error = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"the sandbox exited: {error}")
            with contextlib.suppress(httpx.HTTPError):
                state = httpx.get(url + "/_sandbox/state", timeout=5).json()
                if state["slots"] == bins:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not come up in 300 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _export(variant: str, level: str, url: str, page_size: int) -> tuple[int, int]:
    """(rows, checksum of quantities) of one full export."""
    if variant == "raw-httpx":
        rows = total = 0
        with httpx.Client(base_url=url + "/api/v1", headers={"X-API-Key": API_KEY}, timeout=60) as http:
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"warehouse": "MAIN", "limit": page_size}
                params["available_only"] = "true" if level == "available" else "false"
                if cursor:
                    params["cursor"] = cursor
                page = http.get("/stock", params=params).json()
                key = "qty_available" if level == "available" else "qty_on_hand"
                rows += len(page["items"])
                total += sum(item[key] for item in page["items"])
                cursor = page["next_cursor"]
                if cursor is None:
                    return rows, total
    settings = InflowSettings(base_url=url, api_key=API_KEY)  # type: ignore[arg-type]
    with InflowClient(settings) as client:
        if level == "available":
            stream: Iterator[Any] = client.iter_available_stock(limit=page_size)
            qty = "qty_available"
        else:
            stream = client.iter_bin_stock(limit=page_size)
            qty = "qty_on_hand"
        if variant == "client-list":
            collected = list(stream)
            return len(collected), sum(getattr(row, qty) for row in collected)
        rows = total = 0
        for row in stream:
            rows += 1
            total += getattr(row, qty)
        return rows, total


def _child(variant: str, level: str, url: str, page_size: int, traced: bool, out: Any) -> None:
    before = _rss_mb()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    rows, checksum = _export(variant, level, url, page_size)
    seconds = time.perf_counter() - started
    heap = tracemalloc.get_traced_memory()[1] / 2**20 if traced else 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss = max(0.0, peak - before)
    out.send({"rows": rows, "checksum": checksum, "seconds": seconds, "rss_mb": rss, "heap": heap})


def measure(variant: str, level: str, url: str, page_size: int, traced: bool = False) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(variant, level, url, page_size, traced, send))
    proc.start()
    result = dict(receive.recv())
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench inflow_stock", description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--bins", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--level", choices=["available", "bins", "both"], default="both")
    args = parser.parse_args()
    levels = ["available", "bins"] if args.level == "both" else [args.level]

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"seeding the sandbox: {args.skus:,} SKUs over {args.bins:,} bins ...")
    with sandbox(args.skus, args.bins) as url:
        print("| level | variant | rows | pages | time s | rows/s | peak RSS delta MiB | py-heap peak MiB |")
        print("|---|---|---|---|---|---|---|---|")
        for level in levels:
            checksums = set()
            for variant in ("client-stream", "client-list", "raw-httpx"):
                result = measure(variant, level, url, args.page_size)
                heap = ""
                if variant == "client-stream":
                    heap = f"{measure(variant, level, url, args.page_size, traced=True)['heap']:.1f}"
                checksums.add((result["rows"], result["checksum"]))
                pages = -(-result["rows"] // args.page_size)
                print(
                    f"| {level} | {variant} | {result['rows']:,} | {pages:,} | {result['seconds']:.1f} | "
                    f"{result['rows'] / result['seconds']:,.0f} | {result['rss_mb']:.1f} | {heap} |",
                    flush=True,
                )
            if len(checksums) != 1:
                raise SystemExit(f"variants disagree on the {level} export: {checksums}")


if __name__ == "__main__":
    main()
