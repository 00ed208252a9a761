"""The tiers as staff set them up: saved only in rising order, deleted only once their
members have somewhere to go.

`save_tier` enforces the order `Tier.clean` states (thresholds rise with rank) for any
door that saves tiers; `delete_tier` moves a tier's members to another tier (a TierChange
and a `member.tier_changed` webhook each, as any change of tier) and the rewards that
required it, then deletes it.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from loyalty.models import Member, Tier, TierChange
from loyalty.services import webhooks
from loyalty.services.errors import Invalid, NotFound
from loyalty.services.tiers import qualifying_values


def _locked_tiers() -> dict[int, Tier]:
    # Every tier is locked (in id order): two saves at once cannot each pass the order
    # check against the other's old threshold.
    return {tier.pk: tier for tier in Tier.objects.select_for_update().order_by("pk")}


def save_tier(*, tier: Tier) -> Tier:
    """Save a tier (new or changed). Raises Invalid when its threshold does not rise with
    its rank (or any other field is invalid), with the message on the field."""
    with transaction.atomic():
        _locked_tiers()
        try:
            tier.full_clean()
        except ValidationError as error:
            fields = {name: " ".join(messages) for name, messages in error.message_dict.items()}
            raise Invalid(" ".join(fields.values()), fields=fields) from None
        tier.save()
        return tier


def delete_tier(*, tier_id: int, move_to_id: int, by=None, now: datetime | None = None) -> int:
    """Delete a tier after moving its members (and the rewards that require it) to the tier
    `move_to_id`. Each member moved gets a TierChange (set by staff, `by`) and a webhook.
    Returns how many members moved. Raises NotFound (either tier missing) or Invalid (the
    same tier)."""
    now = now or timezone.now()
    by = by if by is not None and getattr(by, "is_authenticated", False) else None
    with transaction.atomic():
        tiers = _locked_tiers()
        tier = tiers.get(tier_id)
        if tier is None:
            raise NotFound(fields={"tier": tier_id})
        target = tiers.get(move_to_id)
        if target is None:
            raise NotFound(fields={"move_to": move_to_id})
        if target.pk == tier.pk:
            raise Invalid(fields={"move_to": "another tier than the one deleted"})
        members = list(Member.objects.select_for_update().filter(tier=tier).order_by("pk"))
        values = qualifying_values(member_ids=[member.pk for member in members], now=now)
        changes = TierChange.objects.bulk_create(
            TierChange(member=member, from_tier=tier, to_tier=target,
                       reason=TierChange.Reason.MANUAL, qualifying_value=values[member.pk],
                       by=by, at=now)
            for member in members)
        for change, member in zip(changes, members, strict=True):
            member.tier = target
            if member.status == Member.Status.ACTIVE:
                webhooks.emit_tier_changed(change=change, member=member)
        Member.objects.filter(pk__in=[member.pk for member in members]).update(
            tier=target, updated_at=now)
        from rewards.models import Reward

        Reward.objects.filter(tier_required=tier).update(tier_required=target)
        tier.delete()
        return len(members)
