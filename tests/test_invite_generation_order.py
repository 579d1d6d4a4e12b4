"""The invite tree kept at join is exact whatever the arrival order, the batching, when codes are
created, a rebuild or an upgrade: the report over it says what the invite tree says."""

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from shequn.config import Settings
from shequn.engine.rebuild import rebuild
from shequn.invite.models import TreeNodeRecord
from shequn.invite.service import create_invite_code, summarize_fission_of
from shequn.kit.time import utc_now
from shequn.wiring import Shequn, open_shequn
from tests.conftest import downgraded, empty_store, ingest, state_of
from tests.test_fission_report import T0, assert_the_report_is_the_trees, joined

MEMBERS = ["a", "b", "c", "d", "e", "f"]
CODES = {"c-a": ("a", "poster"), "c-d": ("d", "moments"), "c-s": ("staff", "kol:amy")}
WINDOWS: list[dict[str, Any]] = [
    {},
    {"group": "g1"},
    {"since": T0 + timedelta(minutes=20)},
    {"group": "g2", "until": T0 + timedelta(minutes=40)},
]


def create_codes(shequn: Shequn, codes: list[str]) -> None:
    with shequn.sessions.begin() as session:
        for code in codes:
            owner, channel = CODES[code]
            create_invite_code(session, "demo", owner=owner, group=None, channel=channel,
                               code=code, now=utc_now())  # fmt: skip


def tree(shequn: Shequn) -> dict[str, tuple[str | None, int, str]]:
    """Each member's credited inviter, generation and channel, as kept."""
    with shequn.sessions() as session:
        return {
            member: (inviter if is_credited else None, generation, channel)
            for member, inviter, is_credited, generation, channel in session.execute(
                select(
                    TreeNodeRecord.member, TreeNodeRecord.inviter, TreeNodeRecord.is_credited,
                    TreeNodeRecord.generation, TreeNodeRecord.channel,
                ).where(TreeNodeRecord.org == "demo")
            )
        }  # fmt: skip


@st.composite
def join_logs(draw: st.DrawFn) -> list[dict[str, Any]]:
    log = []
    for _ in range(draw(st.integers(min_value=1, max_value=14))):
        member = draw(st.sampled_from(MEMBERS))
        log.append(
            joined(
                member, draw(st.integers(min_value=0, max_value=59)),
                group=draw(st.sampled_from(["g1", "g2"])),
                inviter=draw(st.sampled_from([None, "staff", *MEMBERS])),  # self-invites too
                code=draw(st.sampled_from([None, "lost", *CODES])),
            )
        )  # fmt: skip
    # One event per id: a re-delivery is dropped at intake before any projection sees it.
    return list({entry["id"]: entry for entry in log}.values())


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(log=join_logs(), data=st.data())
def test_the_report_is_the_invite_trees_for_any_arrival_order_batching_and_code_creation(
    shequn: Shequn, log: list[dict[str, Any]], data: st.DataObject
) -> None:
    empty_store(shequn)
    arrival = data.draw(st.permutations(log))
    early = data.draw(st.lists(st.sampled_from(sorted(CODES)), unique=True))
    cut = data.draw(st.integers(min_value=0, max_value=len(arrival)))
    batch_size = data.draw(st.integers(min_value=1, max_value=5))

    # Some codes exist before the joins through them arrive, the others are created midway.
    create_codes(shequn, early)
    ingest(shequn, arrival[:cut], batch_size=batch_size)
    create_codes(shequn, [code for code in sorted(CODES) if code not in early])
    ingest(shequn, arrival[cut:], batch_size=batch_size)

    assert_the_report_is_the_trees(shequn, WINDOWS)
    live = state_of(shequn)
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    assert state_of(shequn) == live


def test_an_inviters_late_first_join_moves_the_branch_below_them_down(shequn: Shequn) -> None:
    ingest(shequn, [joined("b", 20, inviter="a"), joined("c", 30, inviter="b")])
    # a never joined (yet): credited like staff, at the root of the branch.
    assert tree(shequn) == {"b": ("a", 1, "unknown"), "c": ("b", 2, "unknown")}

    ingest(shequn, [joined("s", 0), joined("a", 10, inviter="s")])

    assert tree(shequn) == {
        "s": (None, 0, "unknown"), "a": ("s", 1, "unknown"), "b": ("a", 2, "unknown"),
        "c": ("b", 3, "unknown"),
    }  # fmt: skip
    assert_the_report_is_the_trees(shequn, WINDOWS)


def test_an_inviter_who_first_joins_after_their_invitee_loses_the_credit(shequn: Shequn) -> None:
    ingest(shequn, [joined("b", 20, inviter="a"), joined("c", 30, inviter="b")])

    ingest(shequn, [joined("a", 40)])

    # b came in before a could have brought them: the branch starts again at b.
    assert tree(shequn) == {
        "a": (None, 0, "unknown"), "b": (None, 0, "unknown"), "c": ("b", 1, "unknown"),
    }  # fmt: skip
    assert_the_report_is_the_trees(shequn, WINDOWS)


def test_an_earlier_join_arriving_late_becomes_the_first_and_replaces_its_inviter(
    shequn: Shequn,
) -> None:
    ingest(shequn, [joined("a", 0), joined("s", 5), joined("b", 30, group="g2", inviter="a")])

    ingest(shequn, [joined("b", 10, group="g1", inviter="s")])

    assert tree(shequn)["b"] == ("s", 1, "unknown")
    with shequn.sessions() as session:
        assert summarize_fission_of(session, "demo", group="g1").members == 3
        assert summarize_fission_of(session, "demo", group="g2").members == 0


def test_a_code_created_after_joins_through_it_credits_its_owner_through_its_channel(
    shequn: Shequn,
) -> None:
    ingest(shequn, [joined("d", 0), joined("e", 10, code="c-d"), joined("f", 20, inviter="e")])
    assert tree(shequn)["e"] == (None, 0, "unknown")

    create_codes(shequn, ["c-d"])

    assert tree(shequn) == {
        "d": (None, 0, "unknown"), "e": ("d", 1, "moments"), "f": ("e", 2, "unknown"),
    }  # fmt: skip
    assert_the_report_is_the_trees(shequn, WINDOWS)


def test_a_store_upgraded_from_before_the_tree_has_it_planted_from_its_members(
    shequn: Shequn, settings: Settings
) -> None:
    create_codes(shequn, ["c-a"])
    ingest(shequn, [
        joined("a", 0), joined("b", 10, code="c-a"), joined("c", 20, inviter="b"),
        joined("d", 25, inviter="d"), joined("e", 30, group="g2", inviter="f"),
        joined("f", 40, inviter="staff"), joined("c", 50, group="g2", inviter="a"),
    ])  # fmt: skip
    create_codes(shequn, ["c-d"])
    live = state_of(shequn)
    assert len(live["invite_tree_node"]) == 6
    # The store as the release before the tree left it.
    downgraded(shequn, "0021")

    reopened = open_shequn(settings)

    try:
        assert state_of(reopened) == live
        assert_the_report_is_the_trees(reopened, WINDOWS)
    finally:
        reopened.close()
