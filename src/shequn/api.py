"""HTTP: the event intake and the outbox, behind org-scoped bearer tokens."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select

from shequn.engine.intake import decode_body
from shequn.engine.models import ActionRecord, ActionStatus
from shequn.invite.livecode import UnknownLiveCode, route_next
from shequn.invite.models import InviteCodeRecord
from shequn.invite.service import InviteQuery, count_invites_as_of
from shequn.kit.time import TimeError, parse_instant, utc_now
from shequn.member.rules import TagError
from shequn.member.service import (
    BY_LENGTH,
    UnknownMember,
    known_tags_of,
    tag_member,
    tags_of,
)
from shequn.org.changes import change_settings, visible_settings
from shequn.org.models import Org as OrgRecord
from shequn.org.rules import SettingRefused
from shequn.org.scopes import Scope, allows, shown
from shequn.org.service import token_of
from shequn.wiring import Shequn

router = APIRouter(prefix="/api/v1")
# What members reach without a token: the links printed on posters.
public = APIRouter()


class RejectedOut(BaseModel):
    id: str | None
    line: int | None
    error: str


class IngestOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[RejectedOut]


class ActionOut(BaseModel):
    id: str
    kind: str
    status: str
    platform: str | None
    group: str | None
    member: str | None
    payload: dict[str, Any]
    attempts: int
    cause: str
    created_at: str
    done_at: str | None
    connector: str | None
    last_error: str | None


def shequn_of(request: Request) -> Shequn:
    app_state: Shequn = request.app.state.shequn
    return app_state


@dataclass(frozen=True)
class Caller:
    """Who a request's bearer token speaks for: its org, its name and its scopes."""

    org: str
    name: str
    scopes: str


def token_caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    if authorization is None or not authorization.lower().startswith("bearer "):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing token: send 'Authorization: Bearer <token>' (shequn token create --org ORG)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    with shequn_of(request).sessions() as session:
        found = token_of(session, authorization[7:].strip())
        if found is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "unknown token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Caller(org=found.org, name=found.name, scopes=found.scopes)


def scoped(scope: Scope) -> Any:
    """A dependency giving the token's org when the token has the scope, else 403 naming it."""

    def org_of(caller: Annotated[Caller, Depends(token_caller)]) -> str:
        if not allows(caller.scopes, scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"token {caller.name!r} lacks the scope {scope.value!r}; it has "
                f"{', '.join(shown(caller.scopes))} "
                f"(shequn token create --org {caller.org} --scope {scope.value})",
            )
        return caller.org

    return Depends(org_of)


# The org of a token with the scope each route needs (shequn.org.scopes).
EventsOrg = Annotated[str, scoped(Scope.EVENTS)]
ReadOrg = Annotated[str, scoped(Scope.READ)]
MemberOrg = Annotated[str, scoped(Scope.MEMBER)]
OperateOrg = Annotated[str, scoped(Scope.OPERATE)]
SettingsOrg = Annotated[str, scoped(Scope.SETTINGS)]

EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "description": "Events of the contract: a JSON array, or JSON Lines (one object per line).",
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


async def read_body(request: Request, *, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed the limit."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
    return bytes(body)


@router.post("/events", response_model=IngestOut, openapi_extra=EVENTS_BODY)
async def post_events(request: Request, org: EventsOrg) -> IngestOut:
    """Take in events; the token's org is the default and the only one that may be written."""
    shequn = shequn_of(request)
    body = await read_body(request, limit=shequn.settings.max_body_bytes)
    intake = shequn.intake(origin="api", default_org=org, allowed_orgs=frozenset({org}))
    summary = await run_in_threadpool(intake.ingest, decode_body(body))
    return IngestOut.model_validate(summary.as_json())


@router.get("/outbox", response_model=list[ActionOut])
def list_outbox(
    request: Request, org: ReadOrg, state: ActionStatus | None = None, limit: int = 100
) -> list[ActionOut]:
    shequn = shequn_of(request)
    with shequn.sessions() as session:
        query = select(ActionRecord).where(ActionRecord.org == org)
        if state is not None:
            query = query.where(ActionRecord.status == state)
        rows = session.scalars(
            query.order_by(ActionRecord.created_at.desc()).limit(min(limit, 1000))
        )
        return [ActionOut.model_validate(row.as_json()) for row in rows]


class InviterOut(BaseModel):
    inviter: str
    invited: int
    effective: int
    left: int
    kicked: int
    flagged: int


def _instant(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except TimeError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: {error}") from None


@router.get("/reports/invites", response_model=list[InviterOut])
def report_invites(
    request: Request,
    org: ReadOrg,
    group: str | None = None,
    since: Annotated[str | None, Query(alias="from")] = None,
    until: Annotated[str | None, Query(alias="to")] = None,
    at: str | None = None,
) -> list[InviterOut]:
    """Effective invites per inviter, as `shequn report invites --json` prints them."""
    query = InviteQuery(
        at=_instant("at", at) or utc_now(),
        group=group,
        since=_instant("from", since),
        until=_instant("to", until),
    )
    with shequn_of(request).sessions() as session:
        counts = count_invites_as_of(session, org, query)
    return [InviterOut.model_validate(count.as_json()) for count in counts]


class RouteOut(BaseModel):
    group: str | None
    task: str | None


@router.post("/livecodes/{code}/next", response_model=RouteOut)
def next_of_live_code(request: Request, org: MemberOrg, code: str) -> RouteOut:
    """The group the next newcomer of a live code goes to; with every group full, `group` is
    null and `task` names the operator task raised to open the next one."""
    shequn = shequn_of(request)
    with shequn.sessions.begin() as session:
        context = shequn.context(session, org)
        try:
            route = route_next(context, org, code)
        except UnknownLiveCode as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        context.flush()
    return RouteOut(group=route.group, task=route.task)


NO_LINK_PAGE = """<!doctype html><html lang="zh"><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>shequn 社群</title>
<p>这个邀请码还没有入群链接,请联系邀请你的人。</p>
<p>This invite code has no join link yet; ask the person who invited you.</p></html>"""


@public.get("/j/{org}/{code}", response_class=RedirectResponse, status_code=302)
def join_by_code(request: Request, org: str, code: str) -> Response:
    """A poster's QR code: on to the platform's join link of the code."""
    with shequn_of(request).sessions() as session:
        record = session.get(InviteCodeRecord, (org, code))
    if record is None or record.link is None:
        return HTMLResponse(NO_LINK_PAGE, status_code=status.HTTP_404_NOT_FOUND)
    return RedirectResponse(record.link, status_code=status.HTTP_302_FOUND)


class TagsIn(BaseModel):
    tags: list[str]


class TagsOut(BaseModel):
    member: str
    tags: list[str]


def api_caller(caller: Annotated[Caller, Depends(token_caller)]) -> str:
    """Who the staff log names for a change made with a token: api:<the token's name>."""
    # A log label: a token name may be longer than the staff log's username column holds.
    return f"api:{caller.name}"[:BY_LENGTH]


def _tag(request: Request, org: str, member: str, *, by: str, add: list[str],
         remove: list[str]) -> TagsOut:  # fmt: skip
    with shequn_of(request).sessions.begin() as session:
        try:
            tag_member(session, org, member, add=add, remove=remove, by=by, now=utc_now())
        except UnknownMember as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        except TagError as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
        return TagsOut(member=member, tags=tags_of(session, org, member))


@router.get("/members/{member}/tags", response_model=TagsOut)
def get_member_tags(request: Request, org: ReadOrg, member: str) -> TagsOut:
    """A member's tags, as `shequn member tags --json` prints them."""
    with shequn_of(request).sessions() as session:
        try:
            return TagsOut(member=member, tags=known_tags_of(session, org, member))
        except UnknownMember as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None


@router.post("/members/{member}/tags", response_model=TagsOut)
def add_member_tags(
    request: Request, org: OperateOrg, member: str, body: TagsIn,
    by: Annotated[str, Depends(api_caller)],
) -> TagsOut:  # fmt: skip
    """Adds the tags; a bad one refuses them all (422). Logged under the token's name."""
    return _tag(request, org, member, by=by, add=body.tags, remove=[])


@router.delete("/members/{member}/tags", response_model=TagsOut)
def remove_member_tags(
    request: Request, org: OperateOrg, member: str, tag: Annotated[list[str], Query(min_length=1)],
    by: Annotated[str, Depends(api_caller)],
) -> TagsOut:  # fmt: skip
    """Removes the tags given as `?tag=…` (repeatable). Logged under the token's name."""
    return _tag(request, org, member, by=by, add=[], remove=tag)


class SettingsOut(BaseModel):
    org: str
    name: str
    timezone: str
    # Every setting but the secrets, which are only counted.
    settings: dict[str, Any]
    secrets: dict[str, int]


class SettingsChangeOut(SettingsOut):
    changed: list[str]
    # Whether a new time zone had the daily figures cut again.
    recut: bool


def settings_out(org: OrgRecord) -> SettingsOut:
    settings, secrets = visible_settings(org)
    return SettingsOut(org=org.id, name=org.name, timezone=org.timezone, settings=settings,
                       secrets=secrets)  # fmt: skip


def refused(error: SettingRefused) -> HTTPException:
    """422 in the shape of FastAPI's own validation errors, naming the setting."""
    detail = [{"loc": ["body", error.name], "msg": error.reason, "type": "value_error"}]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


@router.get("/settings", response_model=SettingsOut)
def get_settings(request: Request, org: ReadOrg) -> SettingsOut:
    """The org's name, time zone and settings; webhook secrets only counted."""
    with shequn_of(request).sessions() as session:
        found = session.get(OrgRecord, org)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"org {org!r} not found")
        return settings_out(found)


@router.patch("/settings", response_model=SettingsChangeOut)
def patch_settings(
    request: Request, org: SettingsOrg, changes: Annotated[dict[str, Any], Body()],
    by: Annotated[str, Depends(api_caller)],
) -> SettingsChangeOut:  # fmt: skip
    """Changes the settings given, checked as the command line checks them; one bad value
    refuses them all (422 naming it). Logged under the token's name; a new time zone re-cuts
    the daily figures."""
    shequn = shequn_of(request)
    with shequn.sessions.begin() as session:
        try:
            change = change_settings(session, org, changes, by=by, now=utc_now())
        except SettingRefused as error:
            raise refused(error) from None
        found = session.get(OrgRecord, org)
        assert found is not None
        shown = settings_out(found)
    return SettingsChangeOut(**shown.model_dump(), changed=sorted(change.diff), recut=change.recut)
