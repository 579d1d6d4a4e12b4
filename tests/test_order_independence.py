"""Whatever the batches and arrival order, live state equals the state a rebuild gives."""

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shequn.engine.rebuild import rebuild
from shequn.kit.time import utc_now
from shequn.member.rules import Move, MoveKind, Stint, apply_move, fold_stints
from shequn.wiring import Shequn
from tests.conftest import empty_store, event, ingest, state_of

MEMBERS = ["u1", "u2", "u3"]
GROUPS = ["g1", "g2"]


@st.composite
def community_logs(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=25))
    log = []
    for n in range(count):
        minute = draw(st.integers(min_value=0, max_value=59))
        group = draw(st.sampled_from(GROUPS))
        member = draw(st.sampled_from(MEMBERS))
        kind = draw(st.sampled_from(["join", "leave", "message", "profile", "group"]))
        at = f"2020-11-07T10:{minute:02d}:00"
        if kind == "join":
            inviter = draw(st.sampled_from([None, *MEMBERS]))
            log.append(
                event(
                    f"e{n}",
                    "member.joined",
                    at,
                    {"group": group, "member": member, "inviter": inviter},
                )
            )
        elif kind == "leave":
            reason = draw(st.sampled_from(["quit", "kicked"]))
            log.append(
                event(
                    f"e{n}", "member.left", at, {"group": group, "member": member, "reason": reason}
                )
            )
        elif kind == "message":
            log.append(
                event(
                    f"e{n}",
                    "message.posted",
                    at,
                    {"group": group, "member": member, "message": f"m{n}", "kind": "text"},
                )
            )
        elif kind == "profile":
            log.append(
                event(f"e{n}", "member.upserted", at, {"member": member, "nickname": f"nick{n}"})
            )
        else:
            log.append(
                event(
                    f"e{n}",
                    "group.upserted",
                    at,
                    {"group": group, "name": f"name{n}", "capacity": 500},
                )
            )
    return log


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(log=community_logs(), data=st.data())
def test_live_state_equals_rebuild_for_any_arrival_order_and_batching(
    shequn: Shequn, log: list[dict[str, Any]], data: st.DataObject
) -> None:
    empty_store(shequn)
    arrival = data.draw(st.permutations(log))
    batch_size = data.draw(st.integers(min_value=1, max_value=6))
    # Deliver in several intake calls too: later calls carry events older than those applied.
    cut = data.draw(st.integers(min_value=0, max_value=len(arrival)))
    ingest(shequn, arrival[:cut], batch_size=batch_size)
    ingest(shequn, arrival[cut:], batch_size=batch_size)
    live = state_of(shequn)
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    assert state_of(shequn) == live


def test_a_repeated_join_keeps_the_first_inviter() -> None:
    join_a = Move(MoveKind.JOIN, "1", utc_now(), inviter="A")
    join_b = Move(MoveKind.JOIN, "2", utc_now(), inviter="B")
    assert [s.inviter for s in fold_stints([join_b, join_a])] == ["A"]


def test_leave_then_join_opens_a_second_stint_with_the_new_inviter() -> None:
    now = utc_now()
    stints = fold_stints(
        [
            Move(MoveKind.JOIN, "1", now, inviter="A"),
            Move(MoveKind.LEAVE, "2", now, reason="quit"),
            Move(MoveKind.JOIN, "3", now, inviter="B"),
        ]
    )
    assert [(s.number, s.inviter, s.left_reason, s.is_open) for s in stints] == [
        (1, "A", "quit", False),
        (2, "B", None, True),
    ]


def test_a_leave_of_someone_not_in_the_group_changes_nothing() -> None:
    assert apply_move((), Move(MoveKind.LEAVE, "1", utc_now(), reason="kicked")) == ()


def test_a_join_after_the_latest_stint_is_numbered_after_it() -> None:
    now = utc_now()
    fifth = Stint(
        5, now, "k5", inviter=None, via_kind=None, via_code=None, left_at=now, left_reason="quit"
    )
    assert [s.number for s in apply_move((fifth,), Move(MoveKind.JOIN, "k6", now))] == [5, 6]
