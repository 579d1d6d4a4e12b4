"""Each group's figures per local day and its activity per local hour, kept by a projection so
dashboards need not read the log."""

from datetime import date

from sqlalchemy import BigInteger, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from shequn.commerce.models import Order, Refund
from shequn.db import UPDATED_IN_PLACE, Base

# Orders (and refunds of orders not arrived yet) without a group are kept under this id.
NO_GROUP = ""

# The table counts a day's sales and refunds again whenever one changes: by time, not by scan.
Index("ix_shop_order_paid", Order.org, Order.paid_at)
Index("ix_refund_refunded", Refund.org, Refund.refunded_at)


class GroupDayFigures(Base):
    """What happened in one group on one of its org's local days; money in fen.

    Members at a day's end are not stored: they are the group's members now less the joins and
    plus the exits of the days after, so a late join changes one row, not every later one.
    Speakers, active members and buyers are distinct on the day; they do not add up over days.
    A row with nothing counted is not kept.
    """

    __tablename__ = "group_daily_figures"
    __table_args__ = (Index("ix_group_daily_figures_day", "org", "day"), UPDATED_IN_PLACE)

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    joins: Mapped[int]
    leaves: Mapped[int]
    kicked: Mapped[int]
    messages: Mapped[int]
    speakers: Mapped[int]
    active: Mapped[int]
    orders: Mapped[int]
    buyers: Mapped[int]
    items: Mapped[int]
    gmv: Mapped[int] = mapped_column(BigInteger)
    refunds: Mapped[int] = mapped_column(BigInteger)


class GroupHourlyActivity(Base):
    """Messages posted and reactions added in one group in one of its org's local clock hours:
    the heatmap of a group, or of the groups a staff member sees, without reading the log."""

    __tablename__ = "group_hourly_activity"
    __table_args__ = UPDATED_IN_PLACE

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    messages: Mapped[int]
    reactions: Mapped[int]


class OrgHourlyActivity(Base):
    """The same summed over the org's groups: the org-wide heatmap reads 24 rows a day, not
    one per group and hour."""

    __tablename__ = "org_hourly_activity"
    __table_args__ = UPDATED_IN_PLACE

    org: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    messages: Mapped[int]
    reactions: Mapped[int]
