"""Searching members by nickname on the dashboard: any script's case, and wildcards as text."""

import pytest

from shequn.web.member_pages import search_members
from shequn.web.rules import Role, Staff
from shequn.wiring import Shequn
from tests.conftest import event, ingest

NICKNAMES = {"u1": "Élodie", "u2": "АННА", "u3": "小丽", "u4": "100%真", "u5": "ann_b"}
BOSS = Staff(org="demo", username="boss", role=Role.OWNER, store=None)


@pytest.fixture
def members(shequn: Shequn) -> Shequn:
    ingest(shequn, [
        event(f"m-{member}", "member.upserted", "2020-11-07T09:00:00",
              {"member": member, "nickname": nickname})
        for member, nickname in NICKNAMES.items()
    ])  # fmt: skip
    return shequn


@pytest.mark.parametrize(("needle", "found"), [
    ("élodie", ["u1"]), ("ÉLO", ["u1"]), ("анна", ["u2"]), ("小丽", ["u3"]),
    # % and _ are letters to an operator, not wildcards.
    ("0%", ["u4"]), ("n_", ["u5"]), ("%", ["u4"]), ("u2", ["u2"]),
])  # fmt: skip
def test_a_nickname_is_found_whatever_its_case_and_wildcards_are_plain_text(
    members: Shequn, needle: str, found: list[str]
) -> None:
    with members.sessions() as session:
        assert [member.id for member in search_members(session, BOSS, needle)] == found
