"""Runs ``bitrix-inflow`` as a user does: a fresh process, no BITRIX_INFLOW* variables leaking in from the test run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITRIX_INFLOW")}
    env.update({"COLUMNS": "250", **(extra or {})})  # wide enough that rich never folds a table cell
    return env


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bitrix_inflow", *args],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
