"""The companion Bitrix module (bitrix-module/) is valid PHP and passes its plain PHP tests against the stand-in of
the Bitrix classes it calls. Needs Debian's php-cli (.ci/run installs it and sets BITRIX_INFLOW_REQUIRE_PHP=1, so a
missing PHP fails the run instead of skipping)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parents[2] / "bitrix-module"


def _php() -> str:
    found = shutil.which("php")
    if found is None:
        if os.environ.get("BITRIX_INFLOW_REQUIRE_PHP", "").strip() not in ("", "0"):
            pytest.fail("BITRIX_INFLOW_REQUIRE_PHP is set but there is no php (apt-get install php-cli)")
        pytest.skip("php-cli is not installed (apt-get install php-cli; .ci/run does)")
    return found


def test_every_file_of_the_module_passes_php_lint() -> None:
    php = _php()
    files = sorted(MODULE.rglob("*.php"))
    assert len(files) >= 10
    for path in files:
        done = subprocess.run([php, "-l", str(path)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{path}: {done.stdout}{done.stderr}"


def test_the_modules_plain_php_tests_pass() -> None:
    done = subprocess.run(
        [_php(), str(MODULE / "tests" / "run.php")], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failure(s)" in done.stdout
