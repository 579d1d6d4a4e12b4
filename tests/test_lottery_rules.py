"""Lottery rules: provably fair draws, who may enter, the win limit and "Nth like wins"."""

import ast
import copy
import hashlib
import hmac
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shequn.lottery import proof, rules
from shequn.lottery.proof import (
    Award,
    Entrant,
    Prize,
    Winner,
    assign_prizes,
    commit,
    draw,
    draw_winners,
    entrant_list_hash,
    seed_hash,
    ticket,
    verify,
)
from shequn.lottery.rules import (
    Candidate,
    Eligibility,
    Exclusion,
    ExclusionReason,
    NthWin,
    Reaction,
    WinRecord,
    eligible_entrants,
    exclusion_for,
    has_started,
    nth_like_winners,
    within_win_limit,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DOC = Path(__file__).resolve().parent.parent / "docs" / "lottery-fairness.md"

SEED = bytes.fromhex("5eed" * 16)
RULES = "今晚8:30,群内抽奖: one free garment, two ¥100 coupons"
FREEZE_AT = datetime(2020, 11, 8, 20, 0, tzinfo=SHANGHAI)
ENTRANTS = (
    Entrant("u7"),
    Entrant("u12", weight=3),
    Entrant("u3"),
    Entrant("小芳", weight=2),
    Entrant("u42"),
    Entrant("u5", weight=4),
    Entrant("u9"),
)
PRIZES = (Prize("一等奖 free garment", 1), Prize("¥100 coupon", 2))

GOLDEN_COMMITMENT = "27d84fd097c36db0650ba76d4a7f015d59e28f61c1bc7fc1568485ea3d01b1ca"
GOLDEN_LIST_HASH = "9cab9e2df8dddd70bd6a3f8d455c27121c78ba2cadefcf1ddff67a9b15fc6b06"
GOLDEN_WINNERS = (
    Winner("u9", 1, "0.13143398871453279514512612702409620086346906077054836513845419050122766575995460"),
    Winner("小芳", 2, "0.14087564269550100715934270218416934698154362352797295770681885232575449542960632"),
    Winner("u5", 3, "0.54909102324158356928297409484968657820095704364083166705718095571585940615851635"),
)  # fmt: skip


def golden_record() -> dict[str, Any]:
    return draw(ENTRANTS, prizes=PRIZES, seed=SEED, rules=RULES, freeze_at=FREEZE_AT).published()


def derived_seed(n: int) -> bytes:
    return hashlib.sha256(b"draw-%d" % n).digest()


# Commitment and entrant list


def test_the_commitment_is_sha256_of_canonical_json_of_seed_hash_rules_and_freeze_time() -> None:
    canonical = (
        '{"freeze_at":"2020-11-08T20:00:00+08:00",'
        f'"rules":"{RULES}",'
        f'"seed_hash":"{hashlib.sha256(SEED).hexdigest()}"}}'
    )

    assert commit(seed=SEED, rules=RULES, freeze_at=FREEZE_AT) == GOLDEN_COMMITMENT
    assert hashlib.sha256(canonical.encode()).hexdigest() == GOLDEN_COMMITMENT
    assert seed_hash(SEED) == hashlib.sha256(SEED).hexdigest()


def test_a_freeze_time_without_a_zone_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="freeze_at"):
        commit(seed=SEED, rules=RULES, freeze_at=datetime(2020, 11, 8, 20, 0))


def test_a_seed_short_enough_to_guess_from_its_hash_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        commit(seed=b"8:30pm", rules=RULES, freeze_at=FREEZE_AT)


def test_the_entrant_list_hash_is_sha256_of_sorted_member_tab_weight_lines() -> None:
    lines = "u12\t3\nu3\t1\nu42\t1\nu5\t4\nu7\t1\nu9\t1\n小芳\t2\n"

    assert entrant_list_hash(ENTRANTS) == GOLDEN_LIST_HASH
    assert hashlib.sha256(lines.encode()).hexdigest() == GOLDEN_LIST_HASH


def test_a_member_entered_twice_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'u7' appears twice"):
        entrant_list_hash([Entrant("u7"), Entrant("u3"), Entrant("u7", weight=2)])


@pytest.mark.parametrize("member", ["u\t7", "u7\n", ""])
def test_a_member_id_that_could_forge_a_list_line_is_refused(member: str) -> None:
    with pytest.raises(ValueError, match="without tab or newline"):
        Entrant(member)


@pytest.mark.parametrize("weight", [0, -1, True])
def test_a_weight_must_be_a_whole_number_of_tickets(weight: int) -> None:
    with pytest.raises(ValueError, match="'u7': the weight"):
        Entrant("u7", weight=weight)


# The draw


def test_the_golden_draw_gives_these_exact_winners() -> None:
    assert draw_winners(ENTRANTS, k=3, seed=SEED) == GOLDEN_WINNERS


def test_a_key_is_minus_ln_of_the_hmac_read_as_a_fraction_over_the_weight() -> None:
    digest = hmac.new(SEED, f"{GOLDEN_LIST_HASH}\n小芳".encode(), hashlib.sha256).digest()
    x = int.from_bytes(digest, "big")
    # A float is good enough to cross-check the 80-digit key from the side.
    approximate = -math.log((x + 1) / (2**256 + 1)) / 2

    assert ticket(SEED, list_hash=GOLDEN_LIST_HASH, member="小芳") == x
    assert float(Decimal(GOLDEN_WINNERS[1].key)) == pytest.approx(approximate, rel=1e-12)


def test_the_order_entrants_arrive_in_does_not_matter() -> None:
    assert draw_winners(reversed(ENTRANTS), k=3, seed=SEED) == GOLDEN_WINNERS
    assert draw_winners(sorted(ENTRANTS, key=lambda e: e.weight), k=3, seed=SEED) == GOLDEN_WINNERS


def test_changing_one_entrant_redraws_everyone() -> None:
    changed = (*ENTRANTS[:-1], Entrant("u9", weight=2))
    before = {w.member: w.key for w in draw_winners(ENTRANTS, k=7, seed=SEED)}
    after = {w.member: w.key for w in draw_winners(changed, k=7, seed=SEED)}

    # The list hash is in every entrant's HMAC message, so no key survives the change.
    assert all(before[member] != after[member] for member in before)
    assert [w.member for w in draw_winners(changed, k=3, seed=SEED)] == ["u12", "u7", "u9"]


def test_another_seed_gives_another_draw() -> None:
    winners = draw_winners(ENTRANTS, k=3, seed=bytes.fromhex("00" * 32))

    assert [w.member for w in winners] == ["u7", "小芳", "u5"]


def test_with_equal_weights_the_largest_hmac_wins() -> None:
    entrants = [Entrant(f"m{n}") for n in range(25)]
    list_hash = entrant_list_hash(entrants)
    for n in range(20):
        seed = derived_seed(n)
        by_ticket = sorted(
            entrants, key=lambda e: ticket(seed, list_hash=list_hash, member=e.member), reverse=True
        )

        drawn = draw_winners(entrants, k=25, seed=seed)

        assert [w.member for w in drawn] == [e.member for e in by_ticket]


def test_k_beyond_the_entrant_count_ranks_everyone() -> None:
    drawn = draw_winners(ENTRANTS, k=100, seed=SEED)

    assert [w.rank for w in drawn] == [1, 2, 3, 4, 5, 6, 7]
    assert drawn[:3] == GOLDEN_WINNERS


@pytest.mark.parametrize("k", [0, -1])
def test_a_draw_of_no_winners_is_refused(k: int) -> None:
    with pytest.raises(ValueError, match="k must be 1 or more"):
        draw_winners(ENTRANTS, k=k, seed=SEED)


def chi_square(observed: Counter[str], expected: dict[str, Fraction]) -> Fraction:
    return sum(((observed[m] - expected[m]) ** 2 / expected[m] for m in expected), Fraction(0))


def test_over_3000_draws_wins_follow_weights_1_2_3_4() -> None:
    entrants = [Entrant("a", 1), Entrant("b", 2), Entrant("c", 3), Entrant("d", 4)]
    draws = 3000
    wins = Counter(
        draw_winners(entrants, k=1, seed=derived_seed(n))[0].member for n in range(draws)
    )
    weighted = {e.member: Fraction(draws * e.weight, 10) for e in entrants}
    uniform = {e.member: Fraction(draws, 4) for e in entrants}
    # Chi-square with 3 degrees of freedom exceeds 16.266 with probability 0.001.
    critical = Fraction(16266, 1000)

    assert wins == {"a": 290, "b": 578, "c": 937, "d": 1195}
    assert chi_square(wins, weighted) < critical
    # The same test would catch a draw that ignored the weights.
    assert chi_square(wins, uniform) > critical


# Prizes and the published record


def test_prizes_go_out_in_order_of_rank() -> None:
    winners = draw_winners(ENTRANTS, k=3, seed=SEED)

    assert assign_prizes(winners, PRIZES) == (
        Award(rank=1, member="u9", prize="一等奖 free garment"),
        Award(rank=2, member="小芳", prize="¥100 coupon"),
        Award(rank=3, member="u5", prize="¥100 coupon"),
    )


def test_with_fewer_entrants_than_prizes_the_last_prizes_stay_undrawn() -> None:
    result = draw(
        [Entrant("u7"), Entrant("u3")],
        prizes=[Prize("garment", 1), Prize("coupon", 5)],
        seed=SEED,
        rules=RULES,
        freeze_at=FREEZE_AT,
    )

    assert [(a.rank, a.prize) for a in result.awards] == [(1, "garment"), (2, "coupon")]
    assert result.entrant_count == 2


def test_a_draw_needs_a_prize() -> None:
    with pytest.raises(ValueError, match="at least one prize"):
        draw(ENTRANTS, prizes=[], seed=SEED, rules=RULES, freeze_at=FREEZE_AT)


def test_the_published_record_carries_everything_needed_to_check_the_draw() -> None:
    assert golden_record() == {
        "scheme": "shequn-draw/1",
        "commitment": GOLDEN_COMMITMENT,
        "rules": RULES,
        "freeze_at": "2020-11-08T20:00:00+08:00",
        "seed": "5eed" * 16,
        "entrants": [
            {"member": "u12", "weight": 3},
            {"member": "u3", "weight": 1},
            {"member": "u42", "weight": 1},
            {"member": "u5", "weight": 4},
            {"member": "u7", "weight": 1},
            {"member": "u9", "weight": 1},
            {"member": "小芳", "weight": 2},
        ],
        "entrant_list_hash": GOLDEN_LIST_HASH,
        "prizes": [
            {"name": "一等奖 free garment", "count": 1},
            {"name": "¥100 coupon", "count": 2},
        ],
        "winners": [
            {"rank": 1, "member": "u9", "prize": "一等奖 free garment"},
            {"rank": 2, "member": "小芳", "prize": "¥100 coupon"},
            {"rank": 3, "member": "u5", "prize": "¥100 coupon"},
        ],
    }


# Verification


def test_an_untouched_record_verifies() -> None:
    verification = verify(json.loads(json.dumps(golden_record())))

    assert verification.ok
    assert verification.problems == ()


def tampered(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    record = copy.deepcopy(golden_record())
    change(record)
    return record


def _set(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda record: record.__setitem__(field, value)


TAMPERING: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "an entrant added": (
        lambda r: r["entrants"].append({"member": "u99", "weight": 1}),
        "entrant_list_hash: published 9cab9e2df8dd… but the entrants hash to",
    ),
    "an entrant removed": (
        lambda r: r["entrants"].pop(0),
        "entrant_list_hash: published 9cab9e2df8dd… but the entrants hash to",
    ),
    "a weight changed": (
        lambda r: r["entrants"][0].__setitem__("weight", 30),
        "entrant_list_hash: published 9cab9e2df8dd… but the entrants hash to",
    ),
    "the list hash replaced": (
        _set("entrant_list_hash", "ab" * 32),
        "entrant_list_hash: published abababababab… but the entrants hash to 9cab9e2df8dd…",
    ),
    "the seed replaced": (
        _set("seed", "00" * 32),
        "commitment: published 27d84fd097c3… but the seed, rules and freeze_at commit to",
    ),
    "the rules edited": (
        _set("rules", RULES.replace("two", "one")),
        "commitment: published 27d84fd097c3… but the seed, rules and freeze_at commit to",
    ),
    "the freeze moved": (
        _set("freeze_at", "2020-11-08T20:25:00+08:00"),
        "commitment: published 27d84fd097c3… but the seed, rules and freeze_at commit to",
    ),
    "the freeze respelled in UTC": (
        _set("freeze_at", "2020-11-08T12:00:00+00:00"),
        "commitment: published 27d84fd097c3… but the seed, rules and freeze_at commit to",
    ),
    "the commitment replaced": (
        _set("commitment", "cd" * 32),
        "commitment: published cdcdcdcdcdcd… but the seed, rules and freeze_at commit to 27d84fd097c3…",
    ),
    "a winner swapped": (
        lambda r: r["winners"][1].__setitem__("member", "u7"),
        "winners: rank 2 published u7 but the draw gives 小芳",
    ),
    "a prize swapped": (
        lambda r: r["winners"][0].__setitem__("prize", "¥100 coupon"),
        "winners: rank 1 published prize '¥100 coupon' but the draw gives '一等奖 free garment'",
    ),
    "a winner left out": (
        lambda r: r["winners"].pop(),
        "winners: rank 3 published nobody but the draw gives u5",
    ),
    "a winner made up": (
        lambda r: r["winners"].append({"rank": 4, "member": "u3", "prize": "¥100 coupon"}),
        "winners: rank 4 published u3 but the draw gives nobody",
    ),
    "a prize count raised": (
        lambda r: r["prizes"][1].__setitem__("count", 3),
        "winners: rank 4 published nobody but the draw gives u3",
    ),
}


@pytest.mark.parametrize("what", TAMPERING)
def test_tampering_is_detected_and_named(what: str) -> None:
    change, problem = TAMPERING[what]

    verification = verify(tampered(change))

    assert not verification.ok
    assert any(found.startswith(problem) for found in verification.problems), verification.problems


def test_a_rewritten_record_shows_against_what_was_announced_in_the_group() -> None:
    verification = verify(
        golden_record(), announced_commitment="ab" * 32, announced_list_hash="cd" * 32
    )

    assert verification.problems == (
        "commitment: announced abababababab… before entries closed but published 27d84fd097c3…",
        "entrant_list_hash: announced cdcdcdcdcdcd… but the entrants hash to 9cab9e2df8dd…",
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda r: r.pop("seed"), "malformed: seed is missing or not a string"),
        (_set("seed", "5eed"), "malformed: the seed must be at least 16 random bytes"),
        (_set("freeze_at", "2020-11-08T20:00:00"), "malformed: freeze_at must carry a UTC offset"),
        (
            lambda r: r["entrants"].append({"member": "u3", "weight": 1}),
            "malformed: entrant 'u3' appears twice",
        ),
        (_set("prizes", []), "malformed: prizes is empty"),
        (_set("scheme", "shequn-draw/9"), "scheme: published 'shequn-draw/9', not shequn-draw/1"),
    ],
)
def test_a_record_that_cannot_be_checked_says_why(
    change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    verification = verify(tampered(change))

    assert not verification.ok
    assert verification.problems[0].startswith(problem)


# The public recipe


def doc_block(language: str) -> str:
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", DOC.read_text("utf-8"), re.M | re.S)
    assert len(blocks) == 1, f"the page must hold exactly one {language} block"
    return str(blocks[0])


def run_doc_script(tmp_path: Path, record: dict[str, Any], *, as_file: bool) -> tuple[int, str]:
    script = tmp_path / "verify_draw.py"
    script.write_text(doc_block("python"), "utf-8")
    text = json.dumps(record, ensure_ascii=False, indent=2)
    args = [sys.executable, str(script)]
    if as_file:
        (tmp_path / "record.json").write_text(text, "utf-8")
        args.append(str(tmp_path / "record.json"))
    done = subprocess.run(
        args,
        input=None if as_file else text.encode(),
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=30,
        check=False,
    )
    assert done.stderr == b""
    return done.returncode, done.stdout.decode()


def printed_winners(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.match(r"\d+\t", line)]


def test_the_documented_example_is_the_golden_draw_and_verifies() -> None:
    example = json.loads(doc_block("json"))

    assert example == golden_record()
    assert verify(example).ok


def test_the_documented_script_recomputes_the_golden_winners(tmp_path: Path) -> None:
    status, output = run_doc_script(tmp_path, golden_record(), as_file=False)

    assert status == 0
    assert printed_winners(output) == [
        "1\tu9\t一等奖 free garment",
        "2\t小芳\t¥100 coupon",
        "3\tu5\t¥100 coupon",
    ]
    assert output.splitlines()[-1] == "VERIFIED"


def test_the_documented_script_agrees_with_a_larger_weighted_draw(tmp_path: Path) -> None:
    entrants = [Entrant(f"用户{n}" if n % 5 == 0 else f"u{n}", weight=1 + n % 4) for n in range(60)]
    prizes = [Prize("garment", 2), Prize("coupon", 10), Prize("sticker", 5)]
    result = draw(entrants, prizes=prizes, seed=derived_seed(7), rules="r", freeze_at=FREEZE_AT)

    status, output = run_doc_script(tmp_path, result.published(), as_file=True)

    assert status == 0
    assert printed_winners(output) == [f"{a.rank}\t{a.member}\t{a.prize}" for a in result.awards]


def test_the_documented_script_refuses_a_tampered_record(tmp_path: Path) -> None:
    record = tampered(lambda r: r["winners"][1].__setitem__("member", "u7"))

    status, output = run_doc_script(tmp_path, record, as_file=False)

    assert status == 1
    assert "PROBLEM winners:" in output
    assert output.splitlines()[-1] == "NOT VERIFIED"


@pytest.mark.parametrize("module", [proof, rules])
def test_the_rules_touch_no_io_no_clock_and_no_random_module(module: Any) -> None:
    tree = ast.parse(Path(module.__file__).read_text("utf-8"))
    imported = {
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names]
        )
    }

    assert imported <= {
        "collections.abc", "dataclasses", "datetime", "decimal", "enum", "hashlib", "heapq",
        "hmac", "itertools", "json", "math", "operator", "typing", "unicodedata",
        "shequn.lottery.proof",
    }  # fmt: skip


# The win limit: one person wins at most once in 3 days, across the org's groups


def evening(day: int) -> datetime:
    return datetime(2020, 11, day, 20, 30, tzinfo=SHANGHAI)


def test_a_winner_in_group_a_on_day_1_sits_out_group_b_on_day_3_and_returns_on_day_4() -> None:
    # Group A's 20:30 draw on day 1; the record does not say which group: wins count org-wide.
    past = [WinRecord("u7", won_at=evening(1))]

    assert not within_win_limit("u7", at=evening(3), past_wins=past)
    assert within_win_limit("u7", at=evening(4), past_wins=past)


def test_a_win_exactly_three_days_ago_has_left_the_window_and_a_second_less_has_not() -> None:
    past = [WinRecord("u7", won_at=evening(1))]

    assert within_win_limit("u7", at=evening(1) + timedelta(days=3), past_wins=past)
    assert not within_win_limit("u7", at=evening(1) + timedelta(days=3, seconds=-1), past_wins=past)


def test_the_window_counts_wins_recorded_in_any_zone() -> None:
    past = [WinRecord("u7", won_at=evening(1).astimezone(UTC))]

    assert not within_win_limit("u7", at=evening(3), past_wins=past)
    assert within_win_limit("u7", at=evening(4), past_wins=past)


def test_the_fourth_evening_stays_eligible_across_a_daylight_saving_change() -> None:
    new_york = ZoneInfo("America/New_York")
    # Clocks went forward on 8 March 2020: from day 1 to day 4 at 20:30 is only 71 hours.
    won = datetime(2020, 3, 6, 20, 30, tzinfo=new_york)

    at = datetime(2020, 3, 9, 20, 30, tzinfo=new_york)

    assert within_win_limit("u7", at=at, past_wins=[WinRecord("u7", won_at=won)])
    assert not within_win_limit(
        "u7", at=at - timedelta(minutes=1), past_wins=[WinRecord("u7", won_at=won)]
    )


def test_a_win_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="won_at"):
        WinRecord("u7", won_at=datetime(2020, 11, 1, 20, 30))


def test_other_members_wins_and_later_wins_do_not_count() -> None:
    past = [WinRecord("u3", won_at=evening(2)), WinRecord("u7", won_at=evening(5))]

    assert within_win_limit("u7", at=evening(3), past_wins=past)


def test_a_limit_of_two_wins_allows_a_second_one() -> None:
    past = [WinRecord("u7", won_at=evening(1))]

    assert within_win_limit("u7", at=evening(2), past_wins=past, max_wins=2)
    assert not within_win_limit(
        "u7", at=evening(3), past_wins=[*past, WinRecord("u7", evening(2))], max_wins=2
    )


# Who may enter


ANYONE = Candidate(
    member="u7",
    is_member=True,
    joined_at=datetime(2020, 11, 6, 10, 0, tzinfo=SHANGHAI),
    is_staff=False,
    is_flagged=False,
    points=120,
    said_keyword=True,
    signed_in=True,
    active_today=True,
)
STRICT = Eligibility(
    joined_before=datetime(2020, 11, 7, 0, 0, tzinfo=SHANGHAI),
    min_points=100,
    require_keyword=True,
    require_sign_in=True,
    require_active_today=True,
)


def excluded_for(candidate: Candidate, past: list[WinRecord] | None = None) -> str | None:
    return exclusion_for(candidate, eligibility=STRICT, at=evening(8), past_wins=past or [])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"is_member": False}, "not_member"),
        ({"is_staff": True}, "staff"),
        ({"is_flagged": True}, "flagged"),
        ({"joined_at": datetime(2020, 11, 7, 0, 0, tzinfo=SHANGHAI)}, "joined_after_cutoff"),
        ({"points": 99}, "below_min_points"),
        ({"said_keyword": False}, "no_keyword"),
        ({"signed_in": False}, "not_signed_in"),
        ({"active_today": False}, "not_active_today"),
    ],
)
def test_each_unmet_rule_excludes_with_its_reason(change: dict[str, Any], reason: str) -> None:
    assert excluded_for(ANYONE) is None
    assert excluded_for(replace(ANYONE, **change)) == reason


def test_a_recent_winner_is_excluded_as_won_recently() -> None:
    assert excluded_for(ANYONE, [WinRecord("u7", evening(6))]) == "won_recently"


def test_a_member_whose_join_predates_the_records_is_not_a_newcomer() -> None:
    assert excluded_for(replace(ANYONE, joined_at=None)) is None


def test_with_relaxed_rules_staff_flagged_and_idle_members_may_enter() -> None:
    relaxed = Eligibility(exclude_staff=False, exclude_flagged=False)
    idle = replace(
        ANYONE, is_staff=True, is_flagged=True, points=0, said_keyword=False, signed_in=False
    )

    assert exclusion_for(idle, eligibility=relaxed, at=evening(8), past_wins=[]) is None


def test_only_the_first_failing_rule_is_given_in_the_documented_order() -> None:
    everything_wrong = replace(ANYONE, is_staff=True, is_flagged=True, points=0, signed_in=False)

    assert excluded_for(everything_wrong, [WinRecord("u7", evening(7))]) == "staff"
    assert [reason.value for reason in ExclusionReason] == [
        "not_member", "staff", "flagged", "joined_after_cutoff", "won_recently",
        "below_min_points", "no_keyword", "not_signed_in", "not_active_today",
    ]  # fmt: skip


def test_screening_keeps_the_eligible_as_entrants_and_gives_each_other_a_reason() -> None:
    candidates = [
        ANYONE,
        replace(ANYONE, member="staff-1", is_staff=True),
        replace(ANYONE, member="u3"),
        replace(ANYONE, member="u5", said_keyword=False),
    ]

    screening = eligible_entrants(
        candidates, eligibility=STRICT, at=evening(8), past_wins=[WinRecord("u3", evening(7))]
    )

    assert screening.entrants == (Entrant("u7"),)
    assert screening.exclusions == (
        Exclusion("staff-1", ExclusionReason.STAFF),
        Exclusion("u3", ExclusionReason.WON_RECENTLY),
        Exclusion("u5", ExclusionReason.NO_KEYWORD),
    )


def test_screening_refuses_a_candidate_listed_twice() -> None:
    with pytest.raises(ValueError, match="'u7' appears twice"):
        eligible_entrants([ANYONE, ANYONE], eligibility=STRICT, at=evening(8), past_wins=[])


def test_the_lottery_starts_once_the_group_reaches_50_members() -> None:
    assert not has_started(49)
    assert has_started(50)
    assert has_started(12, min_members=10)


# Nth like wins

DEADLINE = datetime(2020, 11, 8, 21, 0, tzinfo=SHANGHAI)


def like(member: str, second: int, arrival: int, *, removed: bool = False) -> Reaction:
    at = datetime(2020, 11, 8, 20, 0, second, tzinfo=SHANGHAI)
    return Reaction(member=member, at=at, arrival=arrival, removed=removed)


LIKES = [
    like("u1", 0, 1),
    like("staff-1", 1, 2),
    like("u2", 2, 3),
    like("u1", 3, 4),  # a second like by u1 takes no second place
    like("u3", 4, 6),
    like("u4", 4, 5),  # same second as u3 but delivered first
    like("u5", 5, 7, removed=True),  # taken back: u5's place is their later like
    like("u6", 6, 8),
    like("u7", 7, 9),
    like("u5", 9, 11),
    Reaction("u8", DEADLINE, arrival=12, removed=False),  # exactly at the deadline counts
    Reaction("u9", DEADLINE + timedelta(seconds=1), arrival=13, removed=False),
]
# Places: u1 1, u2 2, u4 3, u3 4, u6 5, u7 6, u5 7, u8 8.


def nth(n: int, *, every: bool = False, likes: list[Reaction] = LIKES) -> list[tuple[int, str]]:
    wins = nth_like_winners(
        likes, n=n, every=every, deadline=DEADLINE, excluded=frozenset({"staff-1"})
    )
    return [(win.position, win.member) for win in wins]


def test_the_third_like_wins_counting_each_member_once_and_skipping_staff() -> None:
    assert nth(3) == [(3, "u4")]


def test_a_tie_in_time_goes_to_the_like_delivered_first() -> None:
    assert nth(4) == [(4, "u3")]


def test_a_like_taken_back_gives_way_to_the_members_next_like() -> None:
    assert nth(7) == [(7, "u5")]


def test_every_third_like_wins_up_to_the_deadline() -> None:
    assert nth(3, every=True) == [(3, "u4"), (6, "u7")]
    assert nth(4, every=True) == [(4, "u3"), (8, "u8")]


def test_the_order_likes_are_listed_in_does_not_matter() -> None:
    assert nth(3, every=True, likes=LIKES[::-1]) == [(3, "u4"), (6, "u7")]


def test_nobody_wins_when_fewer_members_liked_than_n() -> None:
    assert nth(9) == []


def test_a_win_says_when_the_winning_like_was_given() -> None:
    wins = nth_like_winners(LIKES, n=2, deadline=DEADLINE)

    assert wins == (NthWin(position=2, member="staff-1", at=like("staff-1", 1, 2).at),)


def test_n_must_be_a_position() -> None:
    with pytest.raises(ValueError, match="n must be 1 or more"):
        nth_like_winners(LIKES, n=0, deadline=DEADLINE)
