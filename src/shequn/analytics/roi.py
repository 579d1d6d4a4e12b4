"""Each fission campaign's return on what it gave away.

- attributed GMV: orders whose attribution names the campaign, net of their refunds;
- prize cost: lottery wins drawn in the campaign's groups (every group when it names none)
  between its start and end;
- gift cost: the reward tiers it granted (a grant flagged later still was given);
- coupon cost: the value coupons took off its attributed orders, unless a refund gave it back;
- ROI = (net GMV − cost) / cost, and the return per yuan = net GMV / cost; null without cost.
"""

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequn.analytics.rules import rate_json, ratio
from shequn.commerce.models import CouponUse, OrderAttribution
from shequn.fission.models import CampaignRecord, RewardGrant
from shequn.kit.money import format_amount
from shequn.lottery.models import DrawRecord, LotteryWin

ROI_COLUMNS = (
    "campaign", "name", "from", "to", "orders", "gmv", "refunded", "net_gmv", "prize_cost",
    "gift_cost", "coupon_cost", "cost", "roi", "return_per_yuan",
)  # fmt: skip
REDEEMED = "redeemed"


@dataclass(frozen=True)
class CampaignReturn:
    """Money in fen."""

    campaign: CampaignRecord
    orders: int
    gmv: int
    refunded: int
    prize_cost: int
    gift_cost: int
    coupon_cost: int

    @property
    def net_gmv(self) -> int:
        return self.gmv - self.refunded

    @property
    def cost(self) -> int:
        return self.prize_cost + self.gift_cost + self.coupon_cost

    def as_json(self) -> dict[str, object]:
        return {
            "campaign": self.campaign.id, "name": self.campaign.name,
            "from": self.campaign.starts_at.isoformat(), "to": self.campaign.ends_at.isoformat(),
            "orders": self.orders, "gmv": format_amount(self.gmv),
            "refunded": format_amount(self.refunded), "net_gmv": format_amount(self.net_gmv),
            "prize_cost": format_amount(self.prize_cost),
            "gift_cost": format_amount(self.gift_cost),
            "coupon_cost": format_amount(self.coupon_cost), "cost": format_amount(self.cost),
            "roi": rate_json(ratio(self.net_gmv - self.cost, self.cost)),
            "return_per_yuan": rate_json(ratio(self.net_gmv, self.cost)),
        }  # fmt: skip


def campaign_return(session: Session, campaign: CampaignRecord) -> CampaignReturn:
    org = campaign.org
    attributed = select(OrderAttribution.order_id).where(
        OrderAttribution.org == org, OrderAttribution.campaign == campaign.id
    )
    orders, gmv, refunded = session.execute(
        select(func.count(), func.coalesce(func.sum(OrderAttribution.amount), 0),
               func.coalesce(func.sum(OrderAttribution.refunded), 0))
        .where(OrderAttribution.org == org, OrderAttribution.campaign == campaign.id)
    ).one()  # fmt: skip
    prizes = (
        select(func.coalesce(func.sum(LotteryWin.cost), 0))
        .join(DrawRecord, DrawRecord.id == LotteryWin.draw_id)
        .where(
            LotteryWin.org == org,
            LotteryWin.won_at >= campaign.starts_at,
            LotteryWin.won_at < campaign.ends_at,
        )
    )
    if campaign.groups:
        prizes = prizes.where(DrawRecord.group_id.in_(list(campaign.groups)))
    gifts = select(func.coalesce(func.sum(RewardGrant.cost), 0)).where(
        RewardGrant.org == org, RewardGrant.campaign == campaign.id
    )
    coupons = select(func.coalesce(func.sum(CouponUse.value), 0)).where(
        CouponUse.org == org,
        CouponUse.order_id.in_(attributed),
        CouponUse.outcome == REDEEMED,
        CouponUse.restored_at.is_(None),
    )
    # PostgreSQL sums bigints as numeric: int() brings back the exact fen.
    return CampaignReturn(
        campaign=campaign,
        orders=int(orders),
        gmv=int(gmv),
        refunded=int(refunded),
        prize_cost=int(session.execute(prizes).scalar_one()),
        gift_cost=int(session.execute(gifts).scalar_one()),
        coupon_cost=int(session.execute(coupons).scalar_one()),
    )


def report_roi(
    session: Session, org: str, *, groups: Collection[str] | None = None
) -> list[CampaignReturn]:
    """Every campaign, newest first; with `groups`, only campaigns wholly inside them."""
    campaigns = session.scalars(
        select(CampaignRecord)
        .where(CampaignRecord.org == org)
        .order_by(CampaignRecord.starts_at.desc(), CampaignRecord.id)
    ).all()
    if groups is not None:
        # An org-wide campaign spans every store: only org-wide staff see it.
        campaigns = [c for c in campaigns if c.groups and set(c.groups) <= set(groups)]
    return [campaign_return(session, campaign) for campaign in campaigns]
