"""A campaign's ROI: attributed GMV net of refunds against prizes, gifts and coupons."""

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from shequn.analytics.roi import report_roi
from shequn.cli.main import app
from shequn.commerce.models import CouponUse, OrderAttribution
from shequn.fission.models import CampaignRecord, RewardGrant
from shequn.lottery.models import DrawRecord, LotteryWin
from shequn.wiring import Shequn
from tests.conftest import event, ingest

START = datetime(2020, 11, 7, 0, 0, tzinfo=UTC)
END = START + timedelta(days=5)


def attribution(
    order: str, campaign: str | None, amount: int, refunded: int = 0
) -> OrderAttribution:
    return OrderAttribution(
        org="demo", order_id=order, member_id=f"buyer-{order}", group_id="g1",
        group_source="explicit", store=None, owner=None, puller=None, inviter=None,
        channel=None, campaign=campaign, amount=amount, refunded=refunded,
        paid_at=START + timedelta(days=4), paid_key=f"k-{order}",
    )  # fmt: skip


def win(draw: str, group: str, cost: int, at: datetime) -> list[object]:
    return [
        DrawRecord(id=draw, org="demo", lottery="nightly", group_id=group, due_at=at,
                   freeze_text=at.isoformat(), seed_hex="00", commitment="c" * 64,
                   status="drawn", entrant_count=10, list_hash=None, published=None,
                   exclusions=None, skip_reason=None, drawn_at=at),
        LotteryWin(draw_id=draw, rank=1, org="demo", member_id="lucky", prize="连衣裙",
                   cost=cost, won_at=at, code=f"W{draw}", status="pending", status_at=at),
    ]  # fmt: skip


def campaign(id_: str, groups: list[str]) -> CampaignRecord:
    return CampaignRecord(org="demo", id=id_, name=f"{id_} 裂变", groups=groups,
                          starts_at=START, ends_at=END, tiers=[], mode="on_reach", lang="zh",
                          progress_minutes=30, board_at=None, board_top=10, welcome_text=None,
                          created_at=START)  # fmt: skip


def test_roi_weighs_net_attributed_gmv_against_every_cost(shequn: Shequn) -> None:
    ingest(shequn, [event("g", "group.upserted", "2020-11-01T08:00:00",
                          {"group": "g1", "name": "一群"})])  # fmt: skip
    inside, after = START + timedelta(days=1), END + timedelta(hours=1)
    with shequn.sessions.begin() as session:
        session.add_all([
            campaign("d11", ["g1"]), campaign("other", ["g2"]),
            attribution("o1", "d11", 600_00), attribution("o2", "d11", 1200_00, refunded=600_00),
            attribution("o3", None, 999_00),
            RewardGrant(id="gr1", org="demo", campaign="d11", inviter="kol", tier=3, kind="gift",
                        name="裙", cost=150_00, count_at_grant=3, granted_at=inside,
                        flagged_at=inside),
            CouponUse(org="demo", order_id="o1", code="c1", member="buyer-o1",
                      outcome="redeemed", reason=None, value=100_00, at=inside,
                      restored_at=None),
            CouponUse(org="demo", order_id="o2", code="c2", member="buyer-o2",
                      outcome="redeemed", reason=None, value=100_00, at=inside,
                      restored_at=after),
            CouponUse(org="demo", order_id="o2", code="c3", member="buyer-o2",
                      outcome="refused", reason="below_threshold", value=0, at=inside,
                      restored_at=None),
            *win("w1", "g1", 199_00, inside), *win("w2", "g1", 99_00, after),
            *win("w3", "g2", 50_00, inside),
        ])  # fmt: skip
    with shequn.sessions() as session:
        found = {r.campaign.id: r.as_json() for r in report_roi(session, "demo")}
        scoped = [r.campaign.id for r in report_roi(session, "demo", groups={"g1"})]
    # Net GMV 600 + 1200 − 600 = 1200; cost: prize 199 + gift 150 + coupon 100 = 449.
    assert found["d11"] == {
        "campaign": "d11", "name": "d11 裂变", "from": START.isoformat(), "to": END.isoformat(),
        "orders": 2, "gmv": "1800.00", "refunded": "600.00", "net_gmv": "1200.00",
        "prize_cost": "199.00", "gift_cost": "150.00", "coupon_cost": "100.00",
        "cost": "449.00", "roi": 1.6726, "return_per_yuan": 2.6726,
    }  # fmt: skip
    assert (found["other"]["cost"], found["other"]["roi"]) == ("50.00", -1.0)
    assert scoped == ["d11"]
    result = CliRunner().invoke(app, ["report", "roi", "--org", "demo", "--db",
                                      shequn.settings.database_url, "--csv"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ("campaign,name,from,to,orders,gmv,refunded,net_gmv,prize_cost,gift_cost,"
                        "coupon_cost,cost,roi,return_per_yuan")  # fmt: skip
    assert lines[1].endswith(",2,1800.00,600.00,1200.00,199.00,150.00,100.00,449.00,1.6726,2.6726")
    as_json = CliRunner().invoke(app, ["report", "roi", "--org", "demo", "--db",
                                       shequn.settings.database_url, "--json"])  # fmt: skip
    assert [row["campaign"] for row in json.loads(as_json.stdout)] == ["d11", "other"]
