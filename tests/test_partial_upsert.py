"""Partial upserts: a source that knows some fields sets those, and leaves the rest as they are."""

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shequn.engine.rebuild import rebuild
from shequn.group.models import Group
from shequn.kit.time import utc_now
from shequn.member.models import Member
from shequn.wiring import Shequn
from tests.conftest import empty_store, event, ingest, state_of

FULL_PROFILE = {
    "member": "u42",
    "nickname": "芬芬",
    "gender": "female",
    "signature": "每天进步一点点",
    "avatar": {"url": "https://img.example/a.jpg", "flags": ["stock_photo"]},
    "album": {"flags": ["payment_screenshots"]},
    "phone": "13800000000",
    "channel": "douban",
}


def member(shequn: Shequn, member_id: str = "u42") -> tuple[Any, ...]:
    with shequn.sessions() as session:
        row = session.get(Member, ("demo", member_id))
        assert row is not None
        return (
            row.nickname, row.gender, row.signature, row.avatar_url, row.avatar_flags,
            row.album_flags, row.phone, row.channel,
        )  # fmt: skip


def group(shequn: Shequn, group_id: str = "wrOgQh") -> tuple[Any, ...]:
    with shequn.sessions() as session:
        row = session.get(Group, ("demo", group_id))
        assert row is not None
        return (row.name, row.capacity, row.store, row.owner, row.tags)


def test_a_nickname_only_upsert_keeps_the_rest_of_the_profile(shequn: Shequn) -> None:
    ingest(
        shequn,
        [
            event("crm-1", "member.upserted", "2020-11-07T09:00:00", FULL_PROFILE, source="crm"),
            # What Telegram knows of a member: the name they show.
            event("tg-7", "member.upserted", "2020-11-07T10:00:00",
                  {"member": "u42", "nickname": "Fenfen ✨"}),
        ],
    )  # fmt: skip
    assert member(shequn) == (
        "Fenfen ✨", "female", "每天进步一点点", "https://img.example/a.jpg", ["stock_photo"],
        ["payment_screenshots"], "13800000000", "douban",
    )  # fmt: skip


def test_an_explicit_null_clears_a_field_and_an_absent_one_does_not(shequn: Shequn) -> None:
    ingest(
        shequn,
        [
            event("crm-1", "member.upserted", "2020-11-07T09:00:00", FULL_PROFILE, source="crm"),
            event("crm-2", "member.upserted", "2020-11-07T10:00:00",
                  {"member": "u42", "nickname": "芬芬", "signature": None, "avatar": None,
                   "album": {"flags": []}}, source="crm"),
        ],
    )  # fmt: skip
    assert member(shequn) == (
        "芬芬", "female", None, None, [], [], "13800000000", "douban",
    )  # fmt: skip


def test_a_late_partial_upsert_loses_to_later_ones_but_keeps_what_only_it_set(
    shequn: Shequn,
) -> None:
    # The phone arrives last but is the oldest: newer upserts win the nickname, the phone stays.
    ingest(
        shequn,
        [
            event("tg-9", "member.upserted", "2020-11-07T11:00:00",
                  {"member": "u42", "nickname": "Fenfen"}),
            event("crm-1", "member.upserted", "2020-11-07T09:00:00",
                  {"member": "u42", "nickname": "芬芬", "phone": "13800000000"}, source="crm"),
        ],
    )  # fmt: skip
    assert member(shequn) == (
        "Fenfen", "unknown", None, None, [], [], "13800000000", None,
    )  # fmt: skip


def test_a_wecom_group_upsert_keeps_the_store_capacity_and_tags_an_operator_set(
    shequn: Shequn,
) -> None:
    ingest(
        shequn,
        [
            event("op-1", "group.upserted", "2020-11-07T09:00:00",
                  {"group": "wrOgQh", "name": "老粉1群", "capacity": 500, "store": "sh-01",
                   "owner": "zhangsan", "tags": ["vip"]}, source="cli"),
            event("wecom-wrOgQh-group-1", "group.upserted", "2020-11-07T10:00:00",
                  {"group": "wrOgQh", "name": "老粉1群·双11", "owner": "lisi"}, source="wecom"),
        ],
    )  # fmt: skip
    assert group(shequn) == ("老粉1群·双11", 500, "sh-01", "lisi", ["vip"])


FIELDS: dict[str, Any] = {
    "gender": st.sampled_from(["female", "male", "unknown"]),
    "signature": st.sampled_from([None, "加油", "微商招代理"]),
    "avatar": st.sampled_from([None, {"url": "https://img.example/a.jpg"}, {"flags": ["x"]}]),
    "phone": st.sampled_from([None, "13800000000"]),
    "channel": st.sampled_from([None, "douban", "poster"]),
}
GROUP_FIELDS: dict[str, Any] = {
    "capacity": st.sampled_from([None, 200, 500]),
    "store": st.sampled_from([None, "sh-01"]),
    "owner": st.sampled_from([None, "zhangsan"]),
    "tags": st.sampled_from([[], ["vip"]]),
}


@st.composite
def upsert_logs(draw: st.DrawFn) -> list[dict[str, Any]]:
    log = []
    for n in range(draw(st.integers(min_value=1, max_value=8))):
        at = f"2020-11-07T10:{draw(st.integers(min_value=0, max_value=59)):02d}:00"
        if draw(st.booleans()):
            data = {"member": draw(st.sampled_from(["u1", "u2"])), "nickname": f"n{n}"}
            fields = FIELDS
            kind = "member.upserted"
        else:
            data = {"group": "g1", "name": f"name{n}"}
            fields = GROUP_FIELDS
            kind = "group.upserted"
        for name in draw(st.lists(st.sampled_from(sorted(fields)), unique=True)):
            data[name] = draw(fields[name])
        log.append(event(f"e{n}", kind, at, data))
    return log


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(log=upsert_logs(), data=st.data())
def test_partial_upserts_give_the_same_profiles_in_any_order_as_a_rebuild(
    shequn: Shequn, log: list[dict[str, Any]], data: st.DataObject
) -> None:
    empty_store(shequn)
    arrival = data.draw(st.permutations(log))
    cut = data.draw(st.integers(min_value=0, max_value=len(arrival)))
    ingest(shequn, arrival[:cut], batch_size=2)
    ingest(shequn, arrival[cut:], batch_size=2)
    live = state_of(shequn)
    with shequn.sessions.begin() as session:
        rebuild(session, shequn.registry, now=utc_now())
    assert state_of(shequn) == live
