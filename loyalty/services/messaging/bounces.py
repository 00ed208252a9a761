"""What the email provider tells us back: bounces and complaints (django-anymail's tracking
webhooks, normalised by anymail for every provider it supports).

A bounce (or a rejection for a bad address) or a spam complaint marks the address
undeliverable: later email messages to it are suppressed with the reason `bounced`
(`rules.suppression`). A complaint also withdraws the member's email marketing
consent, recorded in the consent history with the source `complaint`. Each provider
event is recorded once (its event id), so a provider retrying its webhook changes
nothing. Other events (delivered, opened, clicked, deferred...) are ignored.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty.models import EmailBounce, Member
from loyalty.services import members as member_services

Event = EmailBounce.Event
# A rejection counts when the provider refused the address itself (not, say, a policy).
REJECT_REASONS = {"bounced", "invalid"}
COMPLAINT_SOURCE = "complaint"


def undeliverable(address: str) -> bool:
    """Whether the provider reported this address as bouncing or complaining."""
    address = (address or "").strip().lower()
    return bool(address) and EmailBounce.objects.filter(address=address).exists()


def record_email_event(*, event_type: str, recipient: str, event_id: str = "",
                       provider: str = "", reject_reason: str = "", description: str = "",
                       at: datetime | None = None) -> EmailBounce | None:
    """Record a provider's bounce, rejection or complaint for `recipient`, once per event id.

    Returns the record (the first one for an event id seen before), or None for an event
    that does not make an address undeliverable or has no recipient. A complaint
    withdraws the email marketing consent of the active member with this address.
    """
    address = (recipient or "").strip().lower()
    if not address or event_type not in Event.values:
        return None
    if event_type == Event.REJECTED and (reject_reason or "") not in REJECT_REASONS:
        return None
    at = at or timezone.now()
    # Some providers give no event id: the event's content is its identity then.
    event_id = (event_id or "").strip()[:200] or "sha256:" + hashlib.sha256(
        f"{provider}|{event_type}|{address}|{at.isoformat()}".encode()).hexdigest()
    existing = EmailBounce.objects.filter(event_id=event_id).first()
    if existing is not None:
        return existing
    member = (Member.objects.filter(status=Member.Status.ACTIVE, email__iexact=address)
              .only("pk").first())
    try:
        with transaction.atomic():
            bounce = EmailBounce.objects.create(
                address=address, member=member, event=event_type, event_id=event_id,
                provider=(provider or "")[:50], description=(description or "")[:300], at=at)
            if event_type == Event.COMPLAINED and member is not None:
                # Dated when we learn it: the history's order is the order of the changes.
                member_services.set_consent(member_id=member.pk, channel="email",
                                            granted=False, source=COMPLAINT_SOURCE)
    except IntegrityError:  # the same event, recorded meanwhile by another request
        return EmailBounce.objects.get(event_id=event_id)
    return bounce


def clear_address(*, address: str) -> int:
    """Make an address deliverable again (the member fixed their mailbox, or the provider's
    report was wrong): its bounce records go, so later emails to it are sent. Returns how
    many records were cleared. The consent a complaint withdrew stays withdrawn: only the
    member gives it back."""
    address = (address or "").strip().lower()
    if not address:
        return 0
    with transaction.atomic():
        cleared, _by_model = EmailBounce.objects.filter(address=address).delete()
    return cleared
