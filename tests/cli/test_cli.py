"""The command line, run as a user runs it: a real process, its exit code and its output."""

from __future__ import annotations

import datetime as dt
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.store import connections, schema
from bitrix_inflow.store.engine import make_engine

sys.path.insert(0, str(Path(__file__).parent))
from cli_runner import clean_env, cli

NOW = dt.datetime.now(dt.UTC)
WORKERS_ALIVE_2 = re.compile(r"^bitrix_inflow_workers_alive 2(\.0)?$", re.MULTILINE)


def json_log_lines(output: str) -> list[dict[str, object]]:
    """The lines of a process's output that a log collector would take for JSON log records."""
    found = []
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "event" in record:
            found.append(record)
    return found


def test_config_check_lists_every_problem_and_fails(tmp_path: Path) -> None:
    (tmp_path / "bitrix-inflow.toml").write_text("[schedules]\nstock_seconds = 5\n[jobs]\nworker = 3\n")
    result = cli("config", "check", cwd=tmp_path)
    assert result.returncode == 1
    assert "2 problem(s)" in result.stderr
    assert "schedules.stock_seconds" in result.stderr and "jobs.worker" in result.stderr


def test_config_check_passes_on_defaults_and_hides_secrets(tmp_path: Path) -> None:
    env = {
        "BITRIX_INFLOW__INFLOW__API_KEY": "topsecret-1",
        "BITRIX_INFLOW__INFLOW__BASE_URL": "https://wms.example",
    }
    result = cli("config", "check", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "configuration: OK" in result.stdout and "topsecret-1" not in result.stdout


def test_db_upgrade_then_status(tmp_path: Path) -> None:
    assert cli("db", "status", cwd=tmp_path).returncode == 1
    upgraded = cli("db", "upgrade", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded" in upgraded.stdout and (tmp_path / "var" / "bitrix-inflow.db").exists()
    status = cli("db", "status", cwd=tmp_path)
    assert status.returncode == 0 and schema.head_revision() in status.stdout
    assert "already at schema" in cli("db", "upgrade", cwd=tmp_path).stdout


def test_serve_refuses_an_outdated_schema(tmp_path: Path) -> None:
    result = cli("serve", cwd=tmp_path)
    assert result.returncode == 2
    assert "bitrix-inflow db upgrade" in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_process(cwd: Path, port: int, **streams: Any) -> subprocess.Popen[Any]:
    """``serve`` on a freshly upgraded database in ``cwd``, its web side on ``port``."""
    assert cli("db", "upgrade", cwd=cwd).returncode == 0
    env = clean_env({"BITRIX_INFLOW__WEB__PORT": str(port)})
    return subprocess.Popen([sys.executable, "-m", "bitrix_inflow", "serve"], cwd=cwd, env=env, **streams)


def test_serve_runs_until_sigterm_and_logs_json(tmp_path: Path) -> None:
    port = free_port()
    proc = serve_process(tmp_path, port, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        first = json.loads(proc.stderr.readline())
        assert first["event"] == "service.started" and "maintenance.prune" in first["kinds"]
        health = None
        deadline = time.monotonic() + 60
        while health is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the web server never answered"
                time.sleep(0.1)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        # The web server answers as soon as it listens, which may be before the scheduler's first tick queued the
        # prune job or before both workers registered: wait for them rather than race them.
        metrics = ""
        while not ('kind="maintenance.prune"' in metrics and WORKERS_ALIVE_2.search(metrics)):
            assert time.monotonic() < deadline, f"no prune job or not 2 workers alive in /metrics:\n{metrics}"
            time.sleep(0.1)
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "bitrix_inflow_workers_alive" in metrics and 'kind="maintenance.prune"' in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        events = [
            json.loads(line)["event"] for line in proc.stderr.read().splitlines() if line.startswith("{")
        ]
        assert "service.stopped" in events
    finally:
        proc.kill()


def test_serve_in_a_terminal_logs_readable_lines(tmp_path: Path) -> None:
    terminal, terminal_side = pty.openpty()
    proc = serve_process(tmp_path, free_port(), stdout=subprocess.DEVNULL, stderr=terminal_side)
    os.close(terminal_side)
    output = b""
    stopping = False
    try:
        deadline = time.monotonic() + 60
        while b"service.stopped" not in output and time.monotonic() < deadline:
            if b"service.started" in output and not stopping:
                proc.send_signal(signal.SIGTERM)
                stopping = True
            if select.select([terminal], [], [], 0.5)[0]:
                try:
                    output += os.read(terminal, 65536)
                except OSError:  # the process closed its side of the terminal
                    break
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(terminal)
    text = output.decode(errors="replace")
    assert "service.started" in text and "service.stopped" in text, text
    assert json_log_lines(text) == [], text


def test_jobs_list_retry_discard(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = make_engine(db_url)
    schema.upgrade(engine)
    with engine.begin() as conn:
        dead_id = queue.enqueue(conn, "sync.order", {"order": 5}, now=NOW).job_id
        queued_id = queue.enqueue(conn, "sync.order", {"order": 6}, now=NOW).job_id
    job = queue.claim(engine, "w", now=NOW, lease=dt.timedelta(seconds=30))
    assert job is not None and job.id == dead_id
    queue.mark_dead(engine, job, "w", now=NOW, error="PermanentError: no mapping for SHORT_PICK")
    env = {"BITRIX_INFLOW__DATABASE__URL": db_url}

    listed = cli("jobs", "list", "--status", "dead", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "dead: 1" in listed.stdout and "no mapping for SHORT_PICK" in listed.stdout

    assert cli("jobs", "retry", str(dead_id), cwd=tmp_path, env=env).returncode == 0
    refused = cli("jobs", "retry", str(queued_id), cwd=tmp_path, env=env)
    assert refused.returncode == 1 and "only dead or cancelled" in refused.stderr
    assert cli("jobs", "discard", str(queued_id), cwd=tmp_path, env=env).returncode == 0
    with engine.connect() as conn:
        statuses = {j.id: j.status for j in queue.list_jobs(conn)}
    assert statuses == {dead_id: JobStatus.QUEUED, queued_id: JobStatus.CANCELLED}

    # Another tenant's job: listed with its tenant, and left alone by whoever acts for one tenant only.
    with engine.begin() as conn:
        connections.ensure(conn, "north", now=NOW)
        theirs = queue.enqueue(conn, "sync.order", {"order": 7}, now=NOW, connection_id="north").job_id
    every = cli("jobs", "list", cwd=tmp_path, env=env)
    assert f"│ {theirs} " in every.stdout and " north " in every.stdout, every.stdout
    mine = cli("jobs", "list", "--connection", "default", cwd=tmp_path, env=env)
    assert f"│ {theirs} " not in mine.stdout and f"│ {dead_id} " in mine.stdout, mine.stdout
    kept = cli("jobs", "discard", str(theirs), "--connection", "default", cwd=tmp_path, env=env)
    assert kept.returncode == 1 and f"job {theirs} does not exist" in kept.stderr
    assert cli("jobs", "discard", str(theirs), "--connection", "north", cwd=tmp_path, env=env).returncode == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("sync", "orders"), "[orders] go_live"),  # which orders belong to the old process is never guessed
        (("reconcile",), "[orders] go_live"),
        (("sync", "statuses"), "bitrix-inflow db upgrade"),  # first things first: the state database
    ],
)
def test_the_orders_commands_name_what_is_not_configured(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert says in result.stderr


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "args", [("jobs", "list"), ("db", "status"), ("db", "upgrade"), ("serve",)], ids=" ".join
)
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_an_unreachable_database_is_a_clear_message_not_a_traceback(
    tmp_path: Path, args: tuple[str, ...], backend: str
) -> None:
    if backend == "postgresql":  # nothing listens on the port: connection refused
        url = f"postgresql://bi:pw-not-for-eyes@127.0.0.1:{_closed_port()}/bi"
    else:  # the path is a directory: SQLite cannot open it
        (tmp_path / "state.db").mkdir()
        url = f"sqlite:///{tmp_path / 'state.db'}"
    result = cli(*args, cwd=tmp_path, env={"BITRIX_INFLOW__DATABASE__URL": url})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "╭" not in result.stderr
    assert "database.url" in result.stderr and "cannot connect" in result.stderr
    assert "pw-not-for-eyes" not in result.stdout + result.stderr


@pytest.mark.parametrize("action", ["retry", "discard"])
@pytest.mark.parametrize("job_id", ["99999999999999999999", "0"])
def test_a_job_id_out_of_range_is_a_usage_error(tmp_path: Path, action: str, job_id: str) -> None:
    assert cli("db", "upgrade", cwd=tmp_path).returncode == 0
    result = cli("jobs", action, job_id, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "job_ids" in result.stderr
