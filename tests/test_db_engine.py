"""How shequn connects to PostgreSQL: every statement planned for its own values."""

from urllib.parse import quote

from sqlalchemy import text

from shequn.db import create_engine
from tests.conftest import POSTGRES_ADMIN


def _show(url: str, setting: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.scalar(text(f"SHOW {setting}")))
    finally:
        engine.dispose()


def test_postgresql_sessions_plan_each_statement_for_its_own_values() -> None:
    # A generic plan made while the store was empty would keep scanning as it grows.
    assert _show(POSTGRES_ADMIN, "plan_cache_mode") == "force_custom_plan"


def test_options_given_in_the_url_are_kept_beside_the_planning_option() -> None:
    separator = "&" if "?" in POSTGRES_ADMIN else "?"
    url = f"{POSTGRES_ADMIN}{separator}options={quote('-c statement_timeout=4321')}"
    assert _show(url, "statement_timeout") == "4321ms"
    assert _show(url, "plan_cache_mode") == "force_custom_plan"
