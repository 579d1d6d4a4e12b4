"""`shequn member …`: the tags staff put on members."""

import json
from typing import Annotated

import typer

from shequn.cli.common import DbOption, JsonOption, console, fail, opened
from shequn.cli.invite import OrgOption
from shequn.cli.staff import ByOption, actor
from shequn.kit.time import utc_now
from shequn.member.rules import TagError
from shequn.member.service import UnknownMember, known_tags_of, tag_member, tags_of

member_app = typer.Typer(help="Members (会员): the tags staff put on them.", no_args_is_help=True)
MemberArgument = Annotated[str, typer.Argument(help="The member's platform id.")]


@member_app.command("tag")
def member_tag(
    member: MemberArgument,
    db: DbOption = None,
    org: OrgOption = None,
    add: Annotated[
        list[str] | None, typer.Option("--add", help="A tag to add (repeatable): VIP, 团长 …")
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="A tag to remove (repeatable).")
    ] = None,
    by: ByOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add or remove a member's tags (会员标签); prints the tags after; logged with who."""
    if not add and not remove:
        fail("give at least one --add or --remove")
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        who = actor(by)
        try:
            tag_member(session, org_id, member, add=add or [], remove=remove or [],
                                by=who, now=utc_now())  # fmt: skip
        except (TagError, UnknownMember) as error:
            fail(str(error))
        tags = tags_of(session, org_id, member)
    _show(member, tags, as_json=as_json)


@member_app.command("tags")
def member_tags(
    member: MemberArgument, db: DbOption = None, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """A member's tags (会员标签)."""
    with opened(db) as shequn, shequn.sessions() as session:
        try:
            tags = known_tags_of(session, org or shequn.settings.default_org, member)
        except UnknownMember as error:
            fail(str(error))
    _show(member, tags, as_json=as_json)


def _show(member: str, tags: list[str], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"member": member, "tags": tags}, ensure_ascii=False))
    else:
        console.print(f"{member}: {', '.join(tags) if tags else '—'}", highlight=False)
