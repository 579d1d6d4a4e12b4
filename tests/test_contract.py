"""The event contract: what is accepted, and how each bad event is named and explained."""

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shequn.contract import MAX_TEXT, PAYLOADS, MessagePosted, OrderPaid
from shequn.engine.event import Event, Rejection, order_key, parse_event


def parse(raw: object) -> Event | Rejection:
    return parse_event(raw, payloads=PAYLOADS, default_org="default", line=7)


def envelope(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": "tg-88231",
        "type": "member.joined",
        "at": "2020-11-07T20:31:05+08:00",
        "source": "telegram",
        "org": "demo",
        "data": {
            "group": "old-1",
            "member": "u42",
            "inviter": "u7",
            "via": {"kind": "invite_link", "code": "inv-u7"},
        },
    }
    raw.update(changes)
    return raw


def test_the_contracts_own_example_is_accepted() -> None:
    event = parse(envelope())
    assert isinstance(event, Event)
    assert (event.org, event.source, event.id, event.group, event.member) == (
        "demo",
        "telegram",
        "tg-88231",
        "old-1",
        "u42",
    )
    assert event.at.isoformat() == "2020-11-07T12:31:05+00:00"
    assert event.offset_minutes == 480


def test_an_event_without_org_belongs_to_the_default_org() -> None:
    raw = envelope()
    del raw["org"]
    event = parse(raw)
    assert isinstance(event, Event)
    assert event.org == "default"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"type": "member.teleported"}, "type: unknown event type 'member.teleported'"),
        ({"at": "2020-11-07T20:31:05"}, "at: '2020-11-07T20:31:05' has no UTC offset"),
        ({"at": "yesterday"}, "at: 'yesterday' is not an ISO 8601 time"),
        ({"at": 1604752265}, "at: must be an ISO 8601 string with a UTC offset"),
        ({"source": ""}, "source: must not be empty"),
        ({"data": {"group": "old-1"}}, "data.member: Field required"),
        ({"data": "member u42"}, "data: required, must be a JSON object"),
        (
            {"data": {"group": "old-1", "member": "u42", "via": {"kind": "carrier-pigeon"}}},
            "data.via.kind: Input should be",
        ),
    ],
)
def test_a_bad_event_is_rejected_naming_its_id_and_field(
    changes: dict[str, Any], error: str
) -> None:
    rejection = parse(envelope(**changes))
    assert isinstance(rejection, Rejection)
    assert rejection.id == "tg-88231"
    assert rejection.line == 7
    assert rejection.error.startswith(error)


def test_an_event_without_id_is_rejected_with_its_line() -> None:
    raw = envelope()
    del raw["id"]
    assert parse(raw) == Rejection(None, 7, "id: required")


def test_a_json_value_that_is_not_an_object_is_rejected() -> None:
    assert parse([1, 2]) == Rejection(None, 7, "event must be a JSON object, got list")


def order(amount: object, unit_price: object = "600.00") -> dict[str, Any]:
    return envelope(
        type="order.paid",
        source="shop",
        data={
            "order": "o-1",
            "member": "u42",
            "items": [{"sku": "dress", "qty": 2, "unit_price": unit_price}],
            "amount": amount,
        },
    )


def test_order_amounts_are_kept_in_exact_minor_units() -> None:
    event = parse(order("1200.00", Decimal("600.00")))
    assert isinstance(event, Event)
    paid = event.payload(OrderPaid)
    assert (paid.amount, paid.items[0].unit_price) == (120000, 60000)
    # Stored form round-trips to the same payload: what rebuild relies on.
    assert OrderPaid.model_validate(paid.model_dump(mode="json")) == paid


def test_an_amount_with_more_than_two_decimals_is_rejected() -> None:
    rejection = parse(order(Decimal("1200.005")))
    assert isinstance(rejection, Rejection)
    assert rejection.error == "data.amount: 1200.005 has more than 2 decimals"


def test_a_float_amount_is_rejected_because_it_is_not_exact() -> None:
    rejection = parse(order(1200.5))
    assert isinstance(rejection, Rejection)
    assert "not a float" in rejection.error


def test_huge_text_is_capped_and_kept() -> None:
    raw = envelope(
        type="message.posted",
        data={
            "group": "old-1",
            "member": "u42",
            "message": "m1",
            "kind": "text",
            "text": "哈" * 100_000,
        },
    )
    event = parse(raw)
    assert isinstance(event, Event)
    assert event.payload(MessagePosted).text == "哈" * MAX_TEXT


def test_numeric_platform_ids_are_taken_as_text() -> None:
    raw = envelope(data={"group": -100123, "member": 42})
    event = parse(raw)
    assert isinstance(event, Event)
    assert (event.group, event.member) == ("-100123", "42")


def test_every_contract_type_has_a_payload() -> None:
    assert sorted(PAYLOADS) == [
        "group.dismissed",
        "group.upserted",
        "member.joined",
        "member.left",
        "member.upserted",
        "message.posted",
        "order.paid",
        "order.refunded",
        "reaction.added",
        "reaction.removed",
    ]


def test_an_events_order_key_spells_its_utc_instant_then_its_arrival() -> None:
    # 20:30 in Shanghai is 12:30 UTC: events of every zone sort on one clock.
    at = datetime(2026, 11, 11, 20, 30, 5, 42, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert order_key(at, 17, 3) == "20261111T123005000042.000000000017.0000003"
    assert order_key(at, 17, 3) < order_key(at, 17, 4) < order_key(at, 18, 0)
