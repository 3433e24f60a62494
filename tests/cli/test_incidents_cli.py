"""``bitrix-inflow incidents list|show|resolve`` as a person uses it: the inbox, one incident's trail, and choices
that are checked before anything changes (an unknown id, a way out the kind does not offer, one not built yet)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from bitrix_inflow.config.settings import DEFAULT_SQLITE_URL
from bitrix_inflow.store import incidents
from bitrix_inflow.store.engine import make_engine
from bitrix_inflow.sync.incidents.inbox import raise_incident

sys.path.insert(0, str(Path(__file__).parent))
from cli_runner import cli

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def inbox(tmp_path: Path) -> tuple[Path, int, int]:
    """A shop folder whose database holds a picking error and a refused status."""
    assert cli("db", "upgrade", cwd=tmp_path).returncode == 0
    engine = make_engine(DEFAULT_SQLITE_URL.replace("sqlite:///", f"sqlite:///{tmp_path}/"))
    with engine.begin() as conn:
        picking = raise_incident(
            conn,
            "default",
            41,
            kind="picking_error",
            subject="B-41-1",
            detail={"sku": "SB-HOODIE-URBAN-M", "bin": "A-01-02", "reason": "not found in bin A-01-02"},
            now=NOW,
        )
        refused = raise_incident(
            conn, "default", 42, kind="status_refused", subject="P", detail={"wanted": "P"}, now=NOW
        )
    engine.dispose()
    assert picking is not None and refused is not None
    return tmp_path, picking, refused


def test_the_inbox_lists_what_is_open_and_shows_one_with_its_trail(inbox: tuple[Path, int, int]) -> None:
    folder, picking, _refused = inbox
    listed = cli("incidents", "list", cwd=folder)
    assert listed.returncode == 1, listed.stderr  # something is open
    assert (
        "picking_error" in listed.stdout and "status_refused" in listed.stdout and "B-41-1" in listed.stdout
    )
    shown = cli("incidents", "show", str(picking), cwd=folder)
    assert shown.returncode == 0, shown.stderr
    assert "A-01-02" in shown.stdout and "cancel, substitute, ship_rest, retry_when_stock" in shown.stdout
    assert "opened" in shown.stdout and "pending" in shown.stdout


def test_bad_choices_are_clear_errors_and_change_nothing(inbox: tuple[Path, int, int]) -> None:
    folder, picking, refused = inbox
    unknown = cli("incidents", "resolve", "999", "dismiss", cwd=folder)
    assert unknown.returncode == 1 and "there is no incident 999" in unknown.stderr
    assert "incidents list" in unknown.stderr  # the fix
    wrong = cli("incidents", "resolve", str(refused), "substitute", cwd=folder)
    assert (
        wrong.returncode == 1 and "'substitute' is not a way out of a status_refused incident" in wrong.stderr
    )
    assert "choose one of: dismiss" in wrong.stderr
    later = cli("incidents", "resolve", str(picking), "substitute", cwd=folder)
    assert later.returncode == 3 and "cannot be carried out by this version yet" in later.stderr
    assert cli("incidents", "show", "0", cwd=folder).returncode == 2  # not an id at all: a usage error
    engine = make_engine(DEFAULT_SQLITE_URL.replace("sqlite:///", f"sqlite:///{folder}/"))
    with engine.connect() as conn:
        assert {i.id for i in incidents.listed(conn, "default")} == {picking, refused}
        assert [e.action for e in incidents.trail(conn, picking)] == ["opened"]
    engine.dispose()


def test_a_way_out_is_recorded_with_who_chose_it_and_only_once(inbox: tuple[Path, int, int]) -> None:
    folder, picking, refused = inbox
    done = cli("incidents", "resolve", str(refused), "dismiss", cwd=folder)
    assert done.returncode == 0, done.stderr
    again = cli("incidents", "resolve", str(refused), "dismiss", cwd=folder)
    assert again.returncode == 1 and "resolved already" in again.stderr
    shown = cli("incidents", "show", str(refused), cwd=folder)
    assert "resolved" in shown.stdout and "chose" in shown.stdout and "cli:" in shown.stdout
    listed = cli("incidents", "list", cwd=folder)
    assert str(picking) in listed.stdout and "status_refused" not in listed.stdout
