"""The composition root: one explicit list of what every domain plugs into the engine."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shequn.analytics.projection import GROUP_DAYS, fill_hourly_activity
from shequn.audit.handlers import AUDIT
from shequn.campaign.handlers import STEP_JOB as CAMPAIGN_STEP_JOB
from shequn.commerce.handlers import COMMERCE
from shequn.commerce.handlers import DEADLINE as COMMERCE_DEADLINE
from shequn.commerce.projection import ORDERS
from shequn.config import Settings
from shequn.connectors.log import LogConnector
from shequn.connectors.platforms import platform_connectors
from shequn.contract import PAYLOADS
from shequn.db import create_engine, session_factory, upgrade
from shequn.engine.context import Context
from shequn.engine.intake import Intake
from shequn.engine.rebuild import count_events, rebuild
from shequn.engine.registry import Registry
from shequn.fission.handlers import BOARD_JOB, CHECK_JOB, RECOUNT, SETTLE_JOB
from shequn.fission.service import welcome_of
from shequn.group.handlers import ANNOUNCE, CAPACITY_WATCH, welcoming
from shequn.group.projection import GROUPS
from shequn.invite.projection import INVITE_TREE, plant_invite_tree
from shequn.kit.time import utc_now
from shequn.lottery.handlers import ANNOUNCE_JOB, DRAW_JOB
from shequn.member.phones import phones_stored_masked, sealing_key
from shequn.member.projection import MEMBERS
from shequn.org.service import OrgDirectory
from shequn.points.handlers import EXPIRE, POINTS, QUIZ_CLOSE, QUIZ_OPEN, REPLY

# The migration that added the daily figures table, filled from the log on the way past it.
DAILY_FIGURES_REVISION = "0019"
# The migration that added the invite tree, planted from the members' first joins.
INVITE_TREE_REVISION = "0022"
# The migration that added hourly activity, counted from the log.
HOURLY_ACTIVITY_REVISION = "0023"


def build_registry(
    settings: Settings, sessions: sessionmaker[Session], *, console: Console | None = None
) -> Registry:
    registry = Registry(tenancy=OrgDirectory(settings.timezone), payloads=dict(PAYLOADS))
    # Order matters: members count into groups, so groups are projected first.
    registry.add_projection(GROUPS)
    registry.add_projection(MEMBERS)
    registry.add_projection(INVITE_TREE)
    registry.add_projection(ORDERS)
    # Last of the projections: daily figures count the stints and orders as projected.
    registry.add_projection(GROUP_DAYS)
    # Commerce decides on the order as projected: attribution, coupons, old-brings-new.
    registry.add_reaction(COMMERCE)
    registry.add_job_kind(COMMERCE_DEADLINE)
    # A running fission campaign's welcome takes the org's welcome's place in its groups.
    welcome, welcome_job = welcoming([welcome_of])
    registry.add_reaction(welcome)
    registry.add_reaction(CAPACITY_WATCH)
    registry.add_job_kind(ANNOUNCE)
    registry.add_job_kind(welcome_job)
    registry.add_reaction(RECOUNT)
    registry.add_job_kind(CHECK_JOB)
    registry.add_job_kind(SETTLE_JOB)
    registry.add_job_kind(BOARD_JOB)
    registry.add_reaction(AUDIT)
    registry.add_job_kind(ANNOUNCE_JOB)
    registry.add_job_kind(DRAW_JOB)
    # After the audit: a member it flags in this batch earns nothing and loses what they had.
    registry.add_reaction(POINTS)
    registry.add_job_kind(EXPIRE)
    registry.add_job_kind(REPLY)
    # A quiz posts its question when it opens and its answer when it closes.
    registry.add_job_kind(QUIZ_OPEN)
    registry.add_job_kind(QUIZ_CLOSE)
    # Campaign playbooks: one job per planned step, carried out when due.
    registry.add_job_kind(CAMPAIGN_STEP_JOB)
    action_log = Path(settings.action_log) if settings.action_log else None
    registry.connectors["log"] = LogConnector(action_log, console=console)
    registry.connectors.update(platform_connectors(settings, sessions))
    return registry


@dataclass
class Shequn:
    """Everything a command or the web app needs, opened once."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    registry: Registry

    def intake(
        self,
        *,
        origin: str,
        default_org: str | None = None,
        allowed_orgs: frozenset[str] | None = None,
        batch_size: int | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> Intake:
        """Every intake goes through here, so a phone key set seals phones on every path."""
        return Intake(
            self.sessions,
            self.registry,
            default_org=default_org or self.settings.default_org,
            batch_size=batch_size or self.settings.batch_size,
            origin=origin,
            allowed_orgs=allowed_orgs,
            stored_form=phones_stored_masked(sealing_key()),
            clock=clock,
        )

    def context(self, session: Session, org: str, *, now: datetime | None = None) -> Context:
        """A unit of work for a use case started by hand (CLI, API) rather than by events."""
        now = now or utc_now()
        tenants = self.registry.tenancy.ensure(session, [org], now)
        return Context(session, registry=self.registry, tenants=tenants, now=now)

    def close(self) -> None:
        self.engine.dispose()


def open_shequn(
    settings: Settings, *, migrate: bool = True, console: Console | None = None
) -> Shequn:
    """Open the store (migrated to the newest schema) and the registry.

    With a console, the built-in log connector also prints what it would have sent.
    """
    engine = create_engine(settings.database_url)
    before = upgrade(engine) if migrate else None
    sessions = session_factory(engine)
    shequn = Shequn(settings, engine, sessions, build_registry(settings, sessions, console=console))
    if before is not None:
        fill_after_upgrade(shequn, before, console)
    return shequn


def fill_after_upgrade(shequn: Shequn, before: str, console: Console | None) -> None:
    """Tables a store upgraded from revision `before` gained are filled from what it holds,
    once: the dashboard reads them, so empty ones would show the past as nothing."""
    if before < DAILY_FIGURES_REVISION:
        # A rebuild fills every projection, the later tables included.
        backfill_after_upgrade(shequn, console)
        return
    with shequn.sessions.begin() as session:
        if before < INVITE_TREE_REVISION:
            plant_invite_tree(session)
        if before < HOURLY_ACTIVITY_REVISION:
            (console or Console(stderr=True)).print(
                "counting hourly activity from the log (once) 首次统计每小时活跃…"
            )
            fill_hourly_activity(session)


def backfill_after_upgrade(shequn: Shequn, console: Console | None) -> None:
    """A store upgraded past the daily figures table gets it filled from its log once: the
    dashboard reads only the table, so an empty one would show past days as zero."""
    with shequn.sessions.begin() as session:
        events = count_events(session)
        if not events:
            return
        (console or Console(stderr=True)).print(
            f"filling the daily figures from {events:,} logged events (once) 首次生成每日数据…"
        )
        rebuild(session, shequn.registry, now=utc_now())
