"""The fission report groups the tree kept at join, and says exactly what the invite tree says."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shequn.invite.models import InviteCodeRecord
from shequn.invite.rules import (
    FirstJoin,
    FissionSummary,
    InviteCode,
    candidate_of,
    invite_tree,
    place_first_joins,
    summarize_fission,
)
from shequn.invite.service import FissionFacts, fission_facts, summarize_fission_of
from shequn.wiring import Shequn
from tests.conftest import event, ingest

T0 = datetime(2020, 11, 7, 1, 0, tzinfo=UTC)
MEMBERS = [f"m{n}" for n in range(12)]


def tree_summary(facts: FissionFacts, chosen: set[str] | None) -> FissionSummary:
    """The report as the invite tree's rules spell it out, object by object."""
    nodes = invite_tree(facts.joins, facts.credits, codes=facts.codes)
    return summarize_fission(
        node for node in nodes.values() if chosen is None or node.member in chosen
    )


joins_strategy = st.lists(
    st.tuples(
        st.sampled_from(["k1", "k2", "k3", "k4", "k5", "k6"]),  # keys: ties included
        st.sampled_from([None, "staff", "self", *MEMBERS]),  # the platform's inviter
        st.sampled_from([None, "", "lost", "c-m1", "c-m5", "c-staff", "c-m9"]),  # the code
    ),
    min_size=12,
    max_size=12,
)
CODES = {
    f"c-{owner}": InviteCode(f"c-{owner}", owner, channel)
    for owner, channel in (("m1", "poster"), ("m5", "moments"), ("staff", "kol:amy"),
                           ("m9", "unknown"))
}  # fmt: skip


def assert_the_report_is_the_trees(shequn: Shequn, windows: Sequence[dict[str, Any]]) -> None:
    """The report over each window summarises what the invite tree walk gives its members."""
    with shequn.sessions() as session:
        facts = fission_facts(session, "demo")
        for window in windows:
            chosen = {
                join.member
                for join in facts.joins
                if join.group == window.get("group", join.group)
                and join.at >= window.get("since", join.at)
                and join.at <= window.get("until", join.at)
            }
            assert summarize_fission_of(session, "demo", **window) == tree_summary(facts, chosen)


@settings(max_examples=300, deadline=None)
@given(rows=joins_strategy, present=st.integers(0, 12))
def test_the_one_walk_over_tuples_places_every_member_where_the_invite_tree_does(
    rows: list[tuple[str, str | None, str | None]], present: int
) -> None:
    joins = sorted(
        (
            FirstJoin(member=member, group="g", key=key, at=T0,
                      inviter=member if inviter == "self" else inviter, via_code=code)
            for member, (key, inviter, code) in zip(MEMBERS[:present], rows, strict=False)
        ),
        key=lambda join: (join.key, join.member),
    )  # fmt: skip
    facts = FissionFacts(joins=joins, codes=CODES)
    tree = invite_tree(facts.joins, facts.credits, codes=CODES)

    codes = [CODES.get(j.via_code) if j.via_code else None for j in joins]
    placed = place_first_joins(
        (j.member, j.key, candidate_of(j.member, reported=j.inviter, code=code))
        # In reverse: the walk goes in order of key whatever order the joins come in.
        for j, code in reversed(list(zip(joins, codes, strict=True)))
    )

    assert {member: (inviter, generation) for member, inviter, generation in placed} == {
        node.member: (node.inviter, node.generation) for node in tree.values()
    }


def joined(member: str, minutes: int, *, group: str = "g1", inviter: str | None = None,
           code: str | None = None) -> dict[str, Any]:  # fmt: skip
    data: dict[str, Any] = {"group": group, "member": member}
    if inviter is not None:
        data["inviter"] = inviter
    if code is not None:
        data["via"] = {"kind": "invite_link", "code": code}
    at = (T0 + timedelta(minutes=minutes)).isoformat()
    return event(f"j-{member}-{group}-{minutes}", "member.joined", at, data)


def test_the_report_over_a_window_counts_whom_the_trees_window_counts(shequn: Shequn) -> None:
    with shequn.sessions.begin() as session:
        session.add_all(
            InviteCodeRecord(org="demo", code=code, owner=owner, group_id=None, channel=channel,
                             link=None, created_at=T0)
            for code, owner, channel in (("c-a", "a", "poster"), ("c-s", "staff", "moments"))
        )  # fmt: skip
    ingest(shequn, [
        joined("a", 0, group="g1"), joined("b", 10, group="g1", code="c-a"),
        joined("c", 20, group="g2", inviter="b"), joined("d", 30, group="g1", code="c-s"),
        joined("e", 40, group="g2", inviter="e"), joined("f", 50, group="g2", code="nope"),
        joined("g", 60, group="g1", inviter="c"), joined("h", 70, group="g2", inviter="z"),
    ])  # fmt: skip
    windows: list[dict[str, Any]] = [
        {},
        {"group": "g1"},
        {"group": "g2", "since": T0 + timedelta(minutes=20)},
        # Bounds are inclusive, to the microsecond.
        {"since": T0 + timedelta(minutes=10), "until": T0 + timedelta(minutes=50)},
        {"since": T0 + timedelta(minutes=10, microseconds=1)},
        {"until": T0 + timedelta(minutes=60, microseconds=-1)},
        {"group": "nowhere"},
    ]
    assert_the_report_is_the_trees(shequn, windows)
    with shequn.sessions() as session:
        assert summarize_fission_of(session, "demo").as_json() == {
            "members": 8, "credited": 5, "inviters": 5, "k_factor": 1.0, "depth": 3,
            "generations": {"0": 3, "1": 3, "2": 1, "3": 1},
            "channels": {"unknown": 6, "moments": 1, "poster": 1},
        }  # fmt: skip
