"""The command line contract operators script against."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shequn.cli.main import app
from shequn.kit.time import utc_now
from shequn.wiring import Shequn
from tests.conftest import event, lines_of

runner = CliRunner()


def write_log(path: Path, events: list[dict[str, object] | bytes]) -> Path:
    path.write_bytes(b"\n".join(lines_of(events)) + b"\n")
    return path


def test_ingest_json_prints_exactly_one_summary_object(shequn: Shequn, tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "events.jsonl",
        [
            event("j-1", "member.joined", "2020-11-07T10:00:00", {"group": "g1", "member": "u1"}),
            b"{broken",
            event("j-2", "member.joined", "2020-11-07T10:01:00", {"group": "g1", "member": "u2"}),
        ],
    )
    db = shequn.settings.database_url
    first = runner.invoke(app, ["ingest", str(log), "--json", "--db", db])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": [
            {
                "id": None,
                "line": 2,
                "error": "malformed JSON: Expecting property name enclosed in double quotes at column 2",
            }
        ],
    }
    second = runner.invoke(app, ["ingest", str(log), "--json", "--db", db])
    assert json.loads(second.stdout)["duplicates"] == 2


def test_ingest_of_an_unreadable_file_fails_with_its_name(shequn: Shequn, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    result = runner.invoke(
        app, ["ingest", str(missing), "--json", "--db", shequn.settings.database_url]
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"cannot read {missing}" in result.stderr


def test_org_token_jobs_outbox_and_rebuild_work_from_the_command_line(
    shequn: Shequn, tmp_path: Path
) -> None:
    db = shequn.settings.database_url
    created = runner.invoke(app, ["org", "create", "demo", "--welcome-text", "欢迎 {nickname}",
                                  "--welcome-window", "1", "--db", db])  # fmt: skip
    assert created.exit_code == 0, created.output
    token = runner.invoke(app, ["token", "create", "--org", "demo", "--db", db])
    assert token.stdout.startswith("sq_")
    just_now = (utc_now() - timedelta(seconds=30)).isoformat()
    newcomer = event("j-1", "member.joined", just_now, {"group": "g1", "member": "u1"})
    runner.invoke(app, ["ingest", str(write_log(tmp_path / "e.jsonl", [newcomer])), "--db", db])
    ran = runner.invoke(app, ["jobs", "run", "--db", db])
    assert "group.welcome" in ran.stdout
    assert "done" in ran.stdout
    listed = runner.invoke(app, ["outbox", "--json", "--db", db])
    assert [a["kind"] for a in json.loads(listed.stdout)] == ["send_message"]
    dispatched = runner.invoke(app, ["outbox", "dispatch", "--db", db])
    assert "sent 1" in dispatched.stdout
    rebuilt = runner.invoke(app, ["rebuild", "--db", db])
    assert "replayed 1 events" in rebuilt.stdout


def test_a_token_for_an_unknown_org_is_refused(shequn: Shequn) -> None:
    result = runner.invoke(
        app, ["token", "create", "--org", "ghost", "--db", shequn.settings.database_url]
    )
    assert result.exit_code == 1
    assert "org 'ghost' does not exist" in result.stderr


def test_an_unknown_time_zone_is_refused(shequn: Shequn) -> None:
    result = runner.invoke(
        app,
        [
            "org",
            "create",
            "demo",
            "--timezone",
            "Mars/Olympus",
            "--db",
            shequn.settings.database_url,
        ],
    )
    assert result.exit_code == 1
    assert "unknown time zone 'Mars/Olympus'" in result.stderr


def test_a_nightly_announcement_for_five_days_is_five_pending_jobs(shequn: Shequn) -> None:
    db = shequn.settings.database_url
    command = ["schedule", "announce", "--org", "demo", "--group", "g1", "--at", "2030-11-07 20:30",
               "--text", "今晚8:30,群内抽奖", "--days", "5", "--db", db]  # fmt: skip
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, command)
    assert again.exit_code == 0, again.output
    listed = json.loads(runner.invoke(app, ["jobs", "--json", "--db", db]).stdout)
    assert [(j["due_at"], j["status"]) for j in listed] == [
        (f"2030-11-{day:02d}T12:30:00+00:00", "pending") for day in range(7, 12)
    ]


def test_a_database_url_shequn_cannot_use_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["outbox", "--db", "mysql://root@localhost/shop"])
    assert result.exit_code == 2
    assert "'mysql' databases are not supported" in result.stderr


def test_a_bad_setting_is_named_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEQUN_BATCH_SIZE", "lots")
    result = runner.invoke(app, ["outbox"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: SHEQUN_BATCH_SIZE: Input should be a valid integer")
