"""The command line refuses a setting by the same rules, and in the same words, as the
settings page and the API."""

from typer.testing import CliRunner

from shequn.cli.main import app
from shequn.wiring import Shequn
from tests.test_settings_pages import logged, settings_of

runner = CliRunner()


def test_org_create_and_campaign_budget_refuse_what_the_page_refuses(shequn: Shequn) -> None:
    db = ["--db", shequn.settings.database_url]
    assert runner.invoke(app, ["org", "create", "demo", *db]).exit_code == 0
    before, log = settings_of(shequn), logged(shequn)
    long_text = runner.invoke(app, ["org", "create", "demo", "--welcome-text", "x" * 2001, *db])
    assert long_text.exit_code != 0
    assert "--welcome-text: not a text of at most 2000 characters (empty: none)" in long_text.stderr
    no_posts = runner.invoke(app, ["campaign", "budget", "--org", "demo", "--daily-posts", "0",
                                   *db])  # fmt: skip
    assert no_posts.exit_code != 0
    assert "--daily-posts: 0 is not a whole number, 1 or more" in no_posts.stderr
    assert settings_of(shequn) == before
    assert logged(shequn) == log
