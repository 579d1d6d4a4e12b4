"""Playbooks as specified: the built-in Double-11 plan, and bad files rejected line by line."""

from datetime import UTC, date, datetime, timedelta

import pytest
from jinja2.exceptions import SecurityError

from shequn.campaign.playbook import PlaybookError, StepKind, load_playbook, parse_playbook
from shequn.campaign.rules import GroupProfile, plan_campaign
from shequn.campaign.templates import render

FOUR_GROUPS = [
    GroupProfile("old-1", "老粉1群", frozenset({"old"}), 520),
    GroupProfile("old-2", "老粉2群", frozenset({"old"}), 480),
    GroupProfile("new-3", "新人3群", frozenset({"new"}), 170),
    GroupProfile("new-4", "新人4群", frozenset({"new"}), 100),
]
START = date(2026, 11, 7)


def _double11() -> list[tuple[str | None, int, str, str]]:
    playbook, _source = load_playbook("double11")
    planned = plan_campaign(playbook, start=START, groups=FOUR_GROUPS, timezone="Asia/Shanghai")
    return [(p.group, p.step.day, p.local.strftime("%m-%d %H:%M"), p.step.id) for p in planned]


def test_double11_plans_five_days_for_old_and_new_groups() -> None:
    timeline = _double11()
    days = sorted({day for _group, day, _at, _step in timeline})
    assert days == [1, 2, 3, 4, 5]
    assert timeline[0] == ("new-3", 1, "11-07 09:00", "d1-rename")
    assert timeline[-1] == ("old-2", 5, "11-11 20:30", "d5-last-call")
    per_group = {group: sum(1 for g, *_ in timeline if g == group) for group in
                 ("old-1", "old-2", "new-3", "new-4", None)}  # fmt: skip
    # New groups: the rename, notice, story, day-2 draw, repeat, coupons and shop link on top.
    assert per_group == {"old-1": 19, "old-2": 19, "new-3": 25, "new-4": 25, None: 1}


def test_every_evening_has_its_20_30_event_in_every_group() -> None:
    evenings = {(group, day, step) for group, day, at, step in _double11() if at.endswith("20:30")}
    assert evenings == {
        *{(g, 1, "d1-board") for g in ("old-1", "old-2", "new-3", "new-4")},
        ("old-1", 2, "d2-nth-like"), ("old-2", 2, "d2-nth-like"),
        *{(g, 3, "d3-evening") for g in ("old-1", "old-2", "new-3", "new-4")},
        *{(g, 4, "d4-evening") for g in ("old-1", "old-2", "new-3", "new-4")},
        *{(g, 5, "d5-last-call") for g in ("old-1", "old-2", "new-3", "new-4")},
    }  # fmt: skip


def test_day_two_new_groups_get_the_coupon_at_20_00_and_the_draw_at_20_30() -> None:
    playbook, _source = load_playbook("double11")
    lottery = playbook.step("d2-lottery")
    assert lottery.kind is StepKind.LOTTERY
    assert lottery.segments == ("new",)
    assert lottery.values["draw_at"] == "20:30"
    assert lottery.values["keyword"] == "今晚8:30,群内抽奖"
    new_day_2 = [
        (at, step) for group, day, at, step in _double11() if group == "new-3" and day == 2
    ]
    assert new_day_2 == [
        ("11-08 08:00", "d2-sign-in"), ("11-08 10:00", "d2-story"),
        ("11-08 12:00", "d2-lottery"), ("11-08 15:00", "d2-repeat"),
        ("11-08 20:00", "d2-coupons"), ("11-08 20:05", "d2-shop"), ("11-08 21:00", "d2-tease"),
    ]  # fmt: skip


def test_the_price_changes_once_for_the_org_at_midnight_of_the_sale_day() -> None:
    price = [(g, at) for g, _day, at, step in _double11() if step == "d5-price"]
    assert price == [(None, "11-11 00:00")]
    playbook, _source = load_playbook("double11")
    assert playbook.step("d5-price").values == {"sku": "d11-dress", "price": 60000}


def test_an_org_in_berlin_gets_20_30_berlin_time() -> None:
    playbook, _source = load_playbook("double11")
    planned = plan_campaign(playbook, start=START, groups=FOUR_GROUPS[:1], timezone="Europe/Berlin")
    board = next(p for p in planned if p.step.id == "d1-board")
    assert board.local.isoformat() == "2026-11-07T20:30:00+01:00"
    assert board.due_at == datetime(2026, 11, 7, 19, 30, tzinfo=UTC)


def test_a_group_in_no_segment_gets_only_the_steps_for_everyone() -> None:
    playbook, _source = load_playbook("double11")
    store = GroupProfile("store-9", "门店9群", frozenset({"store-9"}), 60)
    planned = plan_campaign(playbook, start=START, groups=[store], timezone="Asia/Shanghai")
    assert all(not p.step.segments for p in planned)
    assert {p.step.id for p in planned} >= {"d1-fission", "d3-lottery", "d5-open"}


BAD = """\
name: broken
days: 3
segments:
  old: [old]
steps:
  - id: one
    day: 1
    at: "25:61"
    kind: message
    text: hi {{ group }}
  - id: two
    day: 4
    at: "20:30"
    kind: sned
  - id: three
    day: 0
    at: "20:30"
    kind: tease
    segments: [vip]
    text: "{{ prise }} tonight"
  - id: four
    day: 2
    at: "09:00"
    kind: notice
    text:
      zh: |
        第一行
        {% if members > 10 %}多{% endfi %}
"""


def test_a_bad_playbook_is_rejected_with_every_problem_and_its_line() -> None:
    with pytest.raises(PlaybookError) as raised:
        parse_playbook(BAD, file="broken.yaml")
    lines = [str(problem) for problem in raised.value.problems]
    assert lines[0] == "broken.yaml:8:9: at: '25:61' is not a local time of day like 20:30"
    assert lines[1] == "broken.yaml:12:10: day: 4 is after the playbook's last day (3)"
    assert lines[2].startswith("broken.yaml:14:11: unknown step kind 'sned' (known: message,")
    assert lines[3] == "broken.yaml:16:10: day: '0' is not a whole number of at least 1"
    assert lines[4] == "broken.yaml:19:15: unknown segment 'vip' (defined: old)"
    assert lines[5].startswith("broken.yaml:20:11: text: unknown template variable 'prise'")
    assert lines[6].startswith("broken.yaml:28:1: text: template syntax error:")
    assert "endfi" in lines[6]
    assert len(lines) == 7


def test_a_template_that_fails_on_every_run_is_rejected_at_check_time() -> None:
    source = (
        "name: x\ndays: 1\nvariables:\n  sale_price: '600'\nsteps:\n"
        "  - id: a\n    day: 1\n    at: '20:30'\n    kind: message\n"
        "    text: 到手价 {{ sale_price * 0.45 }},现在 {{ members }} 人\n"
    )
    with pytest.raises(PlaybookError) as raised:
        parse_playbook(source, file="x.yaml")
    [problem] = [str(p) for p in raised.value.problems]
    assert problem.startswith("x.yaml:10:11: text: template fails when rendered: TypeError:")
    # The same text written with a filter that makes the number renders.
    fixed = source.replace("sale_price * 0.45", "(sale_price | float * 0.45) | round(2)")
    assert parse_playbook(fixed, file="x.yaml").step("a").id == "a"


def test_a_yaml_syntax_error_names_its_line() -> None:
    with pytest.raises(PlaybookError) as raised:
        parse_playbook("name: x\ndays: 1\nsteps:\n  - id: [a\n", file="x.yaml")
    assert [(p.file, p.line) for p in raised.value.problems] == [("x.yaml", 5)]


def test_unknown_fields_and_missing_ones_are_named() -> None:
    source = "name: x\ndays: 1\nsteps:\n  - id: a\n    day: 1\n    at: '10:00'\n    kind: price\n    sku: s1\n    colour: red\n"
    with pytest.raises(PlaybookError) as raised:
        parse_playbook(source, file="x.yaml")
    assert [str(p) for p in raised.value.problems] == [
        "x.yaml:4:5: a price step needs 'price'",
        "x.yaml:9:5: a price step has no field 'colour' (known: id, day, at, kind, segments, essential, sku, price)",
    ]


def test_only_a_post_can_be_essential() -> None:
    source = "name: x\ndays: 1\nsteps:\n  - id: a\n    day: 1\n    at: '00:00'\n    kind: price\n    sku: s1\n    price: '600.00'\n    essential: true\n"
    with pytest.raises(PlaybookError) as raised:
        parse_playbook(source, file="x.yaml")
    assert [str(p) for p in raised.value.problems] == [
        "x.yaml:10:5: essential: a price step posts nothing"
    ]
    evening = load_playbook("double11")[0].step("d3-evening")
    assert evening.essential


def test_duplicate_step_ids_are_refused() -> None:
    step = "  - id: a\n    day: 1\n    at: '10:00'\n    kind: message\n    text: hi\n"
    with pytest.raises(PlaybookError) as raised:
        parse_playbook("name: x\ndays: 1\nsteps:\n" + step + step, file="x.yaml")
    assert [str(p) for p in raised.value.problems] == [
        "x.yaml:9:5: step id 'a' is already used on line 4"
    ]


def test_templates_render_in_the_sandbox_and_keep_zh_and_en() -> None:
    playbook, _source = load_playbook("double11")
    repeat = playbook.step("d2-repeat")
    values = {"prize": "连衣裙", "line": "今晚8:30,群内抽奖"}
    assert render(repeat.texts["text"].pick("zh"), values) == (
        "今晚抽连衣裙!请大家在群里发一句「今晚8:30,群内抽奖」,发了才能参与哦。"
    )
    assert render(repeat.texts["text"].pick("en"), values) == (
        'Tonight we draw a 连衣裙! Post "今晚8:30,群内抽奖" in the group to enter.'
    )
    with pytest.raises(SecurityError):
        render("{{ group.__class__.__mro__ }}", {"group": "x"})


def test_plan_days_and_times_come_from_the_start_date() -> None:
    playbook, _source = load_playbook("double11")
    planned = plan_campaign(playbook, start=START, groups=FOUR_GROUPS[2:3], timezone="UTC")
    first, last = planned[0], planned[-1]
    # Day 1 09:00 (the rename) to day 5 20:30 (the last call).
    assert last.due_at - first.due_at == timedelta(days=4, hours=11, minutes=30)


def test_a_lottery_is_set_up_before_its_draw() -> None:
    source = (
        "name: x\ndays: 1\nsteps:\n  - id: a\n    day: 1\n    at: '12:00'\n"
        "    kind: lottery\n    prize: 连衣裙:1\n    draw_at: '11:00'\n"
    )
    with pytest.raises(PlaybookError) as raised:
        parse_playbook(source, file="x.yaml")
    assert [str(p) for p in raised.value.problems] == [
        "x.yaml:9:14: draw_at: 11:00 is not after the step's at"
    ]
