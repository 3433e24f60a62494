"""A pytest plugin: a test after which a sandbox has recorded an unexpected exception fails, with the traceback.

Load it with ``pytest_plugins = ["bitrix_inflow.sandboxes.pytest_plugin"]`` in a root conftest (or ``-p``). It
checks every sandbox alive in the process, so a fixture that starts a sandbox, module- or session-scoped, needs
nothing of its own: the test during which the sandbox crashed is the one that fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bitrix_inflow.sandboxes import bugs


@pytest.fixture(autouse=True)
def _sandbox_bugs_fail_the_test() -> Iterator[None]:
    yield
    bugs.check_live()
