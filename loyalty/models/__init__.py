from .api import ApiKey, IdempotencyRecord
from .bonuses import PurchaseBonus
from .campaigns import Campaign, CampaignMember
from .cards import Card
from .imports import ImportJob
from .insight import (
    ClvFit,
    InsightRun,
    InsightSnapshot,
    MemberInsight,
    Segment,
    SegmentPeriod,
    SegmentRule,
    Stage,
    StagePeriod,
)
from .ledger import PointsEntry, PointsLot
from .members import ConsentChange, ExternalId, Member, MemberMerge
from .messaging import Channel, EmailBounce, Journey, Message, Purpose
from .programme import Programme
from .purchases import ActionEvent, Purchase, PurchaseItem, ReceiptClaim, Refund
from .reviews import Review
from .scale import ActionRule, EarningRule, Multiplier
from .stores import Store
from .tiers import Tier, TierChange
from .webhooks import WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "ApiKey", "IdempotencyRecord",
    "ActionEvent", "ActionRule", "Campaign", "CampaignMember", "Card", "ClvFit", "ImportJob",
    "InsightRun",
    "InsightSnapshot", "MemberInsight", "Segment", "SegmentPeriod", "SegmentRule", "Stage",
    "StagePeriod", "ConsentChange", "EarningRule", "ExternalId",
    "Channel", "EmailBounce", "Journey", "Message", "Purpose", "PurchaseBonus",
    "Member", "MemberMerge", "Multiplier", "PointsEntry", "PointsLot", "Programme",
    "Purchase", "PurchaseItem", "ReceiptClaim", "Refund", "Review", "Store", "Tier",
    "TierChange",
    "WebhookDelivery", "WebhookEndpoint", "WebhookEvent",
]
