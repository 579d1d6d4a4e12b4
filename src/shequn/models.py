"""Every table, imported in one place so metadata (and Alembic) sees them all."""

from shequn.commerce.models import Order, Refund
from shequn.engine.models import ActionRecord, EventRecord, IntakeBatch, JobRecord
from shequn.fission.models import CampaignRecord, RewardGrant
from shequn.group.models import Group, Staff, Store
from shequn.invite.models import InviteCodeRecord, LiveCodeRecord
from shequn.member.models import GroupMember, Member, MemberActivity, Membership
from shequn.org.models import ApiToken, Org

__all__ = [
    "ActionRecord",
    "ApiToken",
    "CampaignRecord",
    "EventRecord",
    "Group",
    "GroupMember",
    "IntakeBatch",
    "InviteCodeRecord",
    "JobRecord",
    "LiveCodeRecord",
    "Member",
    "MemberActivity",
    "Membership",
    "Order",
    "Org",
    "Refund",
    "RewardGrant",
    "Staff",
    "Store",
]
