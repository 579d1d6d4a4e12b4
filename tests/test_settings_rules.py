"""Which org settings the dashboard and the API change, each judged by its own domain's rules."""

from typing import Any

import pytest

from shequn.campaign.rules import Budget, BudgetError, check_budget
from shequn.org.rules import SettingRefused, check_changes

CURRENT: dict[str, Any] = {"name": "demo", "timezone": "Asia/Shanghai",
                           "campaign": {"daily_posts": 5}, "webhook_secrets": ["whsec_x"]}  # fmt: skip


def refusal(changes: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(SettingRefused) as refused:
        check_changes(CURRENT, changes)
    return refused.value.name, refused.value.reason


def test_good_changes_come_back_as_saved_with_the_budget_merged_into_its_other_parts() -> None:
    changes = {"name": "双11女装", "timezone": "UTC", "welcome_text": "欢迎 {nickname}!",
               "audit_review": 30, "points_board_top": 20, "campaign": {"quiet_hours": "off"}}  # fmt: skip
    assert check_changes(CURRENT, changes) == {
        **changes, "campaign": {"daily_posts": 5, "quiet_hours": "off"},
    }  # fmt: skip


def test_an_empty_welcome_text_is_allowed_as_it_turns_the_welcome_off() -> None:
    assert check_changes(CURRENT, {"welcome_text": ""}) == {"welcome_text": ""}


@pytest.mark.parametrize(
    ("changes", "name", "reason"),
    [
        ({"timezone": "Mars/Base"}, "timezone",
         "unknown time zone 'Mars/Base' (use an IANA name like Asia/Shanghai)"),
        ({"name": " "}, "name", "' ' is not a name of 1-200 characters"),
        ({"welcome_window_seconds": 0}, "welcome_window_seconds",
         "0 is not a whole number, 1 or more"),
        ({"welcome_text": "x" * 2001}, "welcome_text",
         "not a text of at most 2000 characters (empty: none)"),
        ({"audit_audience": "kids"}, "audit_audience", "'kids' is not one of female, male, any"),
        ({"audit_review": 80, "audit_kick": 50}, "audit_review",
         "thresholds review=80 kick=50: need 0 < review <= kick <= 100"),
        ({"points_board_top": 99}, "points_board_top", "99 is not 1-50"),
        ({"campaign": {"daily_posts": 0}}, "campaign.daily_posts",
         "0 is not a whole number, 1 or more"),
        ({"campaign": {"quiet_hours": "late"}}, "campaign.quiet_hours",
         "'late' is not a span like 23:00-08:00"),
    ],
)  # fmt: skip
def test_a_bad_value_is_refused_naming_its_setting(
    changes: dict[str, Any], name: str, reason: str
) -> None:
    assert refusal(changes) == (name, reason)


def test_secrets_and_unknown_names_are_not_changed_here() -> None:
    assert refusal({"webhook_secrets": []}) == (
        "webhook_secrets", "not a setting changed here; see `shequn --help`",
    )  # fmt: skip
    assert refusal({"welcome": "hi"})[0] == "welcome"


def test_the_budget_check_is_the_one_the_command_line_uses() -> None:
    assert check_budget({"daily_posts": 3, "quiet_hours": "22:00-07:30"}) == Budget(
        daily_messages=200, daily_posts=3, quiet=((22, 0), (7, 30))
    )
    with pytest.raises(BudgetError) as refused:
        check_budget({"daily_messages": True})
    assert (refused.value.name, refused.value.reason) == (
        "daily_messages", "True is not a whole number, 1 or more",
    )  # fmt: skip
