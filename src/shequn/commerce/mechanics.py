"""The fission mechanics of commerce: group-buys (拼团), bargains (砍价), assist tasks (助力) and
fission coupon shares (分享券). Joins, assists and clicks arrive as CLI or API calls (the event
contract has no type for them); each is idempotent, and deadlines are scheduled jobs."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from shequn.commerce.models import (
    AssistTask,
    Bargain,
    CouponShare,
    FriendHelp,
    GroupBuyDeal,
    GroupBuyJoin,
    GroupBuyTeam,
    HelpKind,
    Order,
    Product,
)
from shequn.commerce.orders import is_refunded_in_full
from shequn.commerce.rules import (
    CommerceRuleError,
    CouponKind,
    TaskStatus,
    TeamOutcome,
    TeamStatus,
    Tier,
    Trigger,
    check_tiers,
    share_amount,
    split_cut,
    task_after,
    team_at_deadline,
    team_on_join,
    team_refund,
)
from shequn.commerce.service import (
    CommerceNotFound,
    CommerceRefusal,
    issue_coupon,
    lang_of,
    template_of,
)
from shequn.commerce.texts import say, yuan
from shequn.engine.action import Action, ActionKind
from shequn.engine.context import Context, Job
from shequn.engine.models import JobRecord
from shequn.kit.ids import stable_id
from shequn.member.models import Member

DEADLINE_JOB = "commerce.deadline"
MAX_HOURS = 24 * 30


def _tell(context: Context, org: str, member: str, text: str, *, key: str, cause: str) -> None:
    person = context.rows.get(Member, (org, member))
    context.emit(
        Action(id=stable_id("commerce-dm", org, key, member), org=org,
               kind=ActionKind.SEND_DIRECT_MESSAGE, cause=cause,
               platform=None if person is None else person.platform, member=member,
               payload={"text": text})
    )  # fmt: skip


def _deadline(context: Context, org: str, what: str, target: str, due_at: datetime) -> None:
    context.schedule(Job(id=stable_id("commerce-deadline", org, what, target), org=org,
                         kind=DEADLINE_JOB, due_at=due_at,
                         payload={"what": what, "id": target}))  # fmt: skip


def _hours(hours: int) -> timedelta:
    if not 0 < hours <= MAX_HOURS:
        raise CommerceRefusal("bad_hours", f"--hours: between 1 and {MAX_HOURS}")
    return timedelta(hours=hours)


def tiers_of(deal: GroupBuyDeal) -> list[Tier]:
    return [Tier(int(tier["size"]), int(tier["price"])) for tier in deal.tiers]


def add_deal(
    context: Context, *, org: str, deal: str, sku: str, tiers: Sequence[Tier], hours: int
) -> GroupBuyDeal:
    """A group-buy offer on a product: teams of each tier's size buy at its price."""
    session = context.session
    product = session.get(Product, (org, sku))
    if product is None:
        raise CommerceNotFound("product", sku, org)
    if session.get(GroupBuyDeal, (org, deal)) is not None:
        raise CommerceRefusal("exists", f"group-buy {deal!r} already exists")
    try:
        check_tiers(tiers)
    except CommerceRuleError as error:
        raise CommerceRefusal("bad_tiers", f"--tier: {error}") from None
    _hours(hours)
    row = GroupBuyDeal(org=org, id=deal, sku=sku, name=product.name,
                       tiers=[{"size": t.size, "price": t.price} for t in tiers], hours=hours,
                       created_at=context.now)  # fmt: skip
    session.add(row)
    session.flush()
    return row


def _deal(context: Context, org: str, deal: str) -> GroupBuyDeal:
    row = context.session.get(GroupBuyDeal, (org, deal))
    if row is None:
        raise CommerceNotFound("group-buy", deal, org)
    return row


def _team(context: Context, org: str, team: str) -> GroupBuyTeam:
    row = context.session.get(GroupBuyTeam, (org, team), with_for_update=True)
    if row is None:
        raise CommerceNotFound("group-buy team", team, org)
    return row


def open_team(
    context: Context, *, org: str, deal: str, leader: str, order: str | None = None,
    key: str | None = None,
) -> GroupBuyTeam:  # fmt: skip
    """The leader opens a team (开团) and is its first member; `key` makes a retry return it."""
    row = _deal(context, org, deal)
    team_id = stable_id("team", org, deal, leader, key or context.now.isoformat())
    existing = context.session.get(GroupBuyTeam, (org, team_id))
    if existing is not None:
        return existing
    tiers = tiers_of(row)
    team = GroupBuyTeam(org=org, id=team_id, deal=deal, leader=leader, opened_at=context.now,
                        deadline=context.now + _hours(row.hours),
                        status=TeamStatus.OPEN.value, size=0, price=None,
                        settled_at=None)  # fmt: skip
    context.session.add(team)
    _deadline(context, org, "team", team_id, team.deadline)
    _tell(context, org, leader,
          say("team_opened", lang_of(context, org), name=row.name, hours=row.hours,
              size=tiers[0].size, price=yuan(tiers[0].price)),
          key=f"team-opened:{team_id}", cause=f"team:{team_id}")  # fmt: skip
    _add_member(context, row, team, leader, order)
    return team


def join_team(
    context: Context, *, org: str, team: str, member: str, order: str | None = None
) -> GroupBuyTeam:
    """A member joins (参团) at the first tier's price; a second join changes nothing."""
    row = _team(context, org, team)
    if context.session.get(GroupBuyJoin, (org, team, member)) is not None:
        return row
    if row.status != TeamStatus.OPEN:
        raise CommerceRefusal("closed", f"team {team}: already {row.status}")
    if context.now >= row.deadline:
        raise CommerceRefusal("expired", f"team {team}: its deadline {row.deadline} has passed")
    _add_member(context, _deal(context, org, row.deal), row, member, order)
    return row


def _add_member(
    context: Context, deal: GroupBuyDeal, team: GroupBuyTeam, member: str, order: str | None
) -> None:
    tiers = tiers_of(deal)
    context.session.add(GroupBuyJoin(org=team.org, team=team.id, member=member,
                                     paid=tiers[0].price, order_ref=order,
                                     joined_at=context.now, refunded=0))  # fmt: skip
    team.size += 1
    context.session.flush()
    outcome = team_on_join(tiers, team.size)
    if outcome.status is TeamStatus.SUCCEEDED:
        _settle_team(context, deal, team, outcome)


def _settle_team(
    context: Context, deal: GroupBuyDeal, team: GroupBuyTeam, outcome: TeamOutcome
) -> None:
    """Close the team: members told; what each is owed back becomes a refund task."""
    org = team.org
    lang = lang_of(context, org)
    team.status, team.price, team.settled_at = outcome.status.value, outcome.price, context.now
    joins = context.session.scalars(
        select(GroupBuyJoin)
        .where(GroupBuyJoin.org == org, GroupBuyJoin.team == team.id)
        .order_by(GroupBuyJoin.joined_at, GroupBuyJoin.member)
    ).all()
    needed = tiers_of(deal)[0].size
    for join in joins:
        refund = team_refund(paid=join.paid, outcome=outcome)
        join.refunded = refund
        if outcome.status is TeamStatus.FAILED:
            text = say("team_failed", lang, name=deal.name, size=team.size, needed=needed,
                       amount=yuan(join.paid))  # fmt: skip
        else:
            part = say("team_refund_part", lang, amount=yuan(refund)) if refund else ""
            text = say("team_succeeded", lang, name=deal.name, size=team.size,
                       price=yuan(outcome.price or 0), refund=part)  # fmt: skip
        _tell(context, org, join.member, text, key=f"team-{outcome.status}:{team.id}",
              cause=f"team:{team.id}")  # fmt: skip
        if refund:
            order = say("refund_task_order", lang, order=join.order_ref) if join.order_ref else ""
            title = {
                language: say("refund_task", language, name=deal.name, amount=yuan(refund),
                              member=join.member, order=order)
                for language in ("zh", "en")
            }  # fmt: skip
            context.emit(
                Action(id=stable_id("team-refund", org, team.id, join.member), org=org,
                       kind=ActionKind.CREATE_TASK, cause=f"team:{team.id}", member=join.member,
                       payload={"title": title, "refund": yuan(refund),
                                "order": join.order_ref, "team": team.id})
            )  # fmt: skip


def settle_team_at_deadline(context: Context, org: str, team_id: str) -> GroupBuyTeam:
    team = _team(context, org, team_id)
    if team.status == TeamStatus.OPEN:
        deal = _deal(context, org, team.deal)
        _settle_team(context, deal, team, team_at_deadline(tiers_of(deal), team.size))
    return team


def team_json(team: GroupBuyTeam, members: Sequence[GroupBuyJoin]) -> dict[str, Any]:
    return {
        "team": team.id,
        "deal": team.deal,
        "leader": team.leader,
        "status": team.status,
        "size": team.size,
        "price": None if team.price is None else yuan(team.price),
        "deadline": team.deadline.isoformat(),
        "members": [
            {"member": join.member, "paid": yuan(join.paid), "refund": yuan(join.refunded),
             "order": join.order_ref}
            for join in members
        ],
    }  # fmt: skip


def team_view(context: Context, org: str, team_id: str) -> dict[str, Any]:
    team = context.session.get(GroupBuyTeam, (org, team_id))
    if team is None:
        raise CommerceNotFound("group-buy team", team_id, org)
    joins = context.session.scalars(
        select(GroupBuyJoin)
        .where(GroupBuyJoin.org == org, GroupBuyJoin.team == team_id)
        .order_by(GroupBuyJoin.joined_at, GroupBuyJoin.member)
    ).all()
    return team_json(team, joins)


def _helps(context: Context, org: str, kind: HelpKind, target: str) -> int:
    return int(
        context.session.scalar(
            select(func.count())
            .select_from(FriendHelp)
            .where(
                FriendHelp.org == org, FriendHelp.kind == kind.value, FriendHelp.target == target
            )
        )
        or 0
    )


def _helped(context: Context, org: str, kind: HelpKind, target: str, friend: str) -> FriendHelp:
    return FriendHelp(org=org, kind=kind.value, target=target, friend=friend,
                      number=_helps(context, org, kind, target) + 1, amount=0,
                      at=context.now)  # fmt: skip


def open_bargain(
    context: Context, *, org: str, member: str, sku: str, start_price: int, target_price: int,
    assists: int, hours: int, seed: str | None = None, key: str | None = None,
) -> Bargain:  # fmt: skip
    """A bargain: `assists` friends cut `start_price` down to exactly `target_price`."""
    if context.session.get(Product, (org, sku)) is None:
        raise CommerceNotFound("product", sku, org)
    bargain_id = stable_id("bargain", org, member, sku, key or context.now.isoformat())
    existing = context.session.get(Bargain, (org, bargain_id))
    if existing is not None:
        return existing
    if not 0 <= target_price < start_price:
        raise CommerceRefusal("bad_price", "--target must lie below --start")
    try:
        split_cut(start_price - target_price, assists, seed or bargain_id)
    except CommerceRuleError as error:
        raise CommerceRefusal("bad_assists", f"--assists: {error}") from None
    bargain = Bargain(org=org, id=bargain_id, member=member, sku=sku, start_price=start_price,
                      target_price=target_price, assists=assists, seed=seed or bargain_id,
                      opened_at=context.now, deadline=context.now + _hours(hours),
                      status=TaskStatus.OPEN.value, cut=0, closed_at=None)  # fmt: skip
    context.session.add(bargain)
    context.session.flush()
    _deadline(context, org, "bargain", bargain_id, bargain.deadline)
    return bargain


@dataclass(frozen=True)
class Cut:
    friend: str
    number: int
    amount: int
    price: int
    status: str

    def as_json(self) -> dict[str, Any]:
        return {"friend": self.friend, "number": self.number, "cut": yuan(self.amount),
                "price": yuan(self.price), "status": self.status}  # fmt: skip


def _open_target(status: str, deadline: datetime, now: datetime, what: str) -> None:
    if status != TaskStatus.OPEN:
        raise CommerceRefusal("closed", f"{what}: already {status}")
    if now >= deadline:
        raise CommerceRefusal("expired", f"{what}: its deadline {deadline} has passed")


def assist_bargain(context: Context, *, org: str, bargain: str, friend: str) -> Cut:
    """A friend's one cut (帮砍一刀); asking again returns the same cut."""
    row = context.session.get(Bargain, (org, bargain), with_for_update=True)
    if row is None:
        raise CommerceNotFound("bargain", bargain, org)
    done = context.session.get(FriendHelp, (org, HelpKind.BARGAIN.value, bargain, friend))
    if done is not None:
        return Cut(friend, done.number, done.amount, row.start_price - row.cut, row.status)
    if friend == row.member:
        raise CommerceRefusal("own", "a member cannot cut their own bargain")
    _open_target(row.status, row.deadline, context.now, f"bargain {bargain}")
    help_row = _helped(context, org, HelpKind.BARGAIN, bargain, friend)
    cuts = split_cut(row.start_price - row.target_price, row.assists, row.seed)
    help_row.amount = cuts[help_row.number - 1]
    context.session.add(help_row)
    row.cut += help_row.amount
    lang = lang_of(context, org)
    price = row.start_price - row.cut
    if help_row.number == row.assists:
        row.status = task_after(TaskStatus(row.status), Trigger.COMPLETE).value
        row.closed_at = context.now
        text = say("bargain_done", lang, price=yuan(price))
    else:
        text = say("bargain_cut", lang, friend=friend, amount=yuan(help_row.amount),
                   left=row.assists - help_row.number, price=yuan(price))  # fmt: skip
    _tell(context, org, row.member, text, key=f"bargain:{bargain}:{friend}",
          cause=f"bargain:{bargain}")  # fmt: skip
    context.session.flush()
    return Cut(friend, help_row.number, help_row.amount, price, row.status)


def bargain_json(row: Bargain) -> dict[str, Any]:
    return {
        "bargain": row.id, "member": row.member, "sku": row.sku,
        "start": yuan(row.start_price), "target": yuan(row.target_price),
        "price": yuan(row.start_price - row.cut), "cut": yuan(row.cut), "assists": row.assists,
        "status": row.status, "deadline": row.deadline.isoformat(),
    }  # fmt: skip


def open_assist(
    context: Context, *, org: str, member: str, template: str, needed: int, hours: int,
    key: str | None = None,
) -> AssistTask:  # fmt: skip
    """An assist task (助力): `needed` friends help and `member` earns a `template` coupon."""
    template_of(context.session, org, template)
    task_id = stable_id("assist", org, member, template, key or context.now.isoformat())
    existing = context.session.get(AssistTask, (org, task_id))
    if existing is not None:
        return existing
    if needed < 1:
        raise CommerceRefusal("bad_needed", "--friends: at least 1")
    task = AssistTask(org=org, id=task_id, member=member, template=template, needed=needed,
                      opened_at=context.now, deadline=context.now + _hours(hours),
                      status=TaskStatus.OPEN.value, helped=0, coupon=None,
                      closed_at=None)  # fmt: skip
    context.session.add(task)
    context.session.flush()
    _deadline(context, org, "assist", task_id, task.deadline)
    return task


def help_assist(context: Context, *, org: str, task: str, friend: str) -> AssistTask:
    """A friend's one help; the last one needed issues the reward coupon."""
    row = context.session.get(AssistTask, (org, task), with_for_update=True)
    if row is None:
        raise CommerceNotFound("assist task", task, org)
    if context.session.get(FriendHelp, (org, HelpKind.ASSIST.value, task, friend)) is not None:
        return row
    if friend == row.member:
        raise CommerceRefusal("own", "a member cannot help their own task")
    _open_target(row.status, row.deadline, context.now, f"assist task {task}")
    context.session.add(_helped(context, org, HelpKind.ASSIST, task, friend))
    row.helped += 1
    if row.helped >= row.needed:
        row.status = task_after(TaskStatus(row.status), Trigger.COMPLETE).value
        row.closed_at = context.now
        row.coupon = issue_coupon(context, org=org, member=row.member, template=row.template,
                                  cause=f"assist:{task}")  # fmt: skip
    else:
        _tell(context, org, row.member,
              say("assist_progress", lang_of(context, org), friend=friend,
                  left=row.needed - row.helped),
              key=f"assist:{task}:{friend}", cause=f"assist:{task}")  # fmt: skip
    context.session.flush()
    return row


def assist_json(row: AssistTask) -> dict[str, Any]:
    return {
        "task": row.id, "member": row.member, "template": row.template, "needed": row.needed,
        "helped": row.helped, "status": row.status, "coupon": row.coupon,
        "deadline": row.deadline.isoformat(),
    }  # fmt: skip


@dataclass(frozen=True)
class ShareCoupon:
    share: str
    member: str
    code: str | None
    amount: int

    def as_json(self) -> dict[str, Any]:
        return {"share": self.share, "member": self.member, "code": self.code,
                "amount": yuan(self.amount)}  # fmt: skip


def share_order(
    context: Context, *, org: str, order: str, template: str, low: int, high: int, clicks: int
) -> ShareCoupon:
    """After an order, its buyer shares a link (分享券): they get a coupon of a random amount in
    [low, high]; one share per order, so sharing again returns the same."""
    row = context.session.get(Order, (org, order))
    if row is None:
        raise CommerceNotFound("order", order, org)
    if is_refunded_in_full(context, row):
        raise CommerceRefusal("refunded", f"order {order} was refunded")
    coupon_template = template_of(context.session, org, template)
    if coupon_template.kind != CouponKind.AMOUNT_OFF:
        raise CommerceRefusal("bad_template", f"template {template}: a share gives amount off")
    if not 0 < low <= high:
        raise CommerceRefusal("bad_range", "--min and --max: 0 < min <= max")
    if clicks < 1:
        raise CommerceRefusal("bad_clicks", "--clicks: at least 1")
    share_id = stable_id("share", org, order)
    share = context.session.get(CouponShare, (org, share_id))
    if share is None:
        share = CouponShare(org=org, id=share_id, order_id=order, sharer=row.member_id,
                            template=template, low=low, high=high, clicks=clicks,
                            created_at=context.now)  # fmt: skip
        context.session.add(share)
        context.session.flush()
    return _share_coupon(context, share, share.sharer)


def _share_coupon(context: Context, share: CouponShare, member: str) -> ShareCoupon:
    amount = share_amount(low=share.low, high=share.high, seed=share.id, clicker=member)
    code = issue_coupon(context, org=share.org, member=member, template=share.template,
                        cause=f"share:{share.id}", amount_off=amount)  # fmt: skip
    return ShareCoupon(share.id, member, code, amount)


def click_share(context: Context, *, org: str, share: str, member: str) -> ShareCoupon:
    """A friend opens the share: one coupon each, up to the share's number of clicks."""
    row = context.session.get(CouponShare, (org, share), with_for_update=True)
    if row is None:
        raise CommerceNotFound("share", share, org)
    if member == row.sharer:
        return _share_coupon(context, row, member)
    if context.session.get(FriendHelp, (org, HelpKind.SHARE.value, share, member)) is None:
        help_row = _helped(context, org, HelpKind.SHARE, share, member)
        if help_row.number > row.clicks:
            raise CommerceRefusal("used_up", f"share {share}: all {row.clicks} coupons are taken")
        result = _share_coupon(context, row, member)
        help_row.amount = result.amount if result.code else 0
        context.session.add(help_row)
        context.session.flush()
        return result
    return _share_coupon(context, row, member)


def run_deadline(context: Context, job: JobRecord) -> None:
    """A team, bargain or assist task reached its deadline: close what is still open."""
    what, target = str(job.payload["what"]), str(job.payload["id"])
    if what == "team":
        settle_team_at_deadline(context, job.org, target)
    elif what == "bargain":
        _expire_bargain(context, job.org, target)
    elif what == "assist":
        _expire_assist(context, job.org, target)
    else:
        raise ValueError(f"deadline of an unknown kind {what!r}")


def _expire_bargain(context: Context, org: str, target: str) -> None:
    row = context.session.get(Bargain, (org, target), with_for_update=True)
    if row is None or row.status != TaskStatus.OPEN:
        return
    row.status = task_after(TaskStatus.OPEN, Trigger.DEADLINE_SHORT).value
    row.closed_at = context.now
    _tell(context, org, row.member,
          say("bargain_expired", lang_of(context, org), sku=row.sku, cut=yuan(row.cut)),
          key=f"bargain-expired:{target}", cause=f"bargain:{target}")  # fmt: skip


def _expire_assist(context: Context, org: str, target: str) -> None:
    row = context.session.get(AssistTask, (org, target), with_for_update=True)
    if row is None or row.status != TaskStatus.OPEN:
        return
    row.status = task_after(TaskStatus.OPEN, Trigger.DEADLINE_SHORT).value
    row.closed_at = context.now
    _tell(context, org, row.member,
          say("assist_expired", lang_of(context, org), helped=row.helped, needed=row.needed),
          key=f"assist-expired:{target}", cause=f"assist:{target}")  # fmt: skip
