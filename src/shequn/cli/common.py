"""What every command shares: the --db option, opening the store, and printing."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import OperationalError

from shequn.config import Settings
from shequn.db import DatabaseUrlError
from shequn.kit.time import TimeError
from shequn.wiring import Shequn, open_shequn

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (数据库): sqlite:///./shequn.db by default, or postgresql://…; "
        "also SHEQUN_DATABASE_URL.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts (输出 JSON).")]

EXIT_UNREADABLE = 2
EXIT_DATABASE = 3


def settings_for(db: str | None) -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"SHEQUN_{'_'.join(str(part) for part in item['loc']).upper()}: {item['msg']}"
            for item in error.errors()
        )
        fail(problems, code=EXIT_UNREADABLE)
    return settings.model_copy(update={"database_url": db}) if db else settings


@contextmanager
def opened(db: str | None, *, show_actions: bool = False) -> Iterator[Shequn]:
    settings = settings_for(db)
    try:
        shequn = open_shequn(settings, console=console if show_actions else None)
    except DatabaseUrlError as error:
        fail(f"--db / SHEQUN_DATABASE_URL: {error}", code=EXIT_UNREADABLE)
    except OperationalError as error:
        fail(f"cannot open the database {settings.database_url}: {error.orig}", code=EXIT_DATABASE)
    except TimeError as error:
        fail(f"SHEQUN_TIMEZONE: {error}", code=EXIT_UNREADABLE)
    try:
        yield shequn
    finally:
        shequn.close()


def fail(message: str, *, code: int = 1) -> NoReturn:
    errors.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)
