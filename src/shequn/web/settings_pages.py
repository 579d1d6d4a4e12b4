"""The org's settings (设置), read and changed by owners and admins; every change in the staff
log, checked by the same rules as the command line's."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from shequn.api import shequn_of
from shequn.audit.rules import audit_policy
from shequn.campaign.rules import budget_of
from shequn.group.rules import DEFAULT_WELCOME_MENTIONS, DEFAULT_WELCOME_WINDOW, capacity_margin
from shequn.kit.time import utc_now
from shequn.org.changes import (
    SettingsChange,
    change_settings,
    mint_token,
    revoke_token,
    visible_settings,
)
from shequn.org.models import ApiToken, Org
from shequn.org.rules import CAMPAIGN, SettingRefused
from shequn.org.scopes import NAMES, ScopeError, parse_scopes
from shequn.org.scopes import shown as shown_scopes
from shequn.org.service import TokenNameError, UnknownToken, tokens_of
from shequn.points.policy import points_policy
from shequn.points.rules import EarnKind
from shequn.web.common import Signed, Visit, check_csrf, page, require
from shequn.web.i18n import translator
from shequn.web.rules import Permission

router = APIRouter()


class Kind(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    WHOLE = "whole"
    # A comma-separated list, e.g. member ids or sign-in words.
    WORDS = "words"
    CHOICE = "choice"
    FLAG = "flag"


@dataclass(frozen=True)
class Field:
    # The setting's name, as the API and the staff log name it; `campaign.x` for a budget part.
    name: str
    kind: Kind
    choices: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The field's words in i18n."""
        return "setting_" + self.name.replace(".", "_")


SECTIONS: tuple[tuple[str, tuple[Field, ...]], ...] = (
    ("settings_org", (Field("name", Kind.TEXT), Field("timezone", Kind.TEXT))),
    ("settings_welcome", (
        Field("welcome_text", Kind.LONG_TEXT), Field("welcome_window_seconds", Kind.WHOLE),
        Field("welcome_max_mentions", Kind.WHOLE), Field("capacity_margin", Kind.WHOLE),
    )),
    ("settings_audit", (
        Field("audit_audience", Kind.CHOICE, ("any", "female", "male")),
        Field("audit_review", Kind.WHOLE), Field("audit_kick", Kind.WHOLE),
        Field("audit_auto_kick", Kind.FLAG), Field("audit_whitelist", Kind.WORDS),
        Field("audit_crew", Kind.WORDS),
    )),
    ("settings_points", (
        Field("points_expiry_months", Kind.WHOLE), Field("points_sign_in_keywords", Kind.WORDS),
        Field("points_sign_in_base", Kind.WHOLE), Field("points_message", Kind.WHOLE),
        Field("points_reaction", Kind.WHOLE), Field("points_order_per_yuan", Kind.WHOLE),
        Field("points_invite", Kind.WHOLE), Field("points_replies", Kind.FLAG),
        Field("points_lang", Kind.CHOICE, ("zh", "en")),
        Field("points_board_period", Kind.CHOICE, ("day", "week", "all")),
        Field("points_board_top", Kind.WHOLE),
    )),
    ("settings_campaign", (
        Field("campaign.daily_messages", Kind.WHOLE), Field("campaign.daily_posts", Kind.WHOLE),
        Field("campaign.quiet_hours", Kind.TEXT),
    )),
)  # fmt: skip
FIELDS = {field.name: field for _, fields in SECTIONS for field in fields}


def in_force(org: Org) -> dict[str, Any]:
    """Each field's value as the rules read it, defaults filled in: what a change is against."""
    settings = org.settings
    audit = audit_policy(settings)
    points = points_policy(settings)
    budget = budget_of(settings)
    window = settings.get("welcome_window_seconds")
    mentions = settings.get("welcome_max_mentions")
    text = settings.get("welcome_text")
    quiet = "off" if budget.quiet is None else "{:02d}:{:02d}-{:02d}:{:02d}".format(
        *budget.quiet[0], *budget.quiet[1]
    )  # fmt: skip
    return {
        "name": org.name, "timezone": org.timezone,
        "welcome_text": text if isinstance(text, str) else "",
        "welcome_window_seconds": window if isinstance(window, int) and window > 0
        else int(DEFAULT_WELCOME_WINDOW.total_seconds()),
        "welcome_max_mentions": mentions if isinstance(mentions, int) and mentions > 0
        else DEFAULT_WELCOME_MENTIONS,
        "capacity_margin": capacity_margin(settings),
        "audit_audience": audit.audience, "audit_review": audit.thresholds.review,
        "audit_kick": audit.thresholds.kick, "audit_auto_kick": audit.auto_kick,
        "audit_whitelist": sorted(audit.whitelist), "audit_crew": sorted(audit.crew),
        "points_expiry_months": points.expiry_months,
        "points_sign_in_keywords": list(points.sign_in_keywords),
        "points_sign_in_base": points.sign_in.base,
        "points_message": points.rules[EarnKind.MESSAGE].points,
        "points_reaction": points.rules[EarnKind.REACTION].points,
        "points_order_per_yuan": points.rules[EarnKind.ORDER].points,
        "points_invite": points.rules[EarnKind.INVITE].points,
        "points_replies": points.replies, "points_lang": points.lang,
        "points_board_period": str(points.board_period), "points_board_top": points.board_top,
        "campaign.daily_messages": budget.daily_messages,
        "campaign.daily_posts": budget.daily_posts, "campaign.quiet_hours": quiet,
    }  # fmt: skip


def as_text(field: Field, value: Any) -> str:
    """A value as its form field shows it."""
    if field.kind is Kind.WORDS:
        return ", ".join(value)
    if field.kind is Kind.FLAG:
        return "yes" if value else "no"
    return str(value)


def typed(field: Field, text: str) -> Any:
    """A form field's text as the setting's value; the domain's rules judge the value."""
    if field.kind is Kind.WHOLE:
        if not text.strip().isdigit():
            raise SettingRefused(field.name, f"{text!r} is not a whole number")
        return int(text)
    if field.kind is Kind.WORDS:
        return [word.strip() for word in text.split(",") if word.strip()]
    if field.kind is Kind.FLAG:
        if text not in ("yes", "no"):
            raise SettingRefused(field.name, f"{text!r} is not yes or no")
        return text == "yes"
    return text.strip() if field.kind in (Kind.TEXT, Kind.CHOICE) else text


def changes_of(form: Mapping[str, str], current: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the form changes, budget parts gathered under `campaign`; a field left
    out or left as it was changes nothing."""
    changes: dict[str, Any] = {}
    for name, field in FIELDS.items():
        if name not in form:
            continue
        value = typed(field, form[name])
        if value == current[name]:
            continue
        section, _, part = name.partition(".")
        if part:
            changes.setdefault(section, {})[part] = value
        else:
            changes[name] = value
    return changes


def _render(
    request: Request, visit: Visit, org: Org, *, shown: Mapping[str, str],
    error: SettingRefused | None = None, tokens: Sequence[ApiToken] = (),
    minted: str | None = None, token_problem: str | None = None,
) -> HTMLResponse:  # fmt: skip
    settings, secrets = visible_settings(org)
    others = {name: json.dumps(value, ensure_ascii=False) for name, value in sorted(settings.items())
              if name not in FIELDS and name != CAMPAIGN}  # fmt: skip
    t = translator(visit.lang)
    problem = None
    if error is not None:
        field = FIELDS.get(error.name)
        problem = {"name": error.name, "label": t(field.key) if field else error.name,
                   "reason": error.reason}  # fmt: skip
    response = page(request, "settings.html", lang=visit.lang, visit=visit, org=org.id,
                    sections=SECTIONS, shown=shown, others=others, secrets=secrets,
                    problem=problem, changed=request.query_params.get("changed"),
                    recut=request.query_params.get("recut") == "1",
                    tokens=[(token.id, token.name, shown_scopes(token.scopes), token.created_at)
                            for token in tokens],
                    scopes=NAMES, minted=minted, token_problem=token_problem,
                    revoked=request.query_params.get("revoked"))  # fmt: skip
    if error is not None or token_problem is not None:
        response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    return response


def _org_of(session: Session, visit: Visit) -> Org:
    found = session.get(Org, visit.staff.org)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"org {visit.staff.org!r} not found")
    return found


@router.get("/dashboard/settings", response_class=HTMLResponse)
def settings_page(request: Request, visit: Signed) -> HTMLResponse:
    """The org's settings as in force, a form for those changed here, the rest read only."""
    require(visit, Permission.CHANGE_SETTINGS)
    with shequn_of(request).sessions() as session:
        org = _org_of(session, visit)
        return _render(request, visit, org, shown=_shown(org), tokens=tokens_of(session, org.id))


def _shown(org: Org) -> dict[str, str]:
    return {name: as_text(FIELDS[name], value) for name, value in in_force(org).items()}


def _save(request: Request, visit: Visit, form: Mapping[str, str]) -> SettingsChange | Response:
    shequn = shequn_of(request)
    try:
        with shequn.sessions.begin() as session:
            changes = changes_of(form, in_force(_org_of(session, visit)))
            return change_settings(session, visit.staff.org, changes,
                                   by=visit.staff.username, now=utc_now())  # fmt: skip
    except SettingRefused as error:
        # Nothing was saved: the form comes back as typed, the bad field named.
        with shequn.sessions() as session:
            org = _org_of(session, visit)
            shown = {name: form.get(name, as_text(FIELDS[name], value))
                     for name, value in in_force(org).items()}  # fmt: skip
            return _render(request, visit, org, shown=shown, error=error,
                           tokens=tokens_of(session, org.id))  # fmt: skip


@router.post("/dashboard/settings", response_model=None)
async def settings_save(request: Request, visit: Signed) -> Response:
    """Saves the fields that differ from the settings in force; one bad value saves none."""
    form = {name: value for name, value in (await request.form()).items()
            if isinstance(value, str)}  # fmt: skip
    check_csrf(visit, form.get("csrf", ""))
    require(visit, Permission.CHANGE_SETTINGS)
    saved = await run_in_threadpool(_save, request, visit, form)
    if isinstance(saved, Response):
        return saved
    query = f"?changed={','.join(saved.diff)}" + ("&recut=1" if saved.recut else "")
    return RedirectResponse(
        "/dashboard/settings" + (query if saved.diff else ""),
        status_code=status.HTTP_303_SEE_OTHER,
    )


def _mint(request: Request, visit: Visit, name: str, asked: list[str]) -> HTMLResponse:
    minted = problem = None
    with shequn_of(request).sessions.begin() as session:
        try:
            minted = mint_token(session, visit.staff.org, name=name or "api",
                                scopes=parse_scopes(asked), by=visit.staff.username,
                                now=utc_now())  # fmt: skip
        except (ScopeError, TokenNameError) as error:
            problem = str(error)
        org = _org_of(session, visit)
        response = _render(request, visit, org, shown=_shown(org),
                           tokens=tokens_of(session, org.id), minted=minted,
                           token_problem=problem)  # fmt: skip
    # The page holds a token: no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/dashboard/settings/tokens", response_class=HTMLResponse)
async def token_create(request: Request, visit: Signed) -> HTMLResponse:
    """Mints a token with the scopes ticked (none: all) and shows it this once."""
    form = await request.form()
    check_csrf(visit, str(form.get("csrf", "")))
    require(visit, Permission.CHANGE_SETTINGS)
    asked = [value for value in form.getlist("scope") if isinstance(value, str)]
    name = str(form.get("name", "")).strip()
    return await run_in_threadpool(_mint, request, visit, name, asked)


def _revoke(request: Request, visit: Visit, token_id: int) -> str:
    with shequn_of(request).sessions.begin() as session:
        try:
            return revoke_token(session, visit.staff.org, token_id, by=visit.staff.username).name
        except UnknownToken as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None


@router.post("/dashboard/settings/tokens/{token_id}/revoke", response_model=None)
async def token_revoke(request: Request, visit: Signed, token_id: int) -> Response:
    """Revokes one of the org's tokens: it stops working at once."""
    form = await request.form()
    check_csrf(visit, str(form.get("csrf", "")))
    require(visit, Permission.CHANGE_SETTINGS)
    name = await run_in_threadpool(_revoke, request, visit, token_id)
    return RedirectResponse(f"/dashboard/settings?{urlencode({'revoked': name})}#tokens",
                            status_code=status.HTTP_303_SEE_OTHER)  # fmt: skip
