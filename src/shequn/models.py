"""Every table, imported in one place so metadata (and Alembic) sees them all."""

from shequn.audit.models import AuditCase, AuditDecision, KickedLook
from shequn.commerce.models import Order, Refund
from shequn.engine.models import ActionRecord, EventRecord, IntakeBatch, JobRecord
from shequn.fission.models import CampaignRecord, RewardGrant
from shequn.group.models import Group, Staff, Store
from shequn.invite.models import InviteCodeRecord, LiveCodeRecord
from shequn.lottery.models import DrawRecord, LotteryRecord, LotteryWin
from shequn.member.models import GroupMember, Member, MemberActivity, Membership
from shequn.org.models import ApiToken, Org

__all__ = [
    "ActionRecord",
    "ApiToken",
    "AuditCase",
    "AuditDecision",
    "CampaignRecord",
    "DrawRecord",
    "EventRecord",
    "Group",
    "GroupMember",
    "IntakeBatch",
    "InviteCodeRecord",
    "JobRecord",
    "KickedLook",
    "LiveCodeRecord",
    "LotteryRecord",
    "LotteryWin",
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
