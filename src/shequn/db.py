"""Engine and session factories, the declarative Base, migrations, and the few dialect differences."""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, Dialect, Engine, Integer, MetaData, Table, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import JSON, String, TypeDecorator

MIGRATIONS = Path(__file__).parent / "migrations"
PLAN_EACH = "-c plan_cache_mode=force_custom_plan"

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets 64 bits.
BigId = BigInteger().with_variant(Integer(), "sqlite")
JsonData = JSON().with_variant(postgresql.JSONB(), "postgresql")

# Rows updated on most batches (counters, sightings) keep free space on their page so that
# PostgreSQL updates them in place (HOT) instead of growing every index.
UPDATED_IN_PLACE: dict[str, Any] = {"postgresql_with": {"fillfactor": 70}}

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; gives back aware UTC datetimes on every database, SQLite included."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every stored instant must carry its zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JsonData,
    }
    # Rows an intake creates by the thousand (a stint per join): the unit of work writes those
    # it creates in bulk statements, outside the ORM's bookkeeping (engine.context.RowCache).
    written_in_bulk: ClassVar[bool] = False


# Session.info key: what a unit of work writes whenever its session flushes.
FLUSH_HOOKS = "shequn_flush_hooks"


class WorkSession(Session):
    """A session whose flush also writes what its unit of work keeps outside the ORM, so code
    that flushes to query what a batch applied sees all of it."""

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        # The ORM's rows first: a row deleted through it may be created again in bulk.
        super().flush(objects)
        for hook in self.info.get(FLUSH_HOOKS, ()):
            hook()


@event.listens_for(WorkSession, "before_commit")
def _flush_before_commit(session: Session) -> None:
    # A commit flushes only a session with ORM changes; rows kept outside it must land too.
    session.flush()


class unicode_lower(GenericFunction[str]):  # noqa: N801 - named as SQL functions are
    """lower() beyond ASCII on every database: PostgreSQL's follows its locale, SQLite's only
    folds A-Z, so SQLite gets Python's str.lower, registered on connect."""

    type = String()
    inherit_cache = True


SQLITE_LOWER = "shequn_lower"


@compiles(unicode_lower)
def _lower(element: unicode_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "sqlite")
def _sqlite_lower(element: unicode_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_LOWER}({compiler.process(element.clauses, **kw)})"


def _python_lower(text: str | None) -> str | None:
    return None if text is None else text.lower()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.create_function(SQLITE_LOWER, 1, _python_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode is durable across process crashes; only a power cut may lose the last commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class DatabaseUrlError(ValueError):
    """A database URL shequn cannot use."""


SUPPORTED = "sqlite:///./shequn.db or postgresql://user@host:5432/db"


def normalize_url(url: str) -> str:
    """Accept the URLs operators paste: postgres:// and postgresql:// both mean psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(f"{url!r} is not a database URL (use {SUPPORTED})") from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(
            f"{parsed.get_backend_name()!r} databases are not supported (use {SUPPORTED})"
        )
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = sa_create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Plan each statement for its own values. psycopg prepares a statement once it has run
    # five times, and the server may then keep one generic plan made while the tables were
    # small: as the store grows, a probe of a few hundred keys became a scan (about 1.7× the
    # wall time of an intake on `brand-10k`). The URL's own options are kept.
    parsed = make_url(url)
    given = parsed.query.get("options", ())
    options = [given] if isinstance(given, str) else list(given)
    return sa_create_engine(
        parsed.difference_update_query(["options"]),
        pool_pre_ping=True,
        connect_args={"options": " ".join([*options, PLAN_EACH])},
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, class_=WorkSession, expire_on_commit=False, autoflush=False)


def upgrade(engine: Engine) -> str | None:
    """Bring the schema to the newest migration; safe to call on every start. Returns the
    revision the store was at before (None: a new store)."""
    from alembic import command
    from alembic.config import Config
    from alembic.migration import MigrationContext

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return before


def insert_ignoring_conflicts(dialect: Dialect, table: Table) -> Insert:
    """INSERT that skips rows whose key already exists (deterministic ids make re-runs harmless)."""
    if dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def upsert_adding(
    dialect: Dialect,
    table: Table,
    *,
    keys: Sequence[str],
    add: Sequence[str],
    greatest: Sequence[str] = (),
) -> Insert:
    """INSERT, or on conflict add the counters and keep the latest of the timestamps."""
    dialect_insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(table)
    excluded = statement.excluded
    updates: dict[str, Any] = {name: table.c[name] + excluded[name] for name in add}
    for name in greatest:
        column = table.c[name]
        updates[name] = _greatest(dialect, column, excluded[name])
    return statement.on_conflict_do_update(index_elements=list(keys), set_=updates)


def upsert_earliest(
    dialect: Dialect, table: Table, *, keys: Sequence[str], order: str, follow: Sequence[str]
) -> Insert:
    """INSERT, or on conflict keep whichever row comes first by `order`, with its `follow` columns."""
    from sqlalchemy import case

    dialect_insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(table)
    earlier = statement.excluded[order] < table.c[order]
    updates = {
        name: case((earlier, statement.excluded[name]), else_=table.c[name])
        for name in (order, *follow)
    }
    return statement.on_conflict_do_update(index_elements=list(keys), set_=updates)


def _greatest(dialect: Dialect, current: Any, incoming: Any) -> Any:
    from sqlalchemy import case, func

    if dialect.name == "postgresql":
        return func.greatest(current, incoming)
    # SQLite's max() returns NULL when any argument is NULL.
    return case((current.is_(None), incoming), (incoming > current, incoming), else_=current)
