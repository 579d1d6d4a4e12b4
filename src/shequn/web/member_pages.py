"""Members: a search, and one member's profile, tags, groups, invites, points, orders and
audit."""

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shequn.api import shequn_of
from shequn.audit.models import AuditCase, AuditDecision
from shequn.commerce.models import Order, Refund
from shequn.db import unicode_lower
from shequn.kit.money import format_amount
from shequn.kit.time import utc_now
from shequn.member.models import GroupMember, Member, Membership, MemberTag
from shequn.member.phones import PhoneKeyError, is_masked, masked_phone, phone_key, revealed_phone
from shequn.member.rules import TagError
from shequn.member.service import nicknames, tag_member, tags_of, tags_of_members
from shequn.points.models import PointsBalance
from shequn.web.common import (
    PAGE_SIZE,
    Signed,
    Visit,
    check_csrf,
    csv_response,
    is_visible_member,
    page,
    record,
    require,
    visible_among,
    visible_groups,
)
from shequn.web.rules import Permission, Staff

router = APIRouter()
MEMBER_COLUMNS = ("id", "nickname", "platform", "channel", "first_inviter", "first_group",
                  "first_seen_at", "tags")  # fmt: skip
# Staff who may decide on a member may also tag them.
TAG_MEMBERS = Permission.DECIDE_AUDIT
# The member pages' own words, in both languages, as the shared list has them.
WORDS = {
    "tag": {"zh": "标签", "en": "Tag"},
    "add_tag": {"zh": "加标签", "en": "Add tag"},
    "remove_tag": {"zh": "删除标签", "en": "Remove tag"},
    "labels": {"zh": "自动标记", "en": "Derived"},
    "phone_in_clear": {
        "zh": "手机号明文保存:设置 SHEQUN_PHONE_KEY 后到达即加密",
        "en": "Stored in clear: set SHEQUN_PHONE_KEY to seal numbers as they arrive",
    },
}


def search_members(session: Session, staff: Staff, text: str, *, tag: str = "") -> list[Member]:
    """Members whose id is `text` or whose nickname contains it, with the tag if one is given,
    within the staff's groups."""
    query = select(Member).where(Member.org == staff.org).order_by(Member.id).limit(PAGE_SIZE)
    needle = text.strip()
    if needle:
        named = unicode_lower(Member.nickname).contains(needle.lower(), autoescape=True)
        query = query.where(or_(Member.id == needle, named))
    if tag.strip():
        tagged = select(MemberTag.member).where(
            MemberTag.org == staff.org, MemberTag.tag == " ".join(tag.split())
        )
        query = query.where(Member.id.in_(tagged))
    if not staff.is_org_wide:
        mine = select(GroupMember.member_id).where(
            GroupMember.org == staff.org,
            GroupMember.group_id.in_(list(visible_groups(session, staff))),
        )
        query = query.where(Member.id.in_(mine))
    return list(session.scalars(query))


@router.get("/dashboard/members", response_model=None)
def member_search(
    request: Request, visit: Signed, q: str = "", tag: str = "", format: str = "html"
) -> Response:
    require(visit, Permission.VIEW_MEMBERS)
    with shequn_of(request).sessions() as session:
        found = search_members(session, visit.staff, q, tag=tag)
        groups = visible_among(session, visit.staff, [m.first_group or "" for m in found])
        tags = tags_of_members(session, visit.staff.org, [m.id for m in found])
        rows = [
            {"id": m.id, "nickname": m.nickname or "", "platform": m.platform,
             "channel": m.channel or m.first_via_code or "",
             "first_inviter": m.first_inviter if m.first_group in groups else None,
             "first_group": m.first_group if m.first_group in groups else None,
             "first_seen_at": m.first_seen_at.isoformat(), "tags": tags.get(m.id, [])}
            for m in found
        ]  # fmt: skip
    if format == "csv":
        exported = [{**row, "tags": "; ".join(tags.get(str(row["id"]), []))} for row in rows]
        return csv_response("members.csv", MEMBER_COLUMNS, exported)
    return page(request, "members.html", lang=visit.lang, visit=visit, q=q, tag=tag,
                members=rows, say=_say(visit.lang))  # fmt: skip


def _say(lang: str) -> Callable[[str], str]:
    return lambda key: WORDS[key]["en" if lang == "en" else "zh"]


def profile_of(session: Session, visit: Visit, member_id: str) -> dict[str, Any]:
    """Everything the member page shows, limited to the staff's groups; 404 outside them."""
    staff = visit.staff
    member = session.get(Member, (staff.org, member_id))
    if member is None or not is_visible_member(session, staff, member_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"member {member_id!r} not found")
    stays = session.scalars(
        select(GroupMember).where(GroupMember.org == staff.org, GroupMember.member_id == member_id)
        .order_by(GroupMember.group_id)
    ).all()  # fmt: skip
    invitees = session.execute(
        select(Membership.member_id, Membership.group_id, Membership.joined_at,
               Membership.left_at, Membership.left_reason)
        .where(Membership.org == staff.org, Membership.inviter == member_id)
        .order_by(Membership.joined_at)
    ).all()  # fmt: skip
    orders = session.scalars(
        select(Order).where(Order.org == staff.org, Order.member_id == member_id)
        .order_by(Order.paid_at.desc()).limit(PAGE_SIZE)
    ).all()  # fmt: skip
    # Only the groups this member's page names: an org's 10,000 need not be listed for it.
    named = [s.group_id for s in stays] + [r.group_id for r in invitees]
    named += [o.group_id for o in orders if o.group_id] + [member.first_group or ""]
    groups = visible_among(session, staff, named)
    invitees = [row for row in invitees if row.group_id in groups]
    # Orders of another store's groups stay hidden; orders naming no group belong to the org.
    orders = [o for o in orders if o.group_id in groups or (staff.is_org_wide and not o.group_id)]
    refunds = dict(
        session.execute(
            select(Refund.order_id, func.sum(func.coalesce(Refund.amount, 0)))
            .where(Refund.org == staff.org, Refund.order_id.in_([o.id for o in orders]))
            .group_by(Refund.order_id)
        ).all()
    )
    balance = session.get(PointsBalance, (staff.org, member_id))
    case = session.get(AuditCase, (staff.org, member_id))
    decisions = session.scalars(
        select(AuditDecision).where(AuditDecision.org == staff.org,
                                    AuditDecision.member == member_id)
        .order_by(AuditDecision.id)
    ).all()  # fmt: skip
    first_seen_here = member.first_group in groups
    names = nicknames(session, staff.org,
                      [r.member_id for r in invitees] + [member.first_inviter or ""])  # fmt: skip
    tags = [tag for tag, has in (("buyer", bool(orders)), ("inviter", bool(invitees)),
                                 (case.exempt if case and case.exempt else "", True)) if tag and has]  # fmt: skip
    return {
        "id": member.id, "nickname": member.nickname or "", "gender": member.gender,
        "signature": member.signature or "", "platform": member.platform,
        "channel": member.channel or member.first_via_code or "",
        "first_seen_at": member.first_seen_at,
        # Where the member first came in, and by whom, only when that group is the staff's.
        "first_group": member.first_group if first_seen_here else None,
        "inviter": member.first_inviter if first_seen_here else None,
        "inviter_name": names.get(member.first_inviter or "", member.first_inviter)
        if first_seen_here else None,
        "phone": masked_phone(member), "labels": tags,
        "phone_in_clear": member.phone is not None and not is_masked(member.phone),
        "tags": tags_of(session, staff.org, member_id),
        "groups": [{"id": s.group_id, "name": groups[s.group_id].name, "is_member": s.is_member,
                    "stints": s.stints} for s in stays if s.group_id in groups],
        "invites": [{"member": r.member_id, "name": names.get(r.member_id, r.member_id),
                     "group": r.group_id, "joined_at": r.joined_at, "left_at": r.left_at,
                     "reason": r.left_reason} for r in invitees],
        "still_in": sum(r.left_at is None for r in invitees),
        "points": 0 if balance is None else balance.balance,
        "orders": [{"id": o.id, "group": o.group_id, "paid_at": o.paid_at,
                    "items": o.item_count, "amount": format_amount(o.amount),
                    "refunded": format_amount(int(refunds.get(o.id, 0)))} for o in orders],
        "case": None if case is None else {"score": case.score, "verdict": case.verdict,
                                           "decision": case.decision},
        "decisions": [{"decision": d.decision, "by": d.decided_by, "at": d.decided_at,
                       "note": d.note} for d in decisions],
    }  # fmt: skip


@router.get("/dashboard/members/{member_id}", response_class=HTMLResponse)
def member_detail(request: Request, visit: Signed, member_id: str) -> HTMLResponse:
    require(visit, Permission.VIEW_MEMBERS)
    with shequn_of(request).sessions() as session:
        profile = profile_of(session, visit, member_id)
    return page(request, "member.html", lang=visit.lang, visit=visit, member=profile,
                revealed=None, may_tag=visit.staff.may(TAG_MEMBERS),
                say=_say(visit.lang))  # fmt: skip


@router.post("/dashboard/members/{member_id}/tags")
def change_member_tags(
    request: Request,
    visit: Signed,
    member_id: str,
    csrf: Annotated[str, Form()],
    add: Annotated[str, Form()] = "",
    remove: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Adds or removes one tag, as `shequn member tag` does; logged with who."""
    check_csrf(visit, csrf)
    require(visit, TAG_MEMBERS)
    with shequn_of(request).sessions.begin() as session:
        profile_of(session, visit, member_id)
        try:
            tag_member(session, visit.staff.org, member_id, add=[add] if add else [],
                                remove=[remove] if remove else [], by=visit.staff.username,
                                now=utc_now())  # fmt: skip
        except TagError as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    return RedirectResponse(
        f"/dashboard/members/{quote(member_id, safe='')}#profile",
        status_code=status.HTTP_303_SEE_OTHER,
    )


@router.post("/dashboard/members/{member_id}/reveal", response_class=HTMLResponse)
def reveal_phone(
    request: Request, visit: Signed, member_id: str, csrf: Annotated[str, Form()]
) -> HTMLResponse:
    """The whole number, once, to a role allowed it; who, when and which member is logged."""
    check_csrf(visit, csrf)
    require(visit, Permission.REVEAL_PHONE)
    with shequn_of(request).sessions.begin() as session:
        profile = profile_of(session, visit, member_id)
        member = session.get(Member, (visit.staff.org, member_id))
        assert member is not None
        try:
            key = phone_key()
        except PhoneKeyError:
            key = None
        try:
            phone = revealed_phone(session, visit.staff.org, member, key=key)
        except PhoneKeyError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        record(session, visit.staff, "reveal_phone", target=member_id)
    return page(request, "member.html", lang=visit.lang, visit=visit, member=profile,
                revealed=phone, may_tag=visit.staff.may(TAG_MEMBERS),
                say=_say(visit.lang))  # fmt: skip
