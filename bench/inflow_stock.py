"""Stock export through InflowClient: 100,000 SKUs over 1,000,000 bins seeded in the WMS sandbox.

The sandbox runs in its own process (so its memory is not counted); every measured variant runs in a fresh
child process, so each gets its own peak-RSS high-water mark:

* ``client-stream``: ``InflowClient.iter_available_stock`` / ``iter_bin_stock``, rows consumed as they come
  (the way the sync uses it): one page in memory at a time;
* ``client-list``: the same export collected into a list first (baseline: what not streaming costs);
* ``raw-httpx``: plain httpx page fetching and ``response.json()``, no client, no mapping to models, no retry
  layer (baseline: what the client's typed mapping costs in time).

Peak memory is the peak RSS of the child minus its RSS just before the export; ``py-heap`` is the tracemalloc
peak of a separate client-stream pass (Python allocations only). Run: ``python -m bench inflow_stock``;
``--profile legacy-example`` runs the same against the contract's renamed installation (page cap 200),
where the client also translates every row's names.
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
from bitrix_inflow.adapters.inflow.profile import load_profile
from bitrix_inflow.adapters.inflow.settings import InflowSettings

API_KEY = "bench-key"
CONTRACT_DIALECTS = Path(__file__).resolve().parents[1] / "contracts" / "inflow-v1" / "dialects"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def sandbox(skus: int, bins: int, profile: str) -> Iterator[str]:
    port = _free_port()
    cli = Path(sys.executable).with_name("bitrix-inflow")
    args = [str(cli), "sandbox", "wms", "--port", str(port), "--seed", "7", "--api-key", API_KEY]
    args += ["--skus", str(skus), "--bins", str(bins)]
    if profile != "default":
        args += ["--dialect", str(CONTRACT_DIALECTS / f"{profile}.toml")]
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


def _export(variant: str, level: str, url: str, page_size: int, profile_name: str) -> tuple[int, int]:
    """(rows, checksum of quantities) of one full export."""
    profile = load_profile(profile_name)
    if variant == "raw-httpx":
        # Only the installation's names are looked up (path, parameters, quantity key); rows stay raw dicts.
        rows = total = 0
        name = profile.wire_name
        base = url + profile.rest.base_path
        with httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}, timeout=60) as http:
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {name("warehouse"): "MAIN", name("limit"): page_size}
                params[name("available_only")] = "true" if level == "available" else "false"
                if cursor:
                    params[name("cursor")] = cursor
                page = http.get(profile.rest.endpoints.stock, params=params).json()
                key = name("qty_available" if level == "available" else "qty_on_hand")
                rows += len(page["items"])
                total += sum(item[key] for item in page["items"])
                cursor = page["next_cursor"]
                if cursor is None:
                    return rows, total
    settings = InflowSettings(base_url=url, api_key=API_KEY, profile=profile_name)  # type: ignore[arg-type]
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


def _child(variant: str, level: str, url: str, page_size: int, profile: str, traced: bool, out: Any) -> None:
    before = _rss_mb()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    rows, checksum = _export(variant, level, url, page_size, profile)
    seconds = time.perf_counter() - started
    heap = tracemalloc.get_traced_memory()[1] / 2**20 if traced else 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss = max(0.0, peak - before)
    out.send({"rows": rows, "checksum": checksum, "seconds": seconds, "rss_mb": rss, "heap": heap})


def measure(
    variant: str, level: str, url: str, page_size: int, profile: str, traced: bool = False
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(variant, level, url, page_size, profile, traced, send))
    proc.start()
    result = dict(receive.recv())
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench inflow_stock", description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--bins", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=None, help="default: the profile's cap")
    parser.add_argument(
        "--profile",
        choices=["default", "legacy-example"],
        default="default",
        help="installation dialect and profile",
    )
    parser.add_argument("--level", choices=["available", "bins", "both"], default="both")
    args = parser.parse_args()
    levels = ["available", "bins"] if args.level == "both" else [args.level]
    page_size = args.page_size or load_profile(args.profile).paging.max_page_size

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"seeding the sandbox: {args.skus:,} SKUs over {args.bins:,} bins ...")
    print(f"profile: {args.profile}, page size {page_size}")
    with sandbox(args.skus, args.bins, args.profile) as url:
        print("| level | variant | rows | pages | time s | rows/s | peak RSS delta MiB | py-heap peak MiB |")
        print("|---|---|---|---|---|---|---|---|")
        for level in levels:
            checksums = set()
            for variant in ("client-stream", "client-list", "raw-httpx"):
                result = measure(variant, level, url, page_size, args.profile)
                heap = ""
                if variant == "client-stream":
                    heap = f"{measure(variant, level, url, page_size, args.profile, traced=True)['heap']:.1f}"
                checksums.add((result["rows"], result["checksum"]))
                pages = -(-result["rows"] // page_size)
                print(
                    f"| {level} | {variant} | {result['rows']:,} | {pages:,} | {result['seconds']:.1f} | "
                    f"{result['rows'] / result['seconds']:,.0f} | {result['rss_mb']:.1f} | {heap} |",
                    flush=True,
                )
            if len(checksums) != 1:
                raise SystemExit(f"variants disagree on the {level} export: {checksums}")


if __name__ == "__main__":
    main()
