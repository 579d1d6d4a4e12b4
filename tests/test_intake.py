"""Intake and state: stored once, applied in order, equal to a rebuild — on SQLite and PostgreSQL."""

import json

import pytest
from sqlalchemy import func, select

from shequn.commerce.models import Order, Refund
from shequn.engine import rebuild as rebuild_module
from shequn.engine.models import EventRecord, IntakeBatch
from shequn.engine.rebuild import rebuild
from shequn.group.models import Group, Staff, Store
from shequn.kit.time import utc_now
from shequn.member.models import GroupMember, Member, MemberActivity, Membership
from shequn.wiring import Shequn
from tests.conftest import event, ingest, state_of


def group_created(capacity: int = 500) -> dict[str, object]:
    return event(
        "g-1",
        "group.upserted",
        "2020-11-07T09:00:00",
        {
            "group": "new-3",
            "name": "新3群",
            "capacity": capacity,
            "store": "s-1",
            "owner": "staff-1",
            "tags": ["new"],
        },
    )


def joins(count: int, *, inviter: str = "A", start_minute: int = 0) -> list[dict[str, object]]:
    return [
        event(
            f"j-{n}",
            "member.joined",
            f"2020-11-07T10:{start_minute + n:02d}:00",
            {
                "group": "new-3",
                "member": f"u{n}",
                "inviter": inviter,
                "via": {"kind": "invite_link", "code": f"inv-{inviter}"},
            },
        )
        for n in range(count)
    ]


def leaves(members: list[int], *, minute: int = 30) -> list[dict[str, object]]:
    return [
        event(
            f"l-{n}",
            "member.left",
            f"2020-11-07T11:{minute:02d}:{n:02d}",
            {"group": "new-3", "member": f"u{n}", "reason": "quit"},
        )
        for n in members
    ]


def rebuilt(shequn: Shequn) -> dict[str, list[tuple[object, ...]]]:
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    return state_of(shequn)


def test_a_pulls_10_in_and_3_leave_so_the_group_has_7(shequn: Shequn) -> None:
    summary = ingest(shequn, [group_created(), *joins(10), *leaves([0, 1, 2])])
    assert (summary.accepted, summary.duplicates, summary.rejected) == (14, 0, [])
    with shequn.sessions() as session:
        group = session.get(Group, ("demo", "new-3"))
        assert group is not None
        assert group.member_count == 7
        stints = session.scalars(select(Membership).order_by(Membership.member_id)).all()
        assert [(s.member_id, s.inviter, s.left_reason) for s in stints][:4] == [
            ("u0", "A", "quit"),
            ("u1", "A", "quit"),
            ("u2", "A", "quit"),
            ("u3", "A", None),
        ]


def test_ingesting_the_same_file_twice_counts_all_as_duplicates_and_changes_nothing(
    shequn: Shequn,
) -> None:
    log = [group_created(), *joins(5), *leaves([1])]
    ingest(shequn, log)
    before = state_of(shequn)
    again = ingest(shequn, log)
    assert (again.accepted, again.duplicates) == (0, 7)
    assert state_of(shequn) == before
    with shequn.sessions() as session:
        assert session.scalar(select(func.count()).select_from(EventRecord)) == 7


def test_a_redelivery_inside_one_batch_is_a_duplicate(shequn: Shequn) -> None:
    summary = ingest(shequn, [*joins(1), *joins(1)], batch_size=10)
    assert (summary.accepted, summary.duplicates) == (1, 1)


def test_the_same_id_from_another_source_is_another_event(shequn: Shequn) -> None:
    first = event(
        "42",
        "message.posted",
        "2020-11-07T10:00:00",
        {"group": "new-3", "member": "u1", "message": "m1", "kind": "text"},
    )
    second = {**first, "source": "wecom"}
    assert ingest(shequn, [first, second]).accepted == 2


def test_a_bad_event_is_rejected_and_the_rest_of_the_batch_goes_in(shequn: Shequn) -> None:
    bad_time = {**joins(1)[0], "id": "bad-1", "at": "2020-11-07T10:00:00"}
    summary = ingest(
        shequn, [group_created(), bad_time, b"{not json", b"\xff\xfe", *joins(2)], batch_size=10
    )
    assert summary.accepted == 3
    assert [r.as_json() for r in summary.rejected] == [
        {
            "id": "bad-1",
            "line": 2,
            "error": "at: '2020-11-07T10:00:00' has no UTC offset (write it like 2020-11-07T20:31:05+08:00)",
        },
        {
            "id": None,
            "line": 3,
            "error": "malformed JSON: Expecting property name enclosed in double quotes at column 2",
        },
        {"id": None, "line": 4, "error": "invalid UTF-8 at byte 0"},
    ]


def test_a_rejected_event_changes_nothing_stored(shequn: Shequn) -> None:
    ingest(shequn, [group_created()])
    before = state_of(shequn)
    broken = event(
        "g-2",
        "group.upserted",
        "2020-11-08T09:00:00",
        {"group": "new-3", "name": "renamed", "capacity": -5},
    )
    summary = ingest(shequn, [broken])
    assert summary.rejected[0].error.startswith("data.capacity: Input should be greater than 0")
    assert state_of(shequn) == before


def test_one_commit_per_batch(shequn: Shequn) -> None:
    ingest(shequn, joins(10), batch_size=4)
    with shequn.sessions() as session:
        assert [
            b.accepted for b in session.scalars(select(IntakeBatch).order_by(IntakeBatch.id))
        ] == [4, 4, 2]


def test_events_of_a_group_apply_in_order_of_at_not_of_arrival(shequn: Shequn) -> None:
    # The platform delivered the leave before the join; by `at` the member joined, then left.
    join = joins(1)[0]
    leave = event(
        "l-0",
        "member.left",
        "2020-11-07T12:00:00",
        {"group": "new-3", "member": "u0", "reason": "kicked", "by": "staff-1"},
    )
    ingest(shequn, [leave, join], batch_size=10)
    with shequn.sessions() as session:
        stint = session.scalars(select(Membership)).one()
        assert (stint.left_reason, stint.left_by) == ("kicked", "staff-1")
        assert session.get(GroupMember, ("demo", "new-3", "u0")).is_member is False  # type: ignore[union-attr]


def test_a_late_event_in_a_later_batch_gives_the_state_a_rebuild_gives(shequn: Shequn) -> None:
    join = joins(1)[0]
    rejoin = event(
        "j-again",
        "member.joined",
        "2020-11-07T13:00:00",
        {"group": "new-3", "member": "u0", "inviter": "B"},
    )
    late_leave = event(
        "l-0",
        "member.left",
        "2020-11-07T12:00:00",
        {"group": "new-3", "member": "u0", "reason": "quit"},
    )
    ingest(shequn, [group_created(), join, rejoin])  # the rejoin is a no-op: u0 is still in
    ingest(shequn, [late_leave])  # now we learn u0 left at 12:00, so 13:00 was a real re-join
    live = state_of(shequn)
    with shequn.sessions() as session:
        stints = session.scalars(select(Membership).order_by(Membership.stint)).all()
        assert [(s.stint, s.inviter, s.left_reason) for s in stints] == [
            (1, "A", "quit"),
            (2, "B", None),
        ]
        assert session.get(Group, ("demo", "new-3")).member_count == 1  # type: ignore[union-attr]
    assert rebuilt(shequn) == live


def test_rebuild_reproduces_the_state_exactly(shequn: Shequn) -> None:
    log = [
        group_created(),
        *joins(6),
        *leaves([2, 4]),
        event(
            "u-1",
            "member.upserted",
            "2020-11-07T09:30:00",
            {
                "member": "u1",
                "nickname": "芬芬",
                "gender": "female",
                "avatar": {"flags": ["stock_photo"]},
                "channel": "poster",
            },
        ),
        event(
            "m-1",
            "message.posted",
            "2020-11-07T10:30:00",
            {"group": "new-3", "member": "u1", "message": "m1", "kind": "text", "text": "签到"},
        ),
        event(
            "r-1",
            "reaction.added",
            "2020-11-07T10:31:00",
            {"group": "new-3", "member": "u3", "message": "m1", "emoji": "👍"},
        ),
        event(
            "o-1",
            "order.paid",
            "2020-11-11T00:05:00",
            {
                "order": "o-1",
                "member": "u1",
                "group": "new-3",
                "store": "s-1",
                "staff": "staff-2",
                "items": [{"sku": "dress", "qty": 2, "unit_price": "600.00"}],
                "amount": "1100.00",
                "coupon": "no-threshold-100",
            },
            source="shop",
        ),
    ]
    ingest(shequn, log)
    live = state_of(shequn)
    assert rebuilt(shequn) == live
    assert sum(len(rows) for rows in live.values()) > 20


def test_a_rebuild_replays_a_log_longer_than_a_page_a_page_at_a_time(
    shequn: Shequn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 13 events in pages of 3: the session is emptied after each page, mid-log.
    monkeypatch.setattr(rebuild_module, "REPLAY_BATCH", 3)
    ingest(shequn, [group_created(), *joins(10), *leaves([0, 1])])
    live = state_of(shequn)
    with shequn.sessions.begin() as session:
        assert rebuild(session, shequn.registry, now=utc_now()) == 13
    assert state_of(shequn) == live


def test_the_first_join_keeps_the_first_inviter_and_channel(shequn: Shequn) -> None:
    first = event(
        "j-1",
        "member.joined",
        "2020-11-07T10:00:00",
        {
            "group": "old-1",
            "member": "u9",
            "inviter": "A",
            "via": {"kind": "qr", "code": "store-qr"},
        },
    )
    later = event(
        "j-2",
        "member.joined",
        "2020-11-08T10:00:00",
        {"group": "new-3", "member": "u9", "inviter": "B"},
    )
    # Delivered newest first: the credit still goes to the first join by time.
    ingest(shequn, [later])
    ingest(shequn, [first])
    with shequn.sessions() as session:
        member = session.get(Member, ("demo", "u9"))
        assert member is not None
        assert (
            member.first_group,
            member.first_inviter,
            member.first_via_kind,
            member.first_via_code,
        ) == ("old-1", "A", "qr", "store-qr")


def test_a_profile_update_older_than_the_current_one_is_ignored(shequn: Shequn) -> None:
    new = event(
        "p-2", "member.upserted", "2020-11-08T10:00:00", {"member": "u9", "nickname": "新名字"}
    )
    old = event(
        "p-1", "member.upserted", "2020-11-07T10:00:00", {"member": "u9", "nickname": "旧名字"}
    )
    ingest(shequn, [new])
    ingest(shequn, [old])
    with shequn.sessions() as session:
        assert session.get(Member, ("demo", "u9")).nickname == "新名字"  # type: ignore[union-attr]


def test_a_message_in_an_unknown_group_creates_the_group_on_first_sight(shequn: Shequn) -> None:
    message = event(
        "m-1",
        "message.posted",
        "2020-11-07T10:00:00",
        {"group": "wx-77", "member": "u1", "message": "m1", "kind": "image"},
        source="wecom",
    )
    ingest(shequn, [message])
    with shequn.sessions() as session:
        group = session.get(Group, ("demo", "wx-77"))
        assert group is not None
        assert (group.name, group.platform, group.capacity, group.member_count) == (
            "wx-77",
            "wecom",
            None,
            0,
        )


def test_messages_and_reactions_are_counted_per_member_and_group(shequn: Shequn) -> None:
    messages = [
        event(
            f"m-{n}",
            "message.posted",
            f"2020-11-07T10:0{n}:00",
            {"group": "new-3", "member": "u1", "message": f"m{n}", "kind": "text"},
        )
        for n in range(5)
    ]
    reactions = [
        event(
            "r-1",
            "reaction.added",
            "2020-11-07T10:10:00",
            {"group": "new-3", "member": "u1", "message": "m0"},
        ),
        event(
            "r-2",
            "reaction.added",
            "2020-11-07T10:11:00",
            {"group": "new-3", "member": "u1", "message": "m1"},
        ),
        event(
            "r-3",
            "reaction.removed",
            "2020-11-07T10:12:00",
            {"group": "new-3", "member": "u1", "message": "m1"},
        ),
    ]
    ingest(shequn, [*messages, *reactions])
    with shequn.sessions() as session:
        activity = session.get(MemberActivity, ("demo", "new-3", "u1"))
        assert activity is not None
        assert (activity.messages, activity.reactions) == (5, 1)
        assert activity.last_active_at is not None
        assert activity.last_active_at.isoformat() == "2020-11-07T02:11:00+00:00"


def test_orders_keep_exact_money_and_a_refund_may_arrive_first(shequn: Shequn) -> None:
    refund = event(
        "rf-1",
        "order.refunded",
        "2020-11-12T10:00:00",
        {"order": "o-1", "amount": "600.00"},
        source="shop",
    )
    paid = event(
        "o-1",
        "order.paid",
        "2020-11-11T00:05:00",
        {
            "order": "o-1",
            "member": "u1",
            "store": "s-2",
            "staff": "staff-2",
            "items": [{"sku": "dress", "qty": 2, "unit_price": "599.99"}],
            "amount": "1199.98",
        },
        source="shop",
    )
    ingest(shequn, [refund])
    ingest(shequn, [paid])
    with shequn.sessions() as session:
        order = session.get(Order, ("demo", "o-1"))
        assert order is not None
        assert (order.amount, order.item_count, order.items) == (
            119998,
            2,
            [{"sku": "dress", "qty": 2, "unit_price": 59999}],
        )
        assert [r.amount for r in session.scalars(select(Refund))] == [60000]
        assert session.get(Store, ("demo", "s-2")) is not None
        assert session.get(Staff, ("demo", "staff-2")) is not None


def test_the_stored_event_keeps_the_normalised_payload(shequn: Shequn) -> None:
    ingest(shequn, [group_created()])
    with shequn.sessions() as session:
        record = session.scalars(select(EventRecord)).one()
        assert record.data == {
            "group": "new-3",
            "name": "新3群",
            "capacity": 500,
            "store": "s-1",
            "owner": "staff-1",
            "tags": ["new"],
        }
        assert (record.at.isoformat(), record.offset_minutes) == ("2020-11-07T01:00:00+00:00", 480)
        json.dumps(record.data)


def test_a_member_who_leaves_and_rejoins_twice_in_one_batch_has_three_stints(
    shequn: Shequn,
) -> None:
    moves = [
        event("j1", "member.joined", "2020-11-07T10:00:00", {"group": "new-3", "member": "u1"}),
        event(
            "l1",
            "member.left",
            "2020-11-07T10:01:00",
            {"group": "new-3", "member": "u1", "reason": "quit"},
        ),
        event("j2", "member.joined", "2020-11-07T10:02:00", {"group": "new-3", "member": "u1"}),
        event(
            "l2",
            "member.left",
            "2020-11-07T10:03:00",
            {"group": "new-3", "member": "u1", "reason": "kicked"},
        ),
        event("j3", "member.joined", "2020-11-07T10:04:00", {"group": "new-3", "member": "u1"}),
    ]
    ingest(shequn, moves, batch_size=10)
    with shequn.sessions() as session:
        stints = session.scalars(select(Membership).order_by(Membership.stint)).all()
        assert [(s.stint, s.left_reason) for s in stints] == [(1, "quit"), (2, "kicked"), (3, None)]
    assert rebuilt(shequn) == state_of(shequn)


def test_a_byte_order_mark_at_the_start_of_a_file_is_tolerated(shequn: Shequn) -> None:
    first = json.dumps(group_created()).encode()
    summary = ingest(shequn, [b"\xef\xbb\xbf" + first])
    assert (summary.accepted, summary.rejected) == (1, [])
