"""One settings object, read from the environment (SHEQUN_*) and overridable by CLI flags."""

from pydantic_settings import BaseSettings, SettingsConfigDict

from shequn.kit.time import DEFAULT_TIMEZONE

DEFAULT_DATABASE_URL = "sqlite:///./shequn.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHEQUN_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    default_org: str = "default"
    timezone: str = DEFAULT_TIMEZONE
    batch_size: int = 1000
    # Where the built-in log connector appends what it would have sent; empty: keep it only in the outbox.
    action_log: str = "shequn-actions.jsonl"
    max_body_bytes: int = 20 * 1024 * 1024
    # Where members reach this server: the base of the /j/ORG/CODE links printed on posters.
    public_url: str = "http://127.0.0.1:8000"
