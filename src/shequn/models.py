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
from shequn.points.models import (
    MallItem,
    MallRedemption,
    PointsBalance,
    PointsEntry,
    PointsGroup,
    PointsLot,
    PointsQuiz,
    PointsQuizAnswer,
    PointsReply,
    PointsReservation,
    PointsSignIn,
    PointsTally,
)
from shequn.web.models import StaffSession, StaffUser

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
    "MallItem",
    "MallRedemption",
    "Member",
    "MemberActivity",
    "Membership",
    "Order",
    "Org",
    "PointsBalance",
    "PointsEntry",
    "PointsGroup",
    "PointsLot",
    "PointsQuiz",
    "PointsQuizAnswer",
    "PointsReply",
    "PointsReservation",
    "PointsSignIn",
    "PointsTally",
    "Refund",
    "RewardGrant",
    "Staff",
    "StaffSession",
    "StaffUser",
    "Store",
]
