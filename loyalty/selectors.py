"""Read-side queries shared by the pages, the API and the admin."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from loyalty.models import Member, PointsEntry, PointsLot, Tier


def member_for_user(user) -> Member | None:
    if not user.is_authenticated:
        return None
    return Member.objects.select_related("tier").filter(user=user, status="active").first()


def expiring_points(*, member: Member, within_days: int | None = None) -> list[dict]:
    """Spendable points grouped by expiry date, soonest first."""
    lots = PointsLot.objects.filter(member=member, remaining__gt=0)
    if within_days is not None:
        lots = lots.filter(expires_at__lte=timezone.now() + timedelta(days=within_days))
    rows = (lots.values("expires_at").annotate(points=Sum("remaining")).order_by("expires_at"))
    return [{"points": row["points"], "expires_at": row["expires_at"]} for row in rows]


def recent_entries(*, member: Member, limit: int = 10):
    return PointsEntry.objects.filter(member=member).order_by("-id")[:limit]


def next_tier(*, member: Member) -> Tier | None:
    rank = member.tier.rank if member.tier else -1
    return Tier.objects.filter(rank__gt=rank).order_by("rank").first()
