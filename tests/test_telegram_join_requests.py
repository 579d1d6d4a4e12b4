"""Which answer a Telegram join request gets, by the org's setting and the audit's verdict."""

import pytest

from shequn.audit.rules import Verdict
from shequn.connectors.models import JoinDecision
from shequn.connectors.telegram.requests import decision_for, join_request_mode, parse_mode


@pytest.mark.parametrize(
    ("mode", "verdict", "decision"),
    [
        ("ignore", None, None),
        ("approve", None, JoinDecision.APPROVED),
        ("screen", Verdict.PASS, JoinDecision.APPROVED),
        ("screen", Verdict.REVIEW, JoinDecision.REVIEW),
        ("screen", Verdict.KICK, JoinDecision.DECLINED),
    ],
)
def test_screening_approves_a_pass_declines_a_kick_and_leaves_a_review(
    mode: str, verdict: Verdict | None, decision: JoinDecision | None
) -> None:
    assert decision_for(parse_mode(mode), verdict) is decision


def test_requests_are_ignored_unless_an_org_chose_otherwise() -> None:
    assert join_request_mode({}) == "ignore"
    assert join_request_mode({"telegram_join_requests": "screen"}) == "screen"
    # A value stored by hand that means nothing never stops intake: it ignores.
    assert join_request_mode({"telegram_join_requests": True}) == "ignore"


def test_an_unknown_mode_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="allow") as refused:
        parse_mode("allow")

    assert str(refused.value) == (
        "telegram_join_requests: 'allow' is not one of ignore, approve, screen"
    )
