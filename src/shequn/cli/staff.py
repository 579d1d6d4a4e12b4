"""`shequn staff …`: dashboard logins and their roles; who the staff log names for a command."""

import json
import sys
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from shequn.cli.common import DbOption, JsonOption, console, fail, opened
from shequn.cli.invite import OrgOption
from shequn.kit.time import utc_now
from shequn.member.phones import PhoneKeyError, new_key, phone_key, seal_phones
from shequn.member.service import BY_LENGTH
from shequn.org.changes import CLI, process_user
from shequn.web.common import record
from shequn.web.models import StaffSession, StaffUser
from shequn.web.rules import SCOPED_ROLES, Role, hash_password

staff_app = typer.Typer(help="Dashboard logins (后台账号) and their roles.", no_args_is_help=True)
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who does it, for the staff log (default: you).")
]


def actor(by: str | None) -> str:
    """Who the staff log names for a command: --by, else the OS user."""
    if by and len(by) > BY_LENGTH:
        fail(f"--by: {len(by)} characters, at most {BY_LENGTH}")
    return by or process_user()


@staff_app.command("create")
def staff_create(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[Role, typer.Option(help="owner, admin, operator, store_manager or analyst.")],
    db: DbOption = None,
    org: OrgOption = None,
    store: Annotated[
        str | None,
        typer.Option(help="The store a store_manager sees; an operator's store, if any."),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a dashboard login (创建后台账号), or reset its password and role."""
    if not 1 <= len(username) <= 100 or not username.isprintable() or " " in username:
        fail(f"username: {username!r} must be 1-100 printable characters without spaces")
    if role is Role.STORE_MANAGER and store is None:
        fail("--store is required for a store_manager")
    if store is not None and role not in SCOPED_ROLES:
        fail(f"--store: only a store_manager or an operator has one, not an {role}")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password 密码", hide_input=True, confirmation_prompt=True)
    try:
        hashed = hash_password(password)
    except ValueError as error:
        fail(str(error))
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        shequn.registry.tenancy.ensure(session, [org_id], utc_now())
        user = session.get(StaffUser, (org_id, username))
        if user is None:
            session.add(StaffUser(org=org_id, username=username, password_hash=hashed,
                                  role=str(role), store=store, created_at=utc_now(),
                                  disabled_at=None))  # fmt: skip
        else:
            user.password_hash, user.role, user.store, user.disabled_at = (
                hashed,
                str(role),
                store,
                None,
            )
            # A new password ends every session opened with the old one.
            for old in session.scalars(
                select(StaffSession).where(
                    StaffSession.org == org_id, StaffSession.username == username
                )
            ):
                session.delete(old)
        record(session, (org_id, CLI), "staff_created", target=username,
               detail={"role": str(role), "store": store})  # fmt: skip
    console.print(f"staff 账号 {username}: {role}{f' · {store}' if store else ''}")


@staff_app.command("disable")
def staff_disable(
    username: Annotated[str, typer.Argument(help="Login name.")],
    db: DbOption = None,
    org: OrgOption = None,
) -> None:
    """Disable a login (停用账号); its sessions end at once."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        user = session.get(StaffUser, (org_id, username))
        if user is None:
            fail(f"no staff login {username!r} in org {org_id!r}")
        user.disabled_at = utc_now()
        record(session, (org_id, CLI), "staff_disabled", target=username)
        for old in session.scalars(
            select(StaffSession).where(
                StaffSession.org == org_id, StaffSession.username == username
            )
        ):
            session.delete(old)
    console.print(f"disabled 已停用 {username}")


@staff_app.command("list")
def staff_list(db: DbOption = None, org: OrgOption = None, as_json: JsonOption = False) -> None:
    """Dashboard logins (账号列表)."""
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        users = session.scalars(
            select(StaffUser).where(StaffUser.org == org_id).order_by(StaffUser.username)
        ).all()
        rows = [
            {"username": u.username, "role": u.role, "store": u.store,
             "disabled": u.disabled_at is not None}
            for u in users
        ]  # fmt: skip
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("username 用户名", "role 角色", "store 门店", "disabled 停用")
    for row in rows:
        table.add_row(str(row["username"]), str(row["role"]), str(row["store"] or ""),
                      "yes" if row["disabled"] else "")  # fmt: skip
    console.print(table)


@staff_app.command("phone-key")
def staff_phone_key() -> None:
    """Print a new key for sealing phone numbers (手机号加密密钥): set it as SHEQUN_PHONE_KEY."""
    print(new_key())


@staff_app.command("seal-phones")
def staff_seal_phones(
    db: DbOption = None,
    org: OrgOption = None,
    clear_plaintext: Annotated[
        bool,
        typer.Option(
            "--clear-plaintext", help="Then mask the member rows' and the event log's copies."
        ),
    ] = False,
) -> None:
    """Seal the phone numbers stored in clear before SHEQUN_PHONE_KEY was set (加密手机号)."""
    try:
        key = phone_key()
    except PhoneKeyError as error:
        fail(str(error))
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        try:
            count = seal_phones(session, org_id, key=key, now=utc_now(),
                                clear_plaintext=clear_plaintext)  # fmt: skip
        except PhoneKeyError as error:
            fail(str(error))
        record(session, (org_id, CLI), "phones_sealed", detail={"count": count})
    console.print(f"sealed 已加密 {count}")
