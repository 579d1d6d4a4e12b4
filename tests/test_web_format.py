"""How the dashboard writes amounts and stored verdicts for its readers."""

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from shequn.app import create_app
from shequn.audit.models import AuditCase
from shequn.kit.time import utc_now
from shequn.web.charts import Series, bar_line_svg, scale
from shequn.web.common import money
from shequn.web.rules import Role
from shequn.wiring import Shequn
from tests.conftest import event, ingest
from tests.test_dashboard import community, log_in, staff


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("166109.00", "¥166,109.00"),
        (Decimal("1030000.5"), "¥1,030,000.50"),
        ("0.00", "¥0.00"),
        (Decimal("-600"), "-¥600.00"),
        # Exact to the fen however large: never through a float.
        ("12345678901234567.89", "¥12,345,678,901,234,567.89"),
        ("—", "—"),
    ],
)
def test_amounts_are_shown_in_yuan_with_grouped_digits(value: object, shown: str) -> None:
    assert money(value) == shown


@pytest.mark.parametrize(("lang", "verdict"), [("zh", "建议移出"), ("en", "Kick")])
def test_the_review_queue_names_the_verdict_in_the_readers_language(
    shequn: Shequn, lang: str, verdict: str
) -> None:
    community(shequn)
    staff(shequn, "boss", Role.OWNER)
    with TestClient(create_app(shequn, run_worker=False), follow_redirects=False) as client:
        log_in(client, "boss")
        queue = client.get(f"/dashboard/audit?lang={lang}").text
    row = queue[queue.index('data-member="spam"') :]
    assert f"<td>{verdict}</td>" in row[: row.index("</tr>")]


def test_a_charts_scale_groups_digits_and_has_room_for_a_million() -> None:
    assert [scale(v) for v in (33493, 1234567.0, 2.5, 0)] == ["33,493", "1,234,567", "2.5", "0"]
    svg = bar_line_svg(["11-22", "11-23"], [Series("GMV", [0, 33493])], title="GMV")
    assert '<text x="60" y="36" text-anchor="end" font-size="11">33,493</text>' in svg
    assert "<title>11-23: 33,493</title>" in svg


def test_the_review_queue_pages_fifty_cases_at_a_time_strongest_first(shequn: Shequn) -> None:
    ingest(shequn, [event("g1", "group.upserted", "2020-11-07T09:00:00",
                           {"group": "g1", "name": "g1"})])
    staff(shequn, "boss", Role.OWNER)
    now = utc_now()
    with shequn.sessions.begin() as session:
        for n in range(55):
            session.add(AuditCase(org="demo", member=f"u{n:02d}", score=n, verdict="review",
                                  signals=[], exempt=None, scored_at=now, decision=None,
                                  decided_by=None, decided_at=None))  # fmt: skip
    with TestClient(create_app(shequn, run_worker=False), follow_redirects=False) as client:
        log_in(client, "boss")
        first = client.get("/dashboard/audit?lang=en").text
        second = client.get("/dashboard/audit?lang=en&page=2").text
    members = [part.split('"', 1)[0] for part in first.split('data-member="')[1:]]
    assert (len(members), members[:2]) == (50, ["u54", "u53"])
    assert "<small>55</small>" in first
    assert [part.split('"', 1)[0] for part in second.split('data-member="')[1:]] == [
        "u04", "u03", "u02", "u01", "u00"
    ]  # fmt: skip
