"""Commerce use cases: products and their price schedules, coupon templates, and coupons issued
by drops, as rewards and by shares. Services flush; whoever opened the unit of work commits."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, select, update
from sqlalchemy.orm import Session

from shequn.audit.service import flagged_members
from shequn.commerce.models import (
    Coupon,
    CouponStatus,
    CouponTemplate,
    PriceChange,
    Product,
)
from shequn.commerce.rules import (
    PERMILLE,
    CouponKind,
    CouponTerms,
    PricePoint,
    coupon_code,
    discount_label,
    may_issue,
    price_at,
)
from shequn.commerce.texts import say, yuan
from shequn.engine.action import Action, ActionKind
from shequn.engine.context import CHUNK, Context
from shequn.group.models import Group
from shequn.kit.ids import stable_id
from shequn.kit.money import format_amount
from shequn.kit.time import zone
from shequn.member.models import GroupMember, Member

LANG_SETTING = "commerce_lang"
REFERRAL_SETTING = "referral_coupon"


class CommerceNotFound(LookupError):
    def __init__(self, what: str, key: str, org: str) -> None:
        super().__init__(f"{what} {key!r} does not exist in org {org!r}")
        self.what = what
        self.key = key


class CommerceRefusal(ValueError):
    """An expected refusal; `reason` is a word a client can branch on."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def lang_of(context: Context, org: str) -> str:
    lang = context.tenant(org).settings.get(LANG_SETTING, "zh")
    return lang if lang in ("zh", "en") else "zh"


def add_product(context: Context, *, org: str, sku: str, name: str) -> Product:
    """Create the product, or rename one that exists."""
    product = context.session.get(Product, (org, sku))
    if product is None:
        product = Product(org=org, sku=sku, name=name, created_at=context.now)
        context.session.add(product)
    else:
        product.name = name
    context.session.flush()
    return product


def schedule_price(
    context: Context, *, org: str, sku: str, price: int, effective_at: datetime, cause: str
) -> PriceChange:
    """From `effective_at` on, `sku` sells at `price`; the same cause schedules one change."""
    if context.session.get(Product, (org, sku)) is None:
        raise CommerceNotFound("product", sku, org)
    if price <= 0:
        raise CommerceRefusal("bad_price", f"price of {sku}: must be above zero")
    change_id = stable_id("price", org, sku, cause)
    change = context.session.get(PriceChange, (org, change_id))
    if change is None:
        change = PriceChange(org=org, id=change_id, sku=sku, price=price,
                             effective_at=effective_at, cause=cause[:300],
                             created_at=context.now)  # fmt: skip
        context.session.add(change)
        context.session.flush()
    return change


def set_price(context: Context, *, org: str, sku: str, price: int, cause: str) -> None:
    """`sku` sells at `price` (minor units) from now on; idempotent per cause."""
    schedule_price(context, org=org, sku=sku, price=price, effective_at=context.now, cause=cause)


def price_schedule(session: Session, org: str, sku: str) -> list[PricePoint]:
    rows = session.scalars(
        select(PriceChange)
        .where(PriceChange.org == org, PriceChange.sku == sku)
        .order_by(PriceChange.effective_at, PriceChange.created_at)
    )
    return [PricePoint(row.effective_at, row.price) for row in rows]


@dataclass(frozen=True)
class ProductView:
    sku: str
    name: str
    price: int | None
    schedule: Sequence[PricePoint]

    def as_json(self, timezone: str) -> dict[str, Any]:
        local = zone(timezone)
        return {
            "sku": self.sku,
            "name": self.name,
            "price": None if self.price is None else yuan(self.price),
            "schedule": [
                {"from": point.effective_at.astimezone(local).isoformat(),
                 "price": yuan(point.price)}
                for point in self.schedule
            ],
        }  # fmt: skip


def products_of(session: Session, org: str, *, at: datetime) -> list[ProductView]:
    """Every product with its price at `at` and its whole schedule."""
    views = []
    for product in session.scalars(select(Product).where(Product.org == org).order_by(Product.sku)):
        schedule = price_schedule(session, org, product.sku)
        views.append(ProductView(product.sku, product.name, price_at(schedule, at), schedule))
    return views


def add_template(
    context: Context,
    *,
    org: str,
    template: str,
    name: str,
    kind: CouponKind,
    amount_off: int = 0,
    threshold: int = 0,
    rate: int = PERMILLE,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    per_member_limit: int | None = None,
) -> CouponTemplate:
    """A coupon template: ¥100 off (threshold 0), ¥300 − ¥50, or a discount like 4.5折."""
    if context.session.get(CouponTemplate, (org, template)) is not None:
        raise CommerceRefusal("exists", f"coupon template {template!r} already exists")
    if kind is CouponKind.AMOUNT_OFF and amount_off <= 0:
        raise CommerceRefusal("bad_amount", f"template {template}: --off must be above zero")
    if kind is CouponKind.DISCOUNT and not 0 < rate < PERMILLE:
        raise CommerceRefusal("bad_rate", f"template {template}: a discount lies in (0, 10)折")
    if threshold < 0:
        raise CommerceRefusal("bad_amount", f"template {template}: --min cannot be negative")
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise CommerceRefusal("bad_window", f"template {template}: --until must follow --from")
    if per_member_limit is not None and per_member_limit < 1:
        raise CommerceRefusal("bad_limit", f"template {template}: --limit is at least 1")
    row = CouponTemplate(
        org=org, id=template, name=name, kind=kind.value,
        amount_off=amount_off if kind is CouponKind.AMOUNT_OFF else 0,
        threshold=threshold, rate=rate if kind is CouponKind.DISCOUNT else PERMILLE,
        valid_from=valid_from, valid_until=valid_until, per_member_limit=per_member_limit,
        created_at=context.now,
    )  # fmt: skip
    context.session.add(row)
    context.session.flush()
    return row


def template_of(session: Session, org: str, template: str) -> CouponTemplate:
    row = session.get(CouponTemplate, (org, template))
    if row is None:
        raise CommerceNotFound("coupon template", template, org)
    return row


def templates_of(session: Session, org: str) -> list[CouponTemplate]:
    return list(
        session.scalars(
            select(CouponTemplate).where(CouponTemplate.org == org).order_by(CouponTemplate.id)
        )
    )


def terms_of(coupon: Coupon | CouponTemplate) -> CouponTerms:
    return CouponTerms(CouponKind(coupon.kind), coupon.amount_off, coupon.threshold, coupon.rate)


def describe(coupon: Coupon | CouponTemplate) -> str:
    """¥100 off, ¥300 − ¥50, or 4.5折, as operators say it."""
    if coupon.kind == CouponKind.DISCOUNT:
        return discount_label(coupon.rate)
    if coupon.threshold > 0:
        return f"¥{yuan(coupon.threshold)} − ¥{yuan(coupon.amount_off)}"
    return f"¥{yuan(coupon.amount_off)} off"


def _check_open(template: CouponTemplate, now: datetime) -> None:
    if template.valid_until is not None and now >= template.valid_until:
        raise CommerceRefusal(
            "expired", f"coupon template {template.id!r} expired at {template.valid_until}"
        )


def _held(session: Session, org: str, template: str, members: Sequence[str]) -> dict[str, int]:
    """Coupons of `template` each member holds, used or not."""
    held: dict[str, int] = {}
    wanted = sorted(set(members))
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(Coupon.member, func.count())
            .where(Coupon.org == org, Coupon.template == template,
                   Coupon.member.in_(wanted[start : start + 500]))
            .group_by(Coupon.member)
        )  # fmt: skip
        held.update({member: count for member, count in rows})
    return held


def _new_coupon(
    template: CouponTemplate, *, code: str, member: str, cause: str, now: datetime,
    amount_off: int | None,
) -> Coupon:  # fmt: skip
    return Coupon(
        org=template.org, code=code, template=template.id, member=member, kind=template.kind,
        amount_off=template.amount_off if amount_off is None else amount_off,
        threshold=template.threshold, rate=template.rate, valid_from=template.valid_from,
        valid_until=template.valid_until, cause=cause[:300], issued_at=now,
        status=CouponStatus.ISSUED.value, order_id=None, used_at=None,
    )  # fmt: skip


def _until(template: CouponTemplate, context: Context, lang: str) -> str:
    if template.valid_until is None:
        return ""
    local = template.valid_until.astimezone(zone(context.tenant(template.org).timezone))
    return say("until", lang, at=f"{local:%Y-%m-%d %H:%M}")


def _lock_member(session: Session, org: str, member: str) -> None:
    """Hold the member's row until the unit of work ends (SQLite: take its one write lock)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Member).where(false()).values(nickname=Member.nickname))
        return
    session.execute(
        select(Member.id).where(Member.org == org, Member.id == member).with_for_update()
    )


def issue_coupon(
    context: Context,
    *,
    org: str,
    member: str,
    template: str,
    cause: str,
    amount_off: int | None = None,
    at: datetime | None = None,
    status: CouponStatus = CouponStatus.ISSUED,
) -> str | None:
    """One coupon to one member as a reward; its code, or None when the per-member limit
    refuses it. Issuing again for the same cause returns the same code. `amount_off` gives a
    fission coupon its own amount; `at` is when it is earned (default: now). A coupon issued
    already revoked (its reward undone before it was known) is not announced."""
    session = context.session
    at = at or context.now
    row = template_of(session, org, template)
    code = coupon_code(org, template, member, cause)
    if session.get(Coupon, (org, code)) is not None:
        return code
    _check_open(row, at)
    if row.per_member_limit is not None:
        # Two requests for the same member (an assist and a share click) must not both pass.
        _lock_member(session, org, member)
        if session.get(Coupon, (org, code)) is not None:
            return code
    if not may_issue(already=_held(session, org, template, [member]).get(member, 0),
                     limit=row.per_member_limit):  # fmt: skip
        return None
    coupon = _new_coupon(row, code=code, member=member, cause=cause, now=at,
                         amount_off=amount_off)  # fmt: skip
    coupon.status = status.value
    session.add(coupon)
    session.flush()
    if status != CouponStatus.ISSUED:
        return code
    lang = lang_of(context, org)
    person = session.get(Member, (org, member))
    context.emit(
        Action(
            id=stable_id("coupon-issued", org, code),
            org=org,
            kind=ActionKind.SEND_DIRECT_MESSAGE,
            cause=f"coupon:{cause}",
            platform=None if person is None else person.platform,
            member=member,
            payload={"text": say("coupon_issued", lang, name=f"{row.name} {describe(coupon)}",
                                 code=code, until=_until(row, context, lang))},
        )
    )  # fmt: skip
    return code


def drop_coupons(context: Context, *, org: str, group: str, template: str, cause: str) -> int:
    """One coupon of `template` to each current member of `group`, except audit-flagged ones
    and those at the per-member limit; idempotent per cause. How many were issued now."""
    session = context.session
    row = template_of(session, org, template)
    chat = session.get(Group, (org, group))
    if chat is None:
        raise CommerceNotFound("group", group, org)
    _check_open(row, context.now)
    flagged = flagged_members(session, org)
    members = [
        member
        for member in session.scalars(
            select(GroupMember.member_id)
            .where(GroupMember.org == org, GroupMember.group_id == group, GroupMember.is_member)
            .order_by(GroupMember.member_id)
        )
        if member not in flagged
    ]
    held = _held(session, org, template, members)
    codes = {member: coupon_code(org, template, member, cause) for member in members}
    # This group's codes by key: one cause may drop into thousands of groups.
    wanted = sorted(codes.values())
    existing: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        existing.update(session.scalars(
            select(Coupon.code).where(Coupon.org == org,
                                      Coupon.code.in_(wanted[start : start + CHUNK]))
        ))  # fmt: skip
    issued = 0
    for member in members:
        if codes[member] in existing:
            continue
        if not may_issue(already=held.get(member, 0), limit=row.per_member_limit):
            continue
        session.add(_new_coupon(row, code=codes[member], member=member, cause=cause,
                                now=context.now, amount_off=None))  # fmt: skip
        issued += 1
    session.flush()
    if issued:
        lang = lang_of(context, org)
        context.emit(
            Action(
                id=stable_id("coupon-drop", org, group, template, cause),
                org=org,
                kind=ActionKind.SEND_MESSAGE,
                cause=f"coupon:{cause}",
                platform=chat.platform,
                group=group,
                payload={"text": say("coupon_dropped", lang, name=f"{row.name} {describe(row)}",
                                     count=issued, until=_until(row, context, lang)),
                         "mentions": [],
                         # What a shop needs to honour the drop: each member's code is
                         # coupon_code(org, template, member, cause).
                         "coupon": {"template": template, "cause": cause,
                                    "kind": row.kind, "amount_off": format_amount(row.amount_off),
                                    "threshold": format_amount(row.threshold)}},
            )
        )  # fmt: skip
    return issued


def coupons_of(
    session: Session, org: str, *, member: str | None = None, template: str | None = None
) -> list[Coupon]:
    query = select(Coupon).where(Coupon.org == org)
    if member is not None:
        query = query.where(Coupon.member == member)
    if template is not None:
        query = query.where(Coupon.template == template)
    return list(session.scalars(query.order_by(Coupon.issued_at, Coupon.code)))


def coupon_json(coupon: Coupon) -> dict[str, Any]:
    return {
        "code": coupon.code,
        "template": coupon.template,
        "member": coupon.member,
        "kind": coupon.kind,
        "terms": describe(coupon),
        "amount_off": yuan(coupon.amount_off),
        "threshold": yuan(coupon.threshold),
        "rate": coupon.rate,
        "valid_from": None if coupon.valid_from is None else coupon.valid_from.isoformat(),
        "valid_until": None if coupon.valid_until is None else coupon.valid_until.isoformat(),
        "status": coupon.status,
        "order": coupon.order_id,
        "issued_at": coupon.issued_at.isoformat(),
        "cause": coupon.cause,
    }


def template_json(template: CouponTemplate) -> dict[str, Any]:
    return {
        "template": template.id,
        "name": template.name,
        "kind": template.kind,
        "terms": describe(template),
        "amount_off": yuan(template.amount_off),
        "threshold": yuan(template.threshold),
        "rate": template.rate,
        "valid_from": None if template.valid_from is None else template.valid_from.isoformat(),
        "valid_until": None if template.valid_until is None else template.valid_until.isoformat(),
        "limit": template.per_member_limit,
    }
