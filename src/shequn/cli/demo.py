"""`shequn demo`: the seed's Double-11 community, simulated up to now, behind a dashboard login."""

import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from sqlalchemy import func, select

from shequn.campaign.playbook import load_playbook
from shequn.campaign.service import start_campaign
from shequn.cli.common import DbOption, console, opened
from shequn.commerce.rules import CouponKind
from shequn.commerce.service import add_product, add_template, schedule_price
from shequn.engine.context import Context
from shequn.engine.dispatch import dispatch_due
from shequn.engine.intake import decode_json_lines
from shequn.engine.models import EventRecord
from shequn.engine.scheduler import run_due_jobs
from shequn.fission.rules import GrantMode, parse_tier
from shequn.fission.service import create_campaign
from shequn.kit.time import local_day, utc_now
from shequn.simulate.connector import SimulatorConnector
from shequn.simulate.scenarios import double11
from shequn.simulate.world import World
from shequn.web.models import StaffUser
from shequn.web.rules import Role, hash_password
from shequn.wiring import Shequn

DEMO_ORG = "demo"
DEMO_DATABASE = "sqlite:///./shequn-demo.db"
TIMEZONE = "Asia/Shanghai"
LIVE_EVERY = 3.0


STEP = timedelta(minutes=10)


def _lines(world: World, until: datetime) -> Iterator[bytes]:
    for event in world.advance(until):
        yield json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Feed:
    """The simulated world wired to shequn: its events go in, shequn's actions come back."""

    shequn: Shequn
    world: World
    clock: datetime
    accepted: int = 0

    def __post_init__(self) -> None:
        # The simulated groups' platform: kicks, warnings and posts reach the world from here.
        self.shequn.registry.connectors["simulator"] = SimulatorConnector(self.world)
        self.intake = self.shequn.intake(origin="demo", default_org=DEMO_ORG,
                                         clock=lambda: self.clock)  # fmt: skip

    def advance(self, until: datetime, *, act: bool = True) -> None:
        """The world's events up to `until`, then the jobs and actions due by then."""
        self.clock = until
        summary = self.intake.ingest(decode_json_lines(_lines(self.world, until)))
        self.accepted += summary.accepted
        if not act:
            return
        sessions, registry = self.shequn.sessions, self.shequn.registry
        while len(run_due_jobs(sessions, registry, now=until, limit=500)) == 500:
            pass
        while sum(dispatch_due(sessions, registry, now=until, limit=500).values()) == 500:
            pass


def has_data(shequn: Shequn) -> bool:
    with shequn.sessions() as session:
        held = session.scalar(
            select(func.count()).select_from(EventRecord).where(EventRecord.org == DEMO_ORG)
        )
    return bool(held)


def fill(shequn: Shequn, *, seed: int, now: datetime, progress: Progress | None = None) -> Feed:
    """The campaign's five days, ending today, lived up to this moment in 10-minute steps.

    The months before the campaign go in at once; from the campaign's start shequn runs its
    jobs and sends its actions at each step, so a kick, a welcome or a draw shapes what follows.
    """
    today = local_day(now, TIMEZONE)
    plan = replace(double11(), start=(today - timedelta(days=4)).isoformat())
    world = World(plan, seed=seed, org=DEMO_ORG)
    feed = Feed(shequn, world, world.prologue_start)
    task = None if progress is None else progress.add_task("history 历史", total=None)
    feed.advance(world.start, act=False)
    prepare_campaign(shequn, world)
    span = (now - world.start).total_seconds()
    if progress is not None and task is not None:
        progress.update(task, total=span, completed=0)
    moment = world.start
    while moment < now:
        moment = min(moment + STEP, now)
        feed.advance(moment)
        if progress is not None and task is not None:
            day = (moment - world.start).days + 1
            progress.update(task, completed=(moment - world.start).total_seconds(),
                            description=f"day {day} 第{day}天 · {feed.accepted:,} events")  # fmt: skip
    return feed


def prepare_campaign(shequn: Shequn, world: World) -> None:
    """What the operators set up the night before: the new groups, the placeholder price, the
    coupon, and the built-in Double-11 playbook started over all four groups."""
    scenario = world.scenario
    opening = [
        {"id": f"demo-prepare-{plan.id}", "type": "group.upserted", "source": scenario.source,
         "at": world.start.isoformat(), "org": DEMO_ORG,
         "data": {"group": plan.id, "name": plan.name, "capacity": plan.capacity,
                  "store": plan.store, "tags": list(plan.tags)}}
        for plan in scenario.groups if plan.opens_day > 0
    ]  # fmt: skip
    intake = shequn.intake(origin="demo", default_org=DEMO_ORG, clock=lambda: world.start)
    intake.ingest(decode_json_lines(json.dumps(event).encode() for event in opening))
    end = world.end
    playbook, source = load_playbook("double11")
    with shequn.sessions.begin() as session:
        context = shequn.context(session, DEMO_ORG, now=world.start)
        add_product(context, org=DEMO_ORG, sku="d11-dress", name="双11连衣裙")
        # ¥9,999 until the sale day's 00:00, when the playbook's price step reveals ¥600.
        schedule_price(context, org=DEMO_ORG, sku="d11-dress", price=999900,
                       effective_at=world.start, cause="demo:placeholder")  # fmt: skip
        add_template(context, org=DEMO_ORG, template="no-threshold-100", name="¥100 无门槛券",
                     kind=CouponKind.AMOUNT_OFF, amount_off=10000, valid_from=world.start,
                     valid_until=end, per_member_limit=1)  # fmt: skip
        start_campaign(context, DEMO_ORG, playbook, source,
                       start=local_day(world.start, TIMEZONE), groups=None)  # fmt: skip
        invite_contest(context, world)
        context.flush()


def invite_contest(context: Context, world: World) -> None:
    """The seed's second fission attempt as a shequn campaign: from 14:00 on day 1, invites
    into the new groups are counted (net of leavers and fakes), with progress @-mentions and
    an evening leaderboard; points at 3, a dress at 10, granted after the audit's say."""
    plan = next(plan for plan in world.scenario.fission if plan.name == "invite-count")
    hour, minute = (int(part) for part in plan.start.split(":"))
    starts_at = world.start + timedelta(days=plan.day - 1, hours=hour, minutes=minute)
    create_campaign(
        context, DEMO_ORG, campaign_id="d11-invites", name="双11邀请好友赢好礼",
        groups=list(plan.targets), starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=plan.hours),
        tiers=[parse_tier("3:points:100"), parse_tier("10:gift:双11连衣裙:199.00:200")],
        mode=GrantMode.AT_END, board_at="21:00",
    )  # fmt: skip


def keep_live(feed: Feed, stop: threading.Event) -> None:
    """While the dashboard is up, the world goes on in real time; the app's worker answers it."""
    while not stop.wait(LIVE_EVERY):
        feed.advance(max(feed.clock, utc_now()), act=False)


def demo_login(shequn: Shequn, now: datetime) -> str:
    """A fresh password for the `demo` owner login, printed once."""
    password = secrets.token_urlsafe(9)
    with shequn.sessions.begin() as session:
        user = session.get(StaffUser, (DEMO_ORG, "demo"))
        hashed = hash_password(password)
        if user is None:
            session.add(StaffUser(org=DEMO_ORG, username="demo", password_hash=hashed,
                                  role=str(Role.OWNER), store=None, created_at=now,
                                  disabled_at=None))  # fmt: skip
        else:
            user.password_hash, user.disabled_at = hashed, None
    return password


def demo(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    seed: Annotated[int, typer.Option(help="The simulated community's seed.")] = 1,
    serve: Annotated[bool, typer.Option(help="Serve the dashboard once the data is in.")] = True,
) -> None:
    """See shequn work in a minute (演示): a simulated Double-11 community and its dashboard."""
    import uvicorn

    from shequn.app import create_app

    with opened(db or DEMO_DATABASE) as shequn:
        now = utc_now()
        feed = None
        if not has_data(shequn):
            console.print("simulating the Double-11 community 模拟双十一社群…")
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                          console=console, transient=True) as progress:  # fmt: skip
                feed = fill(shequn, seed=seed, now=now, progress=progress)
        added = 0 if feed is None else feed.accepted
        password = demo_login(shequn, now)
        url = f"http://{host}:{port}"
        console.print(
            f"[bold]shequn 社群 demo[/] · {added:,} events added · {shequn.settings.database_url}"
        )
        console.print(f"dashboard 后台: {url}/login  org [bold]{DEMO_ORG}[/] · user [bold]demo[/] · "
                      f"password 密码 [green]{password}[/]")  # fmt: skip
        if not serve:
            return
        stop = threading.Event()
        if feed is not None:
            threading.Thread(target=keep_live, args=(feed, stop), daemon=True).start()
        try:
            uvicorn.run(create_app(shequn), host=host, port=port, log_level="warning")
        finally:
            stop.set()
