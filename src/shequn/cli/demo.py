"""`shequn demo`: the seed's Double-11 community, simulated up to now, behind a dashboard login."""

import json
import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from sqlalchemy import func, select

from shequn.cli.common import DbOption, console, opened
from shequn.engine.intake import decode_json_lines
from shequn.engine.models import EventRecord
from shequn.kit.time import local_day, local_time_to_utc, utc_now
from shequn.lottery.service import LotteryError, PrizeSpec, create_lottery
from shequn.simulate.scenarios import double11
from shequn.simulate.world import World
from shequn.web.models import StaffUser
from shequn.web.rules import Role, hash_password
from shequn.wiring import Shequn

DEMO_ORG = "demo"
DEMO_DATABASE = "sqlite:///./shequn-demo.db"
TIMEZONE = "Asia/Shanghai"


def _lines(world: World, until: datetime) -> Iterator[bytes]:
    for event in world.advance(until):
        yield json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def fill(shequn: Shequn, *, seed: int, now: datetime) -> int:
    """The campaign's five days, ending today, up to this moment; 0 when the demo has data."""
    with shequn.sessions() as session:
        held = session.scalar(
            select(func.count()).select_from(EventRecord).where(EventRecord.org == DEMO_ORG)
        )
    if held:
        return 0
    today = local_day(now, TIMEZONE)
    plan = replace(double11(), start=(today - timedelta(days=4)).isoformat())
    world = World(plan, seed=seed, org=DEMO_ORG)
    intake = shequn.intake(origin="demo", default_org=DEMO_ORG)
    summary = intake.ingest(decode_json_lines(_lines(world, now)))
    return summary.accepted


def tonight_lottery(shequn: Shequn, now: datetime) -> None:
    """A nightly draw in the new groups, committed now, at the next 20:30."""
    day = local_day(now, TIMEZONE)
    first = local_time_to_utc(day, 20, 30, TIMEZONE)
    if first <= now:
        first = local_time_to_utc(day + timedelta(days=1), 20, 30, TIMEZONE)
    with shequn.sessions.begin() as session:
        context = shequn.context(session, DEMO_ORG, now=now)
        try:
            create_lottery(
                context, DEMO_ORG, lottery_id=f"nightly-{first:%Y%m%d}", name="今晚 8:30 抽奖",
                groups=["new-3", "new-4"], first=first, days=1,
                prizes=[PrizeSpec("连衣裙", 1, 19900), PrizeSpec("¥100 无门槛券", 2, 0)],
                rules_text="今晚8:30,群内抽奖;每人 3 天内最多中奖 1 次",
                eligibility={"keyword": "今晚8:30,群内抽奖", "keyword_from": "12:00"}, lang="zh",
            )  # fmt: skip
        except LotteryError:
            return  # tonight's draw was set up by an earlier run
        context.flush()


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
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console,
                      transient=True) as progress:  # fmt: skip
            progress.add_task("simulating the Double-11 community 模拟双十一社群…", total=None)
            added = fill(shequn, seed=seed, now=now)
            tonight_lottery(shequn, now)
        password = demo_login(shequn, now)
        url = f"http://{host}:{port}"
        console.print(
            f"[bold]shequn 社群 demo[/] · {added:,} events added · {shequn.settings.database_url}"
        )
        console.print(f"dashboard 后台: {url}/login  org [bold]{DEMO_ORG}[/] · user [bold]demo[/] · "
                      f"password 密码 [green]{password}[/]")  # fmt: skip
        if serve:
            uvicorn.run(create_app(shequn), host=host, port=port, log_level="warning")
