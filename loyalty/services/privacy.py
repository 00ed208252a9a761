"""A member's data rights: everything the programme holds about them (export), and the
right to be forgotten (erasure), for the member's own page and for staff."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from loyalty.models import (
    ActionEvent,
    Card,
    ConsentChange,
    ExternalId,
    Member,
    Message,
    PointsEntry,
    PointsLot,
    Purchase,
    Review,
)
from loyalty.services import cards as card_services
from loyalty.services import history, ledger, reviews
from loyalty.services import members as member_services

logger = logging.getLogger(__name__)


def _dt(value):
    return value.isoformat() if value else None


def export_member_data(*, member: Member) -> dict:
    """Everything the programme holds about the member, as JSON-ready data."""
    from rewards.models import Voucher

    purchases = (Purchase.objects.filter(member=member).select_related("store")
                 .prefetch_related("items", "refunds").order_by("occurred_at", "pk"))
    return {
        "exported_at": _dt(timezone.now()),
        "profile": {
            "card_number": member.card_number, "email": member.email, "phone": member.phone,
            "first_name": member.first_name, "last_name": member.last_name,
            "birth_date": member.birth_date.isoformat() if member.birth_date else None,
            "language": member.language, "status": member.status,
            "tier": member.tier.name if member.tier_id else None,
            "points": {"balance": member.balance, "pending": member.pending,
                       "lifetime_earned": member.lifetime_earned},
            "referred_by": member.referred_by.card_number if member.referred_by_id else None,
            "account_email": member.user.email if member.user_id else None,
            "created_at": _dt(member.created_at),
        },
        "consents": {
            "current": {"email": {"granted": member.email_marketing,
                                  "at": _dt(member.email_marketing_at)},
                        "sms": {"granted": member.sms_marketing,
                                "at": _dt(member.sms_marketing_at)}},
            "history": [{"channel": c.channel, "granted": c.granted, "source": c.source,
                         "at": _dt(c.at)}
                        for c in ConsentChange.objects.filter(member=member).order_by("at", "pk")],
        },
        "cards": [{"number": c.number, "kind": c.kind, "status": c.status,
                   "issued_at": _dt(c.issued_at), "blocked_at": _dt(c.blocked_at)}
                  for c in Card.objects.filter(member=member).order_by("issued_at", "pk")],
        "external_ids": [{"store": e.store.code, "value": e.value}
                         for e in ExternalId.objects.filter(member=member)
                         .select_related("store")],
        "purchases": [{
            "store": p.store.code, "order_id": p.order_id, "amount": str(p.amount),
            "occurred_at": _dt(p.occurred_at), "points_earned": p.points_earned,
            "points_breakdown": p.points_breakdown, "points_reversed": p.points_reversed,
            "refunded_amount": str(p.refunded_amount),
            "items": [{"sku": i.sku, "category": i.category, "quantity": i.quantity,
                       "unit_price": str(i.unit_price)} for i in p.items.all()],
            "refunds": [{"refund_id": r.refund_id, "amount": str(r.amount),
                         "points_reversed": r.points_reversed, "at": _dt(r.created_at)}
                        for r in p.refunds.all()],
        } for p in purchases],
        "actions": [{"type": a.rule.event_type, "event_id": a.event_id,
                     "points_earned": a.points_earned, "occurred_at": _dt(a.occurred_at)}
                    for a in ActionEvent.objects.filter(member=member).select_related("rule")
                    .order_by("occurred_at", "pk")],
        "reviews": [{"store": r.store.code, "order_id": r.purchase.order_id,
                     "rating": r.rating, "comment": r.comment,
                     "created_at": _dt(r.created_at)}
                    for r in Review.objects.filter(member=member)
                    .select_related("store", "purchase").order_by("created_at", "pk")],
        "ledger": _ledger(member),
        "vouchers": [{"code": v.formatted_code, "reward": v.reward.name, "kind": v.kind,
                      "value": str(v.value), "status": v.status, "issued_at": _dt(v.issued_at),
                      "expires_at": _dt(v.expires_at), "used_at": _dt(v.used_at)}
                     for v in Voucher.objects.filter(member=member).select_related("reward")
                     .order_by("issued_at", "pk")],
        "messages": [{"kind": m.kind, "occasion": m.occasion, "channel": m.channel,
                      "purpose": m.purpose, "status": m.status, "reason": m.reason,
                      "context": m.context, "created_at": _dt(m.created_at),
                      "sent_at": _dt(m.sent_at)}
                     for m in Message.objects.filter(member=member).order_by("created_at", "pk")],
    }


def end_sessions(*, user) -> int:
    """Delete every database session of this user (there is no index by user: scan)."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()
            ended += 1
    return ended


def _ledger(member) -> list[dict]:
    """The member's ledger, each line in their words (history.describe_entries)."""
    entries = list(history.history_queryset(
        PointsEntry.objects.filter(member=member)).order_by("created_at", "pk"))
    return [{"kind": e.kind, "points": e.points, "balance_after": e.balance_after,
             "reason": text, "reference": e.reference, "created_at": _dt(e.created_at)}
            for e, text in zip(entries, history.describe_entries(entries), strict=True)]


def _forfeit_points(*, member_id: int, by, now: datetime) -> None:
    """Within the erasure's transaction: points still pending are released early, the
    spendable balance is debited (a debt after refunds is written off), through the
    ledger, so `check_ledger` holds for the closed member."""
    locked = ledger.lock_member(member_id)
    PointsLot.objects.filter(member=locked, released=False).update(available_at=now)
    ledger.apply_due_changes(locked, now=now)
    reference = f"erasure:{locked.pk}"
    if locked.balance > 0:
        ledger.apply_debit(locked, kind=PointsEntry.Kind.ADJUST, points=locked.balance,
                           details={"event": history.ERASURE, "outcome": "forfeited"},
                           reference=reference,
                           now=now, by=by)
    elif locked.balance < 0:
        ledger.apply_credit(locked, kind=PointsEntry.Kind.ADJUST, points=-locked.balance,
                            details={"event": history.ERASURE, "outcome": "written_off"},
                            reference=reference,
                            now=now, by=by)


def _erase_merged_duplicates(member: Member) -> None:
    """Members merged into this one still hold the person's old identities (and the merge
    record lists them): erase those too, or the old email would still find them."""
    from loyalty.models import MemberMerge

    seen, todo = set(), [member.pk]
    while todo:
        duplicates = list(Member.objects.filter(merged_into_id__in=todo)
                          .exclude(pk__in=seen).values_list("pk", flat=True))
        seen.update(duplicates)
        todo = duplicates
    if not seen:
        return
    Member.objects.filter(pk__in=seen).update(
        email="", phone="", first_name="", last_name="", birth_date=None, user=None,
        updated_at=timezone.now())
    ExternalId.objects.filter(member_id__in=seen).delete()
    for merge in MemberMerge.objects.filter(duplicate_id__in=seen):
        if isinstance(merge.moved, dict) and "identities" in merge.moved:
            merge.moved["identities"] = {"erased": True}
            merge.save(update_fields=["moved"])


def erase_member(*, member: Member, by=None, now: datetime | None = None) -> Member:
    """Erase a member's personal data for good: the right to be forgotten.

    Names, email, phone and birth date are blanked; consents withdrawn (dated, through
    `set_consent`); cards blocked; external ids deleted; the login deactivated, its
    email replaced and its sessions ended; the member closed as "deleted". The ledger,
    lots and purchases stay, without identity, for the books; reviews keep their rating
    (the stores' figures) and lose their comment.
    """
    from rewards.models import Voucher
    from rewards.services import cancel_voucher

    now = now or timezone.now()
    with transaction.atomic():
        # Vouchers not yet used are cancelled (their stock comes back), then every point is
        # forfeited: a closed member holds none, and the books say where they went.
        for voucher_id in Voucher.objects.filter(member=member, status=Voucher.Status.ISSUED,
                                                 expires_at__gt=now).values_list("pk", flat=True):
            cancel_voucher(voucher_id=voucher_id, member_id=member.pk, by=by, now=now)
        _forfeit_points(member_id=member.pk, by=by, now=now)
        member = (Member.objects.select_for_update(of=("self",)).select_related("user")
                  .get(pk=member.pk))
        for channel in ("email", "sms"):
            member_services.set_consent(member_id=member.pk, channel=channel, granted=False,
                                        source="erasure", now=now)
        for card_id in Card.objects.filter(member=member).values_list("pk", flat=True):
            card_services.block_card(card_id=card_id)
        ExternalId.objects.filter(member=member).delete()
        _erase_merged_duplicates(member)
        # The ratings stay for the stores' figures; the person's words (and the notes
        # staff wrote about them) go. Reviews of merged duplicates moved here at the merge.
        reviews.anonymise_reviews(member_ids=[member.pk])
        # The provider's bounce reports name the address: they go with it.
        from loyalty.models import EmailBounce

        # Also those that came before any member had the address (kept without a member).
        bounced = Q(member=member)
        if member.email:
            bounced |= Q(address=member.email.strip().lower())
        EmailBounce.objects.filter(bounced).delete()
        user = member.user
        member.refresh_from_db()
        member.email = member.phone = member.first_name = member.last_name = ""
        member.birth_date = None
        member.status = Member.Status.DELETED
        member.user = None
        member.save(update_fields=["email", "phone", "first_name", "last_name", "birth_date",
                                   "status", "user", "updated_at"])
        if user is not None:
            from allauth.account.models import EmailAddress

            EmailAddress.objects.filter(user=user).delete()
            user.email = f"deleted-{uuid.uuid4().hex}@invalid"
            user.first_name = user.last_name = ""
            user.is_active = False
            user.set_unusable_password()
            user.save()
            end_sessions(user=user)
        logger.info("Member %s erased (by user %s)", member.pk,
                    getattr(by, "pk", None) if by is not None else None)
        return member
