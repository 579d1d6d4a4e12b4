"""`shequn playbook …` and `shequn campaign …` as operators type them."""

import json
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from shequn.campaign.models import CampaignRun
from shequn.cli.campaign import campaign_app, playbook_app
from shequn.engine.models import JobRecord
from shequn.wiring import Shequn
from tests.test_campaign_run import seed_groups

runner = CliRunner()
# Far enough ahead that the real clock of the commands never passes it.
START = "2031-01-10"
BROKEN = """\
name: broken
days: 2
steps:
  - id: a
    day: 1
    at: "20:30"
    kind: message
    text: "{{ prise }}"
  - id: b
    day: 3
    at: "9:7"
    kind: message
    text: hi
"""


def test_check_accepts_the_built_in_playbook() -> None:
    result = runner.invoke(playbook_app, ["check", "double11"])
    assert result.exit_code == 0, result.output
    assert (
        result.stdout.strip()
        == "ok 通过: double11 — 5 days 天, 27 steps 步, segments 分组 new, old"
    )


def test_check_lists_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = runner.invoke(playbook_app, ["check", str(path)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: broken.yaml:8:11: text: unknown template variable 'prise'")
    assert lines[1:] == [
        "error: broken.yaml:10:10: day: 3 is after the playbook's last day (2)",
        "error: broken.yaml:11:9: at: '9:7' is not a local time of day like 20:30",
        "3 problem(s) 个问题; nothing was scheduled 未安排任何步骤",
    ]


def test_plan_prints_each_groups_timeline_as_json(shequn: Shequn) -> None:
    seed_groups(shequn, {"old-1": ["old"], "new-3": ["new"], "other": []})
    db = shequn.settings.database_url
    result = runner.invoke(playbook_app, ["plan", "double11", "--start", START,
                                          "--groups", "old-1,new-3", "--json", "--db", db, "--org", "demo"])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {row["group"] for row in rows} == {"old-1", "new-3", None}
    fission = next(r for r in rows if r["group"] == "old-1" and r["step"] == "d1-fission")
    assert fission == {
        "group": "old-1", "day": 1, "at": "2031-01-10T10:00:00+08:00", "step": "d1-fission",
        "kind": "message",
        "text": "双11福利来啦:邀请好友进old-1群,有效邀请越多奖励越多(退群的不算)。现在 3 人,冲!",
        "details": {}, "note": None,
    }  # fmt: skip
    price = next(r for r in rows if r["step"] == "d5-price")
    assert (price["group"], price["at"], price["details"]) == (
        None, "2031-01-14T00:00:00+08:00", {"sku": "d11-dress", "price": 60000},
    )  # fmt: skip
    english = runner.invoke(playbook_app, ["plan", "double11", "--start", START, "--groups",
                                           "new-3", "--lang", "en", "--json", "--db", db, "--org", "demo"])  # fmt: skip
    tease = next(r for r in json.loads(english.stdout) if r["step"] == "d1-tease")
    assert tease["text"] == "A big surprise tomorrow at 20:30, be here! 4 days to the sale."


def test_plan_refuses_unknown_groups(shequn: Shequn) -> None:
    seed_groups(shequn, {"old-1": ["old"]})
    result = runner.invoke(playbook_app, ["plan", "double11", "--start", START, "--groups",
                                          "old-1,nope", "--db", shequn.settings.database_url, "--org", "demo"])  # fmt: skip
    assert result.exit_code == 1
    assert "--groups: nope not known in org 'demo'" in result.stderr


def test_a_bad_playbook_schedules_nothing(shequn: Shequn, tmp_path: Path) -> None:
    seed_groups(shequn, {"old-1": ["old"]})
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = runner.invoke(campaign_app, ["start", str(path), "--start", START,
                                          "--db", shequn.settings.database_url, "--org", "demo"])  # fmt: skip
    assert result.exit_code == 1
    with shequn.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CampaignRun)) == 0
        assert session.scalar(select(func.count()).select_from(JobRecord)) == 0


def test_start_list_show_pause_and_cancel(shequn: Shequn) -> None:
    seed_groups(shequn, {"old-1": ["old"], "new-3": ["new"]})
    db = shequn.settings.database_url
    started = runner.invoke(
        campaign_app, ["start", "double11", "--start", START, "--db", db, "--org", "demo"]
    )
    assert started.exit_code == 0, started.output
    assert "campaign 活动 double11-20310110 started 已开始: 45 steps scheduled" in started.stdout
    with shequn.sessions() as session:
        assert session.scalar(select(func.count()).select_from(JobRecord)) == 45
    again = runner.invoke(
        campaign_app, ["start", "double11", "--start", START, "--db", db, "--org", "demo"]
    )
    assert again.exit_code == 1
    assert "campaign 'double11-20310110' already exists in this org (give --id)" in again.stderr

    listed = json.loads(
        runner.invoke(campaign_app, ["list", "--json", "--db", db, "--org", "demo"]).stdout
    )
    assert listed == [{
        "id": "double11-20310110", "playbook": "double11", "start": START,
        "timezone": "Asia/Shanghai", "lang": "zh", "groups": ["new-3", "old-1"],
        "status": "running", "steps": {"planned": 45},
    }]  # fmt: skip
    paused = runner.invoke(
        campaign_app, ["pause", "double11-20310110", "--db", db, "--org", "demo"]
    )
    assert paused.stdout.strip() == "campaign 活动 double11-20310110: paused"
    twice = runner.invoke(campaign_app, ["pause", "double11-20310110", "--db", db, "--org", "demo"])
    assert twice.exit_code == 1
    assert "campaign double11-20310110 is paused: it cannot pause" in twice.stderr
    runner.invoke(campaign_app, ["cancel", "double11-20310110", "--db", db, "--org", "demo"])
    shown = runner.invoke(
        campaign_app, ["show", "double11-20310110", "--json", "--db", db, "--org", "demo"]
    )
    timeline = json.loads(shown.stdout)
    assert timeline["status"] == "cancelled"
    assert timeline["steps"] == {"cancelled": 45}
    assert timeline["timeline"][0] == {
        "step": "d1-rename", "group": "new-3", "day": 1, "kind": "rename",
        "at": "2031-01-10T09:00:00+08:00", "status": "cancelled", "reason": "campaign cancelled",
        "next_at": "2031-01-10T09:00:00+08:00", "ran_at": None,
        "log": [{"at": timeline["timeline"][0]["log"][0]["at"], "status": "cancelled",
                 "reason": "campaign cancelled"}],
    }  # fmt: skip
    table = runner.invoke(campaign_app, ["show", "double11-20310110", "--db", db, "--org", "demo"])
    assert "d5-price" in table.stdout
    assert "(org 全部)" in table.stdout


def test_budget_sets_the_orgs_limits(shequn: Shequn) -> None:
    db = shequn.settings.database_url
    result = runner.invoke(campaign_app, ["budget", "--daily-posts", "5", "--quiet-hours",
                                          "22:00-07:00", "--db", db, "--org", "demo"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "org demo: 200 messages 条/group/day, 5 posts 次推送/group/day, "
        "quiet hours 免打扰 22:00-07:00"
    )
    shown = runner.invoke(campaign_app, ["budget", "--db", db, "--org", "demo"])
    assert "5 posts" in shown.stdout
    bad = runner.invoke(
        campaign_app, ["budget", "--quiet-hours", "late", "--db", db, "--org", "demo"]
    )
    assert bad.exit_code == 1
    assert "--quiet-hours: 'late' is not a span like 23:00-08:00" in bad.stderr
