"""The event contract every connector, import file and webhook speaks (DOMAIN.md)."""

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)

from shequn.kit.money import format_amount, parse_amount

MAX_TEXT = 4000

PlatformId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# Minor units (fen) inside; a decimal string outside, so a stored event re-validates to itself.
Money = Annotated[
    int, BeforeValidator(parse_amount), PlainSerializer(format_amount, return_type=str)
]


class Payload(BaseModel):
    # Platforms add fields over time; unknown ones are ignored rather than refused.
    # Numeric platform ids (Telegram's) are taken as their decimal text.
    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)


class Upsert(Payload):
    """A profile's fields as one source knows them: a field left out keeps its stored value, a
    field given as null clears it (`tags: []` clears tags, `gender: "unknown"` the gender).

    Stored as given: fields left out stay out and nulls stay null, so a replay of the log
    tells the two apart as the first reading did.
    """

    @model_serializer(mode="wrap")
    def _as_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        given = self.model_fields_set
        kept = {name: value for name, value in data.items() if name in given}
        for name in given:
            # exclude_none drops an explicit null; it is the one that clears.
            kept.setdefault(name, None)
        return kept


class GroupUpserted(Upsert):
    group: PlatformId
    name: Annotated[str, StringConstraints(max_length=200)]
    capacity: Annotated[int, Field(gt=0, le=1_000_000, strict=True)] | None = None
    store: PlatformId | None = None
    owner: PlatformId | None = None
    tags: list[Label] = Field(default_factory=list)


class Avatar(Payload):
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    flags: list[Label] = Field(default_factory=list)


class Album(Payload):
    flags: list[Label] = Field(default_factory=list)


class MemberUpserted(Upsert):
    member: PlatformId
    nickname: Annotated[str, StringConstraints(max_length=200)]
    gender: Literal["female", "male", "unknown"] = "unknown"
    signature: Annotated[str, StringConstraints(max_length=1000)] | None = None
    avatar: Avatar | None = None
    album: Album | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    channel: Label | None = None


class Via(Payload):
    kind: Literal["invite_link", "live_code", "qr", "direct", "unknown"]
    code: PlatformId | None = None


class MemberJoined(Payload):
    group: PlatformId
    member: PlatformId
    inviter: PlatformId | None = None
    via: Via | None = None


class MemberLeft(Payload):
    group: PlatformId
    member: PlatformId
    reason: Literal["quit", "kicked", "unknown"]
    by: PlatformId | None = None


def _cap_text(text: str | None) -> str | None:
    # Huge texts are kept, capped: the message counts, the flood does not fill the store.
    return None if text is None else text[:MAX_TEXT]


class MessagePosted(Payload):
    group: PlatformId
    member: PlatformId
    message: PlatformId
    kind: Literal[
        "text", "image", "link", "mini_program", "red_packet", "file", "video", "voice", "card"
    ]
    text: Annotated[str | None, AfterValidator(_cap_text)] = None
    mentions: list[PlatformId] = Field(default_factory=list)


class ReactionAdded(Payload):
    group: PlatformId
    member: PlatformId
    message: PlatformId
    emoji: Label | None = None


class ReactionRemoved(ReactionAdded):
    pass


class GroupDismissed(Payload):
    group: PlatformId


class OrderItem(Payload):
    sku: PlatformId
    qty: Annotated[int, Field(gt=0, le=100_000, strict=True)]
    unit_price: Money


class OrderPaid(Payload):
    order: PlatformId
    member: PlatformId
    group: PlatformId | None = None
    store: PlatformId | None = None
    staff: PlatformId | None = None
    items: Annotated[list[OrderItem], Field(min_length=1)]
    amount: Money
    coupon: Label | None = None


class OrderRefunded(Payload):
    order: PlatformId
    amount: Money | None = None


PAYLOADS: dict[str, type[Payload]] = {
    "group.upserted": GroupUpserted,
    "member.upserted": MemberUpserted,
    "member.joined": MemberJoined,
    "member.left": MemberLeft,
    "message.posted": MessagePosted,
    "reaction.added": ReactionAdded,
    "reaction.removed": ReactionRemoved,
    "group.dismissed": GroupDismissed,
    "order.paid": OrderPaid,
    "order.refunded": OrderRefunded,
}
