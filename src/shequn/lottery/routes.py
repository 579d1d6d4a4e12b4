"""The public verify page of a draw: what was committed, who entered, who won, and the check."""

from html import escape
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from shequn.api import OperateOrg, ReadOrg, shequn_of
from shequn.lottery.models import DrawRecord, DrawStatus
from shequn.lottery.service import (
    LotteryError,
    UnknownDraw,
    draw_now,
    draw_summary,
    verify_draw,
)
from shequn.member.service import nicknames

router = APIRouter()


@router.get("/lottery/{org}/{draw_id}.json")
def published_draw(request: Request, org: str, draw_id: str) -> dict[str, Any]:
    """The published record of a drawn draw (the commitment alone before it is drawn)."""
    with shequn_of(request).sessions() as session:
        record = session.get(DrawRecord, draw_id)
        if record is None or record.org != org:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(UnknownDraw(draw_id)))
        if record.published is None:
            return {"draw": record.id, "status": record.status, "commitment": record.commitment,
                    "freeze_at": record.freeze_text}  # fmt: skip
        published: dict[str, Any] = record.published
        return published


@router.get("/lottery/{org}/{draw_id}", response_class=HTMLResponse)
def verify_page(request: Request, org: str, draw_id: str) -> HTMLResponse:
    """A page anyone can open from the group: recomputed here, and checkable offline."""
    with shequn_of(request).sessions() as session:
        record = session.get(DrawRecord, draw_id)
        if record is None or record.org != org:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(UnknownDraw(draw_id)))
        problems: list[str] = []
        if record.status == DrawStatus.DRAWN:
            try:
                record, problems = verify_draw(session, org, draw_id)
            except LotteryError as error:
                problems = [str(error)]
        rows = "".join(
            f"<tr><td>{w['rank']}</td><td>{escape(str(w['member']))}</td>"
            f"<td>{escape(str(w['prize']))}</td></tr>"
            for w in (record.published or {}).get("winners", [])
        )
        if record.status != DrawStatus.DRAWN:
            verdict = f"未开奖 Not drawn yet ({escape(record.status)})"
        elif problems:
            verdict = "验证失败 NOT VERIFIED<ul>" + "".join(
                f"<li>{escape(p)}</li>" for p in problems
            ) + "</ul>"  # fmt: skip
        else:
            verdict = "验证通过 VERIFIED: the winners follow from the published record"
        body = f"""<!doctype html><html lang="zh"><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>抽奖验证 {escape(record.id)}</title>
<h1>抽奖验证 Draw {escape(record.id)}</h1>
<p id="verdict">{verdict}</p>
<dl><dt>承诺码 Commitment</dt><dd><code>{escape(record.commitment)}</code></dd>
<dt>名单冻结 Entrants frozen at</dt><dd>{escape(record.freeze_text)}</dd>
<dt>参与人数 Entrants</dt><dd>{record.entrant_count if record.entrant_count is not None else "—"}</dd>
<dt>名单哈希 Entrant list hash</dt><dd><code>{escape(record.list_hash or "—")}</code></dd></dl>
<table><tr><th>#</th><th>member</th><th>prize</th></tr>{rows}</table>
<p><a href="{escape(draw_id)}.json">published record (JSON)</a> — check it yourself with the
recipe in docs/lottery-fairness.md, or <code>shequn lottery verify --file record.json</code>.</p>
</html>"""
    return HTMLResponse(body)


@router.get("/api/v1/lottery/draws")
def list_draws(request: Request, org: ReadOrg) -> list[dict[str, Any]]:
    """The token's org's draws, newest first, as `shequn lottery list --json` prints them."""
    with shequn_of(request).sessions() as session:
        draws = session.scalars(
            select(DrawRecord).where(DrawRecord.org == org)
            .order_by(DrawRecord.due_at.desc(), DrawRecord.id).limit(500)
        ).all()  # fmt: skip
        return [draw_summary(record, {}) for record in draws]


@router.post("/api/v1/lottery/draws/{draw_id}/draw")
def draw_draw(request: Request, org: OperateOrg, draw_id: str) -> dict[str, Any]:
    """Draw a due draw now (or return the one already drawn): 409 before its freeze time."""
    shequn = shequn_of(request)
    with shequn.sessions.begin() as session:
        context = shequn.context(session, org)
        try:
            result = draw_now(context, org, draw_id)
        except UnknownDraw as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        except LotteryError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        context.flush()
    return result


@router.get("/api/v1/lottery/draws/{draw_id}/verify")
def verify_draw_api(request: Request, org: ReadOrg, draw_id: str) -> dict[str, Any]:
    """The same answer as `shequn lottery verify DRAW --json`."""
    with shequn_of(request).sessions() as session:
        try:
            record, problems = verify_draw(session, org, draw_id)
        except UnknownDraw as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        except LotteryError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        published = record.published or {}
        winners = [w["member"] for w in published.get("winners", [])]
        names = nicknames(session, org, winners)
    return {
        "draw": record.id, "ok": not problems, "problems": problems,
        "entrant_count": len(published.get("entrants", [])),
        "commitment": published.get("commitment"), "seed": published.get("seed"),
        "winners": [{**w, "nickname": names.get(w["member"])} for w in published.get("winners", [])],
    }  # fmt: skip
