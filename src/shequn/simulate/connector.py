"""The simulator as a connector: shequn's actions carried out in a simulated world."""

from typing import Any

from shequn.engine.models import ActionRecord
from shequn.kit.money import parse_amount
from shequn.simulate.world import Drop, Request, World


def drop_of(coupon: Any) -> Drop | None:
    """The drop a coupon notice carries, if it is well formed; an amount-off coupon only."""
    if not isinstance(coupon, dict) or coupon.get("kind") != "amount_off":
        return None
    try:
        return Drop(
            template=str(coupon["template"]),
            cause=str(coupon["cause"]),
            amount_off=parse_amount(str(coupon["amount_off"])),
            threshold=parse_amount(str(coupon.get("threshold", "0"))),
        )
    except (KeyError, ValueError):
        return None


def request_of(action: ActionRecord) -> Request:
    """The parts of an outbox action a platform would see."""
    payload = action.payload or {}
    text = payload.get("text")
    name = payload.get("name")
    mentions = payload.get("mentions")
    return Request(
        id=action.id,
        kind=str(action.kind),
        group=action.group_id,
        member=action.member_id,
        text=text if isinstance(text, str) else None,
        mentions=tuple(str(m) for m in mentions) if isinstance(mentions, list) else (),
        name=name if isinstance(name, str) else None,
        coupon=drop_of(payload.get("coupon")),
    )


class SimulatorConnector:
    """Hands each action to the world, which records it and shows its effect in later events."""

    # A kicked member leaves (member.left, reason kicked), a draw announced raises that evening's
    # chatter, a coupon raises buying, @-mentioned newcomers stay more often. An action performed
    # twice (the dispatcher retrying after a crash) is recorded again and changes nothing.
    name = "simulator"

    def __init__(self, world: World) -> None:
        self.world = world

    def perform(self, action: ActionRecord) -> None:
        self.world.receive(request_of(action))
