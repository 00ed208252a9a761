"""Members: one per person. Creating, finding by any identity, consents, merging."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty.models import (
    ActionEvent,
    Card,
    ConsentChange,
    EmailBounce,
    ExternalId,
    Member,
    MemberMerge,
    Message,
    Purchase,
    PurchaseBonus,
    Review,
    Store,
    Tier,
    TierChange,
)
from loyalty.services import cards, history, ledger, tiers
from loyalty.services.errors import Invalid, MemberExists, MergeNotAllowed, NotFound

DEFAULT_PHONE_REGION = getattr(settings, "LOYALTY_PHONE_REGION", "FR")


def normalise_email(value: str | None) -> str:
    value = (value or "").strip().lower()
    if not value:
        return ""
    try:
        validate_email(value)
    except ValidationError:
        raise Invalid(fields={"email": "not a valid email address"}) from None
    return value


def normalise_phone(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise Invalid(fields={"phone": "not a valid phone number"}) from None
    if not phonenumbers.is_valid_number(number):
        raise Invalid(fields={"phone": "not a valid phone number"})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _clean_text(value, *, field: str, max_length: int = 100) -> str:
    value = (value or "").strip()
    if len(value) > max_length:
        raise Invalid(fields={field: f"at most {max_length} characters"})
    return value


def existing_member_for(*, email: str = "", phone: str = "", external_id: str = "",
                        store: Store | None = None) -> Member | None:
    """The active member already holding one of these identities, if any."""
    candidates = []
    if email:
        candidates.append(Member.objects.filter(email=email).order_by("status", "-id").first())
    if phone:
        candidates.append(Member.objects.filter(phone=phone).order_by("status", "-id").first())
    if external_id and store is not None:
        ext = ExternalId.objects.filter(store=store, value=external_id).select_related(
            "member").first()
        candidates.append(ext.member if ext else None)
    for candidate in candidates:
        if candidate is not None:
            return follow_merges(candidate)
    return None


def current_member(member: Member) -> Member:
    """The member as stored now, through any merge since it was read."""
    member.refresh_from_db()
    return follow_merges(member)


def follow_merges(member: Member) -> Member:
    while member.status == Member.Status.MERGED and member.merged_into_id:
        member = member.merged_into
    return member


def create_member(*, email: str = "", phone: str = "", first_name: str = "",
                  last_name: str = "", birth_date: date | None = None, external_id: str = "",
                  store: Store | None = None, user=None, language: str = "",
                  referred_by: Member | None = None, card_number: str | None = None,
                  card_kind: str = Card.Kind.DIGITAL) -> Member:
    """Enrol a person. Raises MemberExists (with the member's id) if an identity is taken.

    The member's number is their first card's: a fresh digital one, or (at the till) the
    plastic card handed over, `card_number` (checked by the caller), of `card_kind`.
    """
    email = normalise_email(email)
    phone = normalise_phone(phone)
    external_id = _clean_text(external_id, field="external_id")
    if not (email or phone or external_id):
        raise Invalid(fields={"email": "give at least an email, a phone or an external id"})
    if external_id and store is None:
        raise Invalid(fields={"external_id": "an external id belongs to a store"})
    first_name = _clean_text(first_name, field="first_name")
    last_name = _clean_text(last_name, field="last_name")
    if birth_date is not None and not (date(1900, 1, 1) <= birth_date <= timezone.localdate()):
        raise Invalid(fields={"birth_date": "not a plausible birth date"})
    existing = existing_member_for(email=email, phone=phone, external_id=external_id, store=store)
    if existing is not None:
        raise MemberExists(fields={"member_id": existing.pk})
    try:
        with transaction.atomic():
            number = card_number or cards.new_card_number()
            member = Member.objects.create(
                card_number=number, email=email, phone=phone, first_name=first_name,
                last_name=last_name, birth_date=birth_date, user=user, language=language,
                referred_by=referred_by,
                tier=Tier.objects.filter(threshold__lte=0).order_by("-rank").first())
            Card.objects.create(member=member, number=number, kind=card_kind,
                                issued_by_store=store)
            if external_id:
                ExternalId.objects.create(member=member, store=store, value=external_id)
    except IntegrityError:
        # Another request enrolled the same person a moment ago.
        existing = existing_member_for(email=email, phone=phone, external_id=external_id,
                                       store=store)
        if existing is None:
            raise
        raise MemberExists(fields={"member_id": existing.pk}) from None
    return member


def set_consent(*, member_id: int, channel: str, granted: bool, source: str = "",
                now: datetime | None = None) -> Member:
    """Record a marketing consent given or withdrawn, with its time, in the history."""
    if channel not in ConsentChange.Channel.values:
        raise Invalid(fields={"channel": "email or sms"})
    now = now or timezone.now()
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=member_id)
        field = f"{channel}_marketing"
        if getattr(member, field) != granted:
            setattr(member, field, granted)
            setattr(member, f"{field}_at", now)
            member.save(update_fields=[field, f"{field}_at", "updated_at"])
            ConsentChange.objects.create(member=member, channel=channel, granted=granted,
                                         source=source[:50], at=now)
        return member


def _move_rewards(*, duplicate: Member, survivor: Member) -> dict:
    # The rewards app builds on this core, never the other way round: its models are
    # looked up by name rather than imported.
    from django.apps import apps

    return {name: apps.get_model("rewards", model).objects.filter(member=duplicate)
            .update(member=survivor)
            for name, model in (("redemptions", "Redemption"), ("vouchers", "Voucher"))}


def merge_members(*, survivor_id: int, duplicate_id: int, by=None, reason: str = "",
                  now: datetime | None = None) -> Member:
    """Fold a duplicate into the survivor without losing anything.

    Points and lots, purchases, refunds' purchases, actions, cards, external
    ids and referrals move to the survivor; the survivor fills its blank
    identities from the duplicate; the duplicate is closed (never deleted) and
    points to the survivor, so its old card number, email or id still find
    the right person. The survivor keeps the better of the two tiers.
    Raises MergeNotAllowed for a member merged with itself or a closed member.
    """
    if survivor_id == duplicate_id:
        raise MergeNotAllowed(fields={"duplicate_id": "a member cannot be merged with itself"})
    now = now or timezone.now()
    by = by if by is not None and by.is_authenticated else None
    with transaction.atomic():
        # Lock both in id order, so two opposite merges cannot deadlock.
        locked = {}
        for member_id in sorted((survivor_id, duplicate_id)):
            try:
                locked[member_id] = (Member.objects.select_for_update(of=("self",))
                                     .select_related("tier").get(pk=member_id))
            except Member.DoesNotExist:
                raise NotFound(fields={"member_id": member_id}) from None
        survivor, duplicate = locked[survivor_id], locked[duplicate_id]
        if duplicate.merged_into_id == survivor.pk and survivor.is_active:
            return survivor  # already done: a retried merge changes nothing
        if not (survivor.is_active and duplicate.is_active):
            raise MergeNotAllowed(fields={"duplicate_id": "both members must be active"})
        if survivor.user_id and duplicate.user_id:
            raise MergeNotAllowed(fields={"duplicate_id": "both members have an account"})

        reference = f"merge:{duplicate.pk}>{survivor.pk}"
        transfer = ledger.apply_transfer(source=duplicate, target=survivor,
                                         details={"event": history.MERGE,
                                                  "duplicate_card": duplicate.card_number,
                                                  "survivor_card": survivor.card_number},
                                         reference=reference, now=now, by=by)
        moved = {
            "points": transfer.points,
            "lots": transfer.lots,
            "purchases": Purchase.objects.filter(member=duplicate).update(member=survivor),
            "actions": ActionEvent.objects.filter(member=duplicate).update(member=survivor),
            "reviews": Review.objects.filter(member=duplicate).update(member=survivor),
            "cards": Card.objects.filter(member=duplicate).update(member=survivor),
            "external_ids": ExternalId.objects.filter(member=duplicate).update(member=survivor),
            "referrals": Member.objects.filter(referred_by=duplicate).update(
                referred_by=survivor),
            # What the person was given, told and asked stays theirs: their vouchers (bought
            # or given) and redemptions, an open next-purchase bonus, the messages (so the
            # caps count them), the consent history and the addresses that bounced.
            **_move_rewards(duplicate=duplicate, survivor=survivor),
            "bonuses": PurchaseBonus.objects.filter(member=duplicate).update(member=survivor),
            "messages": Message.objects.filter(member=duplicate).update(member=survivor),
            "consent_changes": ConsentChange.objects.filter(member=duplicate).update(
                member=survivor),
            "email_bounces": EmailBounce.objects.filter(member=duplicate).update(
                member=survivor),
            "identities": {"email": duplicate.email, "phone": duplicate.phone,
                           "card_number": duplicate.card_number},
        }
        duplicate.status = Member.Status.MERGED
        duplicate.merged_into = survivor
        user = duplicate.user
        duplicate.user = None
        duplicate.save(update_fields=["status", "merged_into", "user", "updated_at"])

        changed = []
        for field in ("email", "phone", "first_name", "last_name", "birth_date", "language"):
            if not getattr(survivor, field) and getattr(duplicate, field):
                setattr(survivor, field, getattr(duplicate, field))
                changed.append(field)
        if user is not None:
            survivor.user = user
            changed.append("user")
        for channel in ("email", "sms"):
            # The most recent decision of the person wins, whoever recorded it.
            mine, theirs = (getattr(m, f"{channel}_marketing_at") for m in (survivor, duplicate))
            if theirs and (mine is None or theirs > mine):
                for suffix in ("_marketing", "_marketing_at"):
                    setattr(survivor, channel + suffix, getattr(duplicate, channel + suffix))
                    changed.append(channel + suffix)
        if changed:
            survivor.save(update_fields=[*changed, "updated_at"])

        if duplicate.tier and (survivor.tier is None or duplicate.tier.rank > survivor.tier.rank):
            TierChange.objects.create(member=survivor, from_tier=survivor.tier,
                                      to_tier=duplicate.tier, reason=TierChange.Reason.MERGE,
                                      by=by, at=now)
            survivor.tier = duplicate.tier
            survivor.save(update_fields=["tier", "updated_at"])
        tiers.apply_promotion(survivor, now=now, reason=TierChange.Reason.MERGE)
        MemberMerge.objects.create(survivor=survivor, duplicate=duplicate, performed_by=by,
                                   reason=reason[:200], moved=moved)
        return survivor


# --- At the till --------------------------------------------------------------------------


@dataclass(frozen=True)
class TillCard:
    """A card issued at the till, and whether its member was enrolled by the same call."""

    card: Card
    member: Member
    new_member: bool


def issue_card_at_till(*, store, number: str | None = None, email: str = "", phone: str = "",
                       first_name: str = "", last_name: str = "") -> TillCard:
    """Hand a plastic card over the counter, to a member found by email or phone, or a new one.

    The person is found by their email or phone (following merges); if nobody
    holds either, they are enrolled with what was given. The card number, when
    pre-printed, must pass its check digit and be unused; without one a fresh
    number is drawn. Everything happens in one transaction: a refused card
    enrols nobody. Raises Invalid (no email or phone, a bad number or identity,
    an email and a phone that belong to two different members) or MemberExists
    (someone enrolled the same person at the same moment).
    """
    email = normalise_email(email)
    phone = normalise_phone(phone)
    if not (email or phone):
        raise Invalid(fields={"email": "give the customer's email or phone"})
    if number is not None and cards.normalise_card_number(number) == "":
        number = None
    if number is not None:
        number = cards.normalise_card_number(number)
        if not cards.is_valid_card_number(number):
            raise Invalid(fields={"number": "not a valid card number"})
    by_email = existing_member_for(email=email) if email else None
    by_phone = existing_member_for(phone=phone) if phone else None
    if by_email and by_phone and by_email.pk != by_phone.pk:
        raise Invalid(fields={"phone": "this phone belongs to another member than the email"})
    member = by_email or by_phone
    with transaction.atomic():
        new_member = member is None
        if new_member:
            # One person, one number: the plastic card handed over is the new member's
            # card, the number their phone, emails and the till show (a second, digital
            # number would differ from the card in their hand).
            if number is not None and Card.objects.filter(number=number).exists():
                raise Invalid(fields={"number": "this card is already in use"})
            member = create_member(email=email, phone=phone, first_name=first_name,
                                   last_name=last_name, store=store,
                                   card_number=number or cards.new_card_number(),
                                   card_kind=Card.Kind.PHYSICAL)
            card = Card.objects.get(number=member.card_number)
        else:
            card = cards.issue_card(member_id=member.pk, number=number,
                                    kind=Card.Kind.PHYSICAL, store=store)
    return TillCard(card=card, member=member, new_member=new_member)
