"""Lotteries: commit to every draw when it is scheduled, draw once at its freeze time, announce.

A draw's entrants are taken as of its freeze time from the membership history and the event
log, never from "now", so a draw run late after a downtime gives the winners it would have given
on time.
"""

import base64
import hashlib
import re
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import null, or_, select
from sqlalchemy.orm import Session

from shequn.audit.service import flagged_members
from shequn.engine.action import Action, ActionKind
from shequn.engine.context import Context, Job
from shequn.engine.models import EventRecord
from shequn.group.models import Group, Staff
from shequn.kit.ids import stable_id
from shequn.kit.money import AmountError, parse_amount
from shequn.kit.time import local_day, local_time_to_utc, parse_clock, zone
from shequn.lottery.models import (
    DrawRecord,
    DrawStatus,
    FulfilmentStatus,
    LotteryRecord,
    LotteryWin,
)
from shequn.lottery.proof import Entrant, Prize, commit, draw, verify
from shequn.lottery.rules import (
    Candidate,
    Eligibility,
    NthWin,
    Reaction,
    WinRecord,
    eligible_entrants,
    has_started,
    nth_like_winners,
    says_keyword,
)
from shequn.member.models import Membership
from shequn.member.service import nicknames
from shequn.points.service import balances_of, signed_in_on

DRAW = "lottery.draw"
ANNOUNCE = "lottery.announce"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
MAX_MENTIONS = 20
# The commitment goes up this long before the draw (or at once when the draw is sooner).
ANNOUNCE_LEAD = timedelta(hours=8)


class LotteryError(ValueError):
    pass


class UnknownDraw(LookupError):
    def __init__(self, draw_id: str) -> None:
        super().__init__(f"draw {draw_id!r} does not exist in this org")


@dataclass(frozen=True)
class PrizeSpec:
    name: str
    count: int
    cost: int

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "count": self.count, "cost": self.cost}


def parse_prize(text: str) -> PrizeSpec:
    """ "连衣裙:1:199.00" — name, how many, cost each in yuan (optional)."""
    name, _, rest = text.partition(":")
    count_text, _, cost_text = rest.partition(":")
    if not name.strip() or not count_text.isdigit() or int(count_text) < 1:
        raise LotteryError(f"prize {text!r}: write NAME:COUNT[:COST], e.g. 连衣裙:1:199.00")
    try:
        cost = parse_amount(cost_text) if cost_text else 0
    except AmountError as error:
        raise LotteryError(f"prize {text!r}: cost {error}") from None
    return PrizeSpec(name=name.strip(), count=int(count_text), cost=cost)


def create_lottery(
    context: Context,
    org: str,
    *,
    lottery_id: str,
    name: str,
    groups: Sequence[str],
    first: datetime,
    days: int,
    prizes: Sequence[PrizeSpec],
    rules_text: str,
    eligibility: dict[str, Any],
    lang: str,
) -> list[DrawRecord]:
    """One committed draw per group and day, each with its own secret seed."""
    session = context.session
    if not ID_PATTERN.match(lottery_id):
        raise LotteryError(f"lottery: {lottery_id!r} may only hold letters, digits and _ . : -")
    if session.get(LotteryRecord, (org, lottery_id)) is not None:
        raise LotteryError(f"lottery {lottery_id!r} already exists in this org")
    if not groups:
        raise LotteryError("--groups: name at least one group")
    unknown = [group for group in groups if session.get(Group, (org, group)) is None]
    if unknown:
        raise LotteryError(f"--groups: {', '.join(unknown)} not known in this org")
    if not prizes:
        raise LotteryError("--prize: give at least one prize")
    if days < 1:
        raise LotteryError("--days must be 1 or more")
    if first <= context.now:
        raise LotteryError(f"--at: {first.isoformat()} has passed; a draw is committed ahead")
    record = LotteryRecord(
        org=org, id=lottery_id, name=name, groups=list(groups),
        prizes=[prize.as_json() for prize in prizes], rules_text=rules_text,
        eligibility=eligibility, lang=lang, created_at=context.now,
    )  # fmt: skip
    session.add(record)
    timezone = context.tenant(org).timezone
    local = first.astimezone(zone(timezone))
    draws = []
    for offset in range(days):
        day = local.date() + timedelta(days=offset)
        due = local_time_to_utc(day, local.hour, local.minute, timezone)
        freeze_text = due.astimezone(zone(timezone)).isoformat()
        for group in groups:
            seed = secrets.token_bytes(32)
            draw_record = DrawRecord(
                id=stable_id("draw", org, lottery_id, group, due.isoformat()),
                org=org, lottery=lottery_id, group_id=group, due_at=due,
                freeze_text=freeze_text, seed_hex=seed.hex(),
                commitment=commit(seed=seed, rules=rules_text,
                                  freeze_at=datetime.fromisoformat(freeze_text)),
                status=DrawStatus.COMMITTED, entrant_count=None, list_hash=None, published=None,
                exclusions=None, skip_reason=None, drawn_at=None,
            )  # fmt: skip
            session.add(draw_record)
            draws.append(draw_record)
            context.schedule(Job(id=stable_id("lottery-announce", draw_record.id), org=org,
                                 kind=ANNOUNCE, due_at=max(context.now, due - ANNOUNCE_LEAD),
                                 payload={"draw": draw_record.id}))  # fmt: skip
            context.schedule(Job(id=stable_id("lottery-draw", draw_record.id), org=org,
                                 kind=DRAW, due_at=due, payload={"draw": draw_record.id}))  # fmt: skip
    session.flush()
    return draws


def eligibility_of(record: LotteryRecord) -> Eligibility:
    rules = record.eligibility
    joined_before = rules.get("joined_before")
    return Eligibility(
        joined_before=datetime.fromisoformat(joined_before) if joined_before else None,
        min_points=int(rules.get("min_points") or 0),
        require_sign_in=bool(rules.get("require_sign_in")),
        require_keyword=bool(rules.get("keyword")),
        require_active_today=bool(rules.get("require_active_today")),
        exclude_staff=not rules.get("include_staff", False),
        win_window=timedelta(days=int(rules.get("win_window_days", 3))),
        max_wins=int(rules.get("max_wins", 1)),
    )


def announce_commitment(context: Context, draw_record: DrawRecord, job_id: str) -> None:
    """Post the commitment in the group before entries close: from now on the seed is fixed."""
    lottery = _lottery(context.session, draw_record)
    group = context.session.get(Group, (draw_record.org, draw_record.group_id))
    if group is None or draw_record.status != DrawStatus.COMMITTED:
        return
    local = datetime.fromisoformat(draw_record.freeze_text)
    prizes = "、".join(f"{p['name']}×{p['count']}" for p in lottery.prizes)
    keyword = lottery.eligibility.get("keyword")
    if lottery.lang == "en":
        text = (f"Draw “{lottery.name}” at {local:%H:%M} today: {prizes}. Rules: "
                f"{lottery.rules_text}" + (f" Say “{keyword}” to enter." if keyword else "")
                + f"\nFairness commitment: {draw_record.commitment} (draw {draw_record.id})")  # fmt: skip
    else:
        text = (f"今晚 {local:%H:%M}「{lottery.name}」抽奖:{prizes}。规则:{lottery.rules_text}"
                + (f" 发送「{keyword}」即可参与。" if keyword else "")
                + f"\n公平承诺码:{draw_record.commitment}(抽奖编号 {draw_record.id})")  # fmt: skip
    context.emit(
        Action(
            id=stable_id("lottery-announce", job_id),
            org=draw_record.org,
            kind=ActionKind.SEND_MESSAGE,
            cause=f"job:{job_id}",
            platform=group.platform,
            group=group.id,
            payload={"text": text, "mentions": []},
        )
    )


def draw_due(context: Context, org: str, *, up_to: datetime) -> None:
    """Draw every committed draw of the org due by `up_to`, oldest first, then by id: draws at
    the same time in two groups see each other's wins, in the same order on every run."""
    pending = context.session.scalars(
        select(DrawRecord)
        .where(DrawRecord.org == org, DrawRecord.status == DrawStatus.COMMITTED,
               DrawRecord.due_at <= up_to)
        .order_by(DrawRecord.due_at, DrawRecord.id)
    ).all()  # fmt: skip
    flagged = flagged_members(context.session, org) if pending else frozenset()
    for draw_record in pending:
        run_draw(context, draw_record, flagged=flagged)
        context.session.flush()


def run_draw(context: Context, draw_record: DrawRecord, *, flagged: frozenset[str]) -> None:
    session = context.session
    lottery = _lottery(session, draw_record)
    freeze_at = datetime.fromisoformat(draw_record.freeze_text)
    group = session.get(Group, (draw_record.org, draw_record.group_id))
    candidates = candidates_at(session, draw_record, lottery, flagged=flagged,
                               timezone=context.tenant(draw_record.org).timezone)  # fmt: skip
    min_members = int(lottery.eligibility.get("min_members") or 0)
    present = sum(1 for candidate in candidates if candidate.is_member)
    draw_record.drawn_at = context.now
    if group is None or group.dismissed_at is not None:
        draw_record.status, draw_record.skip_reason = DrawStatus.SKIPPED, "the group is gone"
        return
    if min_members and not has_started(present, min_members=min_members):
        draw_record.status = DrawStatus.SKIPPED
        draw_record.skip_reason = (
            f"{present} members at the freeze; the lottery starts at {min_members}"
        )
        _post(context, draw_record, group, _not_started_text(lottery, present, min_members), [])
        return
    past = [
        WinRecord(member=win.member_id, won_at=win.won_at)
        for win in session.scalars(
            select(LotteryWin).where(
                LotteryWin.org == draw_record.org, LotteryWin.won_at <= freeze_at
            )
        )
    ]
    screening = eligible_entrants(
        candidates, eligibility=eligibility_of(lottery), at=freeze_at, past_wins=past
    )
    draw_record.exclusions = dict(Counter(str(e.reason) for e in screening.exclusions))
    draw_record.entrant_count = len(screening.entrants)
    if not screening.entrants:
        draw_record.status, draw_record.skip_reason = DrawStatus.SKIPPED, "nobody was eligible"
        return
    entrants = screening.entrants
    if lottery.eligibility.get("weight_by_points"):
        # More points, more tickets: a member's weight is their balance, at least one.
        held = {c.member: c.points for c in candidates}
        entrants = tuple(Entrant(e.member, weight=max(1, held.get(e.member, 0))) for e in entrants)
    prizes = [Prize(str(p["name"]), int(p["count"])) for p in lottery.prizes]
    costs = {str(p["name"]): int(p["cost"]) for p in lottery.prizes}
    result = draw(entrants, prizes=prizes, seed=bytes.fromhex(draw_record.seed_hex),
                  rules=lottery.rules_text, freeze_at=freeze_at)  # fmt: skip
    draw_record.status = DrawStatus.DRAWN
    draw_record.list_hash = result.list_hash
    draw_record.published = result.published()
    for award in result.awards:
        session.add(
            LotteryWin(
                draw_id=draw_record.id,
                rank=award.rank,
                org=draw_record.org,
                member_id=award.member,
                prize=award.prize,
                cost=costs[award.prize],
                won_at=freeze_at,
                code=win_code(draw_record.id, award.rank),
                status=FulfilmentStatus.PENDING,
                status_at=context.now,
            )
        )
    names = nicknames(session, draw_record.org, [award.member for award in result.awards])
    winners = [
        (award.member, names.get(award.member, award.member), award.prize)
        for award in result.awards
    ]
    for start in range(0, len(winners), MAX_MENTIONS):
        chunk = winners[start : start + MAX_MENTIONS]
        text = _result_text(lottery, draw_record, chunk, first=start == 0)
        _post(context, draw_record, group, text, [member for member, _, _ in chunk], part=start)


def candidates_at(
    session: Session,
    draw_record: DrawRecord,
    lottery: LotteryRecord,
    *,
    flagged: frozenset[str],
    timezone: str,
) -> list[Candidate]:
    """Everyone in the group at the freeze, with what the eligibility rules ask of them."""
    freeze_at = datetime.fromisoformat(draw_record.freeze_text)
    org, group = draw_record.org, draw_record.group_id
    # Bare columns: a big group's stints as ORM objects cost more than the rest of the draw.
    stints = session.execute(
        select(Membership.member_id, Membership.joined_at).where(
            Membership.org == org, Membership.group_id == group, Membership.joined_at <= freeze_at,
            or_(Membership.left_at.is_(None), Membership.left_at > freeze_at),
        )
    ).all()  # fmt: skip
    staff = set(session.scalars(select(Staff.id).where(Staff.org == org)))
    keyword = str(lottery.eligibility.get("keyword") or "")
    day = local_day(freeze_at, timezone)
    day_start = local_time_to_utc(day, 0, 0, timezone)
    # The line to repeat counts from the announced time of the draw's day (default: all day).
    hour, minute = parse_clock(str(lottery.eligibility.get("keyword_from") or "00:00"))
    keyword_from = local_time_to_utc(day, hour, minute, timezone)
    since = min(day_start, keyword_from)
    active: set[str] = set()
    said: set[str] = set()
    # Messages' texts are decoded only when a line must be repeated.
    text = EventRecord.data if keyword else null()
    for member_id, kind, at, data in session.execute(
        select(EventRecord.member_id, EventRecord.type, EventRecord.at, text).where(
            EventRecord.org == org, EventRecord.group_id == group,
            EventRecord.type.in_(("message.posted", "reaction.added")),
            EventRecord.at >= since, EventRecord.at <= freeze_at,
        )
    ):  # fmt: skip
        if member_id is None:
            continue
        if at >= day_start:
            active.add(member_id)
        if (
            kind == "message.posted"
            and keyword
            and at >= keyword_from
            and says_keyword(data.get("text"), keyword)
        ):
            said.add(member_id)
    members = sorted({member for member, _ in stints})
    # Balances now: the ledger is operator state, so a late draw reads today's balance.
    points = balances_of(session, org, members)
    signed = signed_in_on(session, org, members, day)
    return [
        Candidate(
            member=member,
            is_member=True,
            joined_at=joined_at,
            is_staff=member in staff,
            is_flagged=member in flagged,
            points=points.get(member, 0),
            said_keyword=member in said,
            signed_in=member in signed,
            active_today=member in active,
        )
        for member, joined_at in sorted(stints, key=lambda stint: stint[0])
    ]


def win_code(draw_id: str, rank: int) -> str:
    """A short code on the certificate; derived, so a replayed draw gives the same one."""
    digest = hashlib.sha256(f"{draw_id}:{rank}".encode()).digest()
    return base64.b32encode(digest).decode()[:10]


def _lottery(session: Session, draw_record: DrawRecord) -> LotteryRecord:
    lottery = session.get(LotteryRecord, (draw_record.org, draw_record.lottery))
    if lottery is None:
        raise LookupError(f"lottery {draw_record.lottery!r} no longer exists")
    return lottery


def _post(
    context: Context,
    draw_record: DrawRecord,
    group: Group,
    text: str,
    mentions: list[str],
    *,
    part: int = 0,
) -> None:
    context.emit(
        Action(
            id=stable_id("lottery-result", draw_record.id, part),
            org=draw_record.org,
            kind=ActionKind.SEND_MESSAGE,
            cause=f"draw:{draw_record.id}",
            platform=group.platform,
            group=group.id,
            payload={"text": text, "mentions": mentions},
        )
    )


def _result_text(
    lottery: LotteryRecord,
    draw_record: DrawRecord,
    winners: list[tuple[str, str, str]],
    *,
    first: bool,
) -> str:
    by_prize: dict[str, list[str]] = {}
    for _, name, prize in winners:
        by_prize.setdefault(prize, []).append(name)
    seed, count, list_hash = draw_record.seed_hex, draw_record.entrant_count, draw_record.list_hash
    if lottery.lang == "en":
        lines = [f"“{lottery.name}” winners:"] if first else []
        lines += [f"{prize}: {', '.join(names)}" for prize, names in by_prize.items()]
        if first:
            lines.append(f"{count} entrants, list hash {list_hash}, seed {seed}. "
                         f"Check it: shequn lottery verify {draw_record.id}")  # fmt: skip
    else:
        lines = [f"🎉「{lottery.name}」中奖名单:"] if first else []
        lines += [f"{prize}:{'、'.join(names)}" for prize, names in by_prize.items()]
        if first:
            lines.append(f"参与 {count} 人,名单哈希 {list_hash},种子 {seed}。"
                         f"验证:shequn lottery verify {draw_record.id}")  # fmt: skip
    return "\n".join(lines)


def _not_started_text(lottery: LotteryRecord, present: int, needed: int) -> str:
    if lottery.lang == "en":
        return f"“{lottery.name}” starts once the group has {needed} members ({present} now): share the poster!"
    return f"「{lottery.name}」满 {needed} 人开奖,现在 {present} 人,快分享海报邀请好友吧!"


def verify_draw(session: Session, org: str, draw_id: str) -> tuple[DrawRecord, list[str]]:
    """Recompute a drawn draw from its published record alone, and against the commitment and
    list hash shequn announced before it."""
    draw_record = session.get(DrawRecord, draw_id)
    if draw_record is None or draw_record.org != org:
        raise UnknownDraw(draw_id)
    if draw_record.published is None:
        raise LotteryError(f"draw {draw_id} has not been drawn ({draw_record.status})")
    found = verify(draw_record.published, announced_commitment=draw_record.commitment,
                   announced_list_hash=draw_record.list_hash)  # fmt: skip
    return draw_record, list(found.problems)


def likes_on(
    session: Session, org: str, *, group: str, message: str, deadline: datetime
) -> list[Reaction]:
    """The message's likes from the log, in arrival order; a removal before the deadline takes
    back that member's latest like still standing."""
    rows = session.execute(
        select(EventRecord.member_id, EventRecord.type, EventRecord.at)
        .where(
            EventRecord.org == org,
            EventRecord.group_id == group,
            EventRecord.type.in_(("reaction.added", "reaction.removed")),
            EventRecord.at <= deadline,
            EventRecord.data["message"].as_string() == message,
        )
        .order_by(EventRecord.at, EventRecord.batch, EventRecord.position)
    ).all()
    likes: list[Reaction] = []
    for arrival, (member, kind, at) in enumerate(rows):
        if member is None:
            continue
        if kind == "reaction.added":
            likes.append(Reaction(member=member, at=at, arrival=arrival))
            continue
        standing = [i for i, like in enumerate(likes) if like.member == member and not like.removed]
        if standing:
            taken = likes[standing[-1]]
            likes[standing[-1]] = Reaction(taken.member, taken.at, taken.arrival, removed=True)
    return likes


def settle_nth_like(
    context: Context,
    org: str,
    *,
    group: str,
    message: str,
    n: int,
    every: bool,
    deadline: datetime,
    prize: PrizeSpec,
    lang: str,
) -> list[NthWin]:
    """ "The Nth like wins" (第 N 个赞): counted once, at the deadline; winners are recorded as
    wins, so the org's win limit sees them."""
    session = context.session
    found = session.get(Group, (org, group))
    if found is None:
        raise LotteryError(f"--group: {group} not known in this org")
    if deadline > context.now:
        raise LotteryError(f"--deadline {deadline.isoformat()} has not come yet")
    staff = set(session.scalars(select(Staff.id).where(Staff.org == org)))
    excluded = frozenset(staff | flagged_members(session, org))
    likes = likes_on(session, org, group=group, message=message, deadline=deadline)
    wins = list(nth_like_winners(likes, n=n, every=every, deadline=deadline, excluded=excluded))
    game_id = stable_id("nth", org, group, message, n, every, deadline.isoformat())
    names = nicknames(session, org, [win.member for win in wins])
    for win in wins:
        if session.get(LotteryWin, (game_id, win.position)) is None:
            session.add(
                LotteryWin(
                    draw_id=game_id,
                    rank=win.position,
                    org=org,
                    member_id=win.member,
                    prize=prize.name,
                    cost=prize.cost,
                    won_at=deadline,
                    code=win_code(game_id, win.position),
                    status=FulfilmentStatus.PENDING,
                    status_at=context.now,
                )
            )
    if lang == "en":
        lines = [
            f"Like #{w.position}: {names.get(w.member, w.member)} wins {prize.name}!" for w in wins
        ]
        text = "\n".join(lines) or f"Fewer than {n} likes: no winner this time."
    else:
        lines = [
            f"第 {w.position} 个赞:{names.get(w.member, w.member)},获得「{prize.name}」!"
            for w in wins
        ]
        text = "\n".join(lines) or f"点赞不足 {n} 个,本次无人中奖。"
    context.emit(
        Action(
            id=stable_id("nth-result", game_id),
            org=org,
            kind=ActionKind.SEND_MESSAGE,
            cause=f"nth:{game_id}",
            platform=found.platform,
            group=group,
            payload={"text": text, "mentions": [win.member for win in wins]},
        )
    )
    session.flush()
    return wins


def draw_summary(record: DrawRecord, names: dict[str, str]) -> dict[str, Any]:
    """What `lottery draw --json` and the API print of a draw."""
    published = record.published or {}
    return {
        "draw": record.id,
        "lottery": record.lottery,
        "group": record.group_id,
        "status": record.status,
        "freeze_at": record.freeze_text,
        "commitment": record.commitment,
        "entrant_count": record.entrant_count,
        "entrant_list_hash": record.list_hash,
        "seed": published.get("seed"),
        "winners": [
            {**winner, "nickname": names.get(winner["member"])}
            for winner in published.get("winners", [])
        ],
        "excluded": record.exclusions or {},
        "skip_reason": record.skip_reason,
    }


def draw_now(context: Context, org: str, draw_id: str) -> dict[str, Any]:
    """Draw a due draw that has not run yet (and any due before it); then its summary."""
    record = context.session.get(DrawRecord, draw_id)
    if record is None or record.org != org:
        raise UnknownDraw(draw_id)
    if record.status == DrawStatus.COMMITTED:
        if record.due_at > context.now:
            raise LotteryError(
                f"draw {draw_id} freezes its entrants at {record.freeze_text}; "
                "it cannot be drawn before"
            )
        draw_due(context, org, up_to=record.due_at)
    winners = [w["member"] for w in (record.published or {}).get("winners", [])]
    return draw_summary(record, nicknames(context.session, org, winners))
