"""`shequn webhook secret …`: the secrets shops and bots sign POST /webhooks/ORG/events with."""

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from shequn.cli.common import DbOption, console, errors, fail, opened
from shequn.connectors.webhook.signing import (
    SECRETS_SETTING,
    generate_secret,
    mask_secret,
    secrets_in,
)
from shequn.kit.time import utc_now
from shequn.org.changes import record_config_change
from shequn.org.models import Org
from shequn.org.service import UnknownOrg, save_org

webhook_app = typer.Typer(
    help="Signed webhooks (签名回调) for shops and bots: POST /webhooks/ORG/events.",
    no_args_is_help=True,
)
secret_app = typer.Typer(
    help="Webhook signing secrets (签名密钥); several are valid at once, for rotation.",
    no_args_is_help=True,
)
webhook_app.add_typer(secret_app, name="secret")

OrgOption = Annotated[str, typer.Option(help="The org whose webhook this is.")]


def _org_for_update(session: Session, org_id: str) -> Org:
    # Locked so two operators adding secrets at once do not each drop the other's.
    org = session.get(Org, org_id, with_for_update=True)
    if org is None:
        fail(str(UnknownOrg(org_id)))
    return org


def _save_secrets(session: Session, org: Org, secrets: list[str]) -> None:
    record_config_change(session, org.id, {SECRETS_SETTING: secrets})
    # save_org merges settings key by key, so the org's other settings stay as they are.
    save_org(
        session,
        org.id,
        name=None,
        timezone=org.timezone,
        settings={SECRETS_SETTING: secrets},
        now=utc_now(),
    )


@secret_app.command("create")
def secret_create(org: OrgOption, db: DbOption = None) -> None:
    """Add a signing secret; it is printed once, give it to the shop (创建签名密钥)."""
    with opened(db) as shequn:
        with shequn.sessions.begin() as session:
            record = _org_for_update(session, org)
            secret = generate_secret()
            _save_secrets(session, record, [*secrets_in(record.settings), secret])
        url = f"{shequn.settings.public_url.rstrip('/')}/webhooks/{org}/events"
    errors.print(f"webhook secret for POST {url} (shown once, 仅显示一次):", highlight=False)
    print(secret)


@secret_app.command("list")
def secret_list(org: OrgOption, db: DbOption = None) -> None:
    """List the org's signing secrets, masked (签名密钥列表)."""
    with opened(db) as shequn, shequn.sessions() as session:
        record = session.get(Org, org)
        if record is None:
            fail(str(UnknownOrg(org)))
        secrets = secrets_in(record.settings)
    if not secrets:
        errors.print(f"org {org} has no webhook secret: its webhook answers 404", highlight=False)
    for secret in secrets:
        console.print(mask_secret(secret), highlight=False)


@secret_app.command("revoke")
def secret_revoke(
    org: OrgOption,
    prefix: Annotated[
        str, typer.Argument(metavar="PREFIX", help="The secret's start, as `list` shows it.")
    ],
    db: DbOption = None,
) -> None:
    """Stop accepting a signing secret (吊销签名密钥)."""
    prefix = prefix.removesuffix("…")
    if not prefix:
        fail("PREFIX is empty: give the start of a secret as `shequn webhook secret list` shows it")
    with opened(db) as shequn, shequn.sessions.begin() as session:
        record = _org_for_update(session, org)
        secrets = secrets_in(record.settings)
        matching = sorted({secret for secret in secrets if secret.startswith(prefix)})
        if not matching:
            fail(f"no webhook secret of org {org} starts with {prefix!r}")
        if len(matching) > 1:
            masked = ", ".join(mask_secret(secret) for secret in matching)
            fail(
                f"prefix {prefix!r} is ambiguous: {len(matching)} secrets start with it ({masked})"
            )
        kept = [secret for secret in secrets if secret != matching[0]]
        _save_secrets(session, record, kept)
    console.print(f"revoked 已吊销 {mask_secret(matching[0])} · {len(kept)} left", highlight=False)
    if not kept:
        console.print(
            f"org {org} has no webhook secret left: its webhook answers 404 until one is created"
        )
