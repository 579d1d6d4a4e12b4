"""The replies to chat commands (签到, 积分, 排行): every request of one group's window answered
in one message, with @-mentions."""

from datetime import datetime

from sqlalchemy import delete, select

from shequn.engine.action import Action, ActionKind
from shequn.engine.context import Context
from shequn.engine.models import JobRecord
from shequn.group.models import Group
from shequn.kit.ids import stable_id
from shequn.member.service import nicknames
from shequn.points.models import PointsReply, ReplyKind
from shequn.points.rules import Period
from shequn.points.service import balances_of, points_board, policy_of

# One reply per group and window names at most this many members; the rest are counted.
MAX_MENTIONS = 20


PERIOD_WORDS = {
    "zh": {Period.DAY: "今日", Period.WEEK: "本周", Period.ALL: "总"},
    "en": {Period.DAY: "today", Period.WEEK: "this week", Period.ALL: "all time"},
}


def _reply_line(
    lang: str,
    name: str,
    request: PointsReply,
    *,
    balance: int,
    rank: tuple[int, int] | None,
    period: str,
) -> str:
    detail = request.detail
    if request.kind == ReplyKind.SIGN_IN:
        streak, points = int(detail.get("streak", 1)), int(detail.get("points", 0))
        if not detail.get("counted"):
            return (f"{name} already signed in today ({streak}-day streak)" if lang == "en"
                    else f"{name} 今天已签到,连续 {streak} 天")  # fmt: skip
        return (f"{name} signed in: +{points} points, {streak}-day streak" if lang == "en"
                else f"{name} 签到成功 +{points} 积分,连续 {streak} 天")  # fmt: skip
    if request.kind == ReplyKind.BALANCE:
        return f"{name}: {balance} points" if lang == "en" else f"{name} 当前积分 {balance}"
    if rank is None:
        return (f"{name}: not on the board {period} yet" if lang == "en"
                else f"{name} {period}暂未上榜")  # fmt: skip
    return (f"{name}: #{rank[0]} {period} ({rank[1]} points)" if lang == "en"
            else f"{name} {period}排名第 {rank[0]}({rank[1]} 积分)")  # fmt: skip


def post_replies(context: Context, job: JobRecord) -> None:
    """Answer every sign-in, balance and board request of one group's window in one message."""
    org, group_id = job.org, str(job.payload["group"])
    window = datetime.fromisoformat(str(job.payload["window"]))
    session = context.session
    where = (PointsReply.org == org, PointsReply.group_id == group_id,
             PointsReply.window == window)  # fmt: skip
    requests = session.scalars(
        select(PointsReply).where(*where).order_by(PointsReply.at, PointsReply.member)
    ).all()
    group = context.rows.get(Group, (org, group_id))
    if not requests or group is None or group.dismissed_at is not None:
        session.execute(delete(PointsReply).where(*where))
        return
    policy = policy_of(context, org)
    lang = policy.lang
    asking = list(dict.fromkeys(request.member for request in requests))
    named = asking[:MAX_MENTIONS]
    names = nicknames(session, org, named)
    balances = balances_of(session, org, named)
    period = PERIOD_WORDS[lang][policy.board_period]
    wants_board = any(request.kind == ReplyKind.RANK for request in requests)
    board = points_board(
        session, org, period=policy.board_period, at=job.due_at, group=group_id,
        timezone=context.tenant(org).timezone,
    ) if wants_board else []  # fmt: skip
    ranks = {row.member: (row.rank, row.points) for row in board}
    lines = [
        _reply_line(lang, names.get(request.member, request.member), request,
                    balance=balances[request.member], rank=ranks.get(request.member),
                    period=period)
        for request in requests
        if request.member in named
    ]  # fmt: skip
    if len(asking) > len(named):
        more = len(asking) - len(named)
        lines.append(f"… and {more} more" if lang == "en" else f"… 另有 {more} 人")
    if wants_board:
        top = board[: policy.board_top]
        top_names = nicknames(session, org, [row.member for row in top])
        shown = " · ".join(f"{r.rank}. {top_names.get(r.member, r.member)} {r.points}" for r in top)
        title = f"Points board ({period})" if lang == "en" else f"{period}积分榜"
        lines.append(f"{title}: {shown or '—'}" if lang == "en" else f"{title}:{shown or '—'}")
    context.emit(
        Action(
            id=stable_id("points-reply", job.id),
            org=org,
            kind=ActionKind.SEND_MESSAGE,
            cause=f"job:{job.id}",
            platform=group.platform,
            group=group_id,
            payload={"text": "\n".join(lines), "mentions": named},
        )
    )
    session.execute(delete(PointsReply).where(*where))
