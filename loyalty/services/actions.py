"""Points for actions (a newsletter sign-up, a review, a referral, a birthday).

Idempotent on the event id (per store, or programme-wide for events the
programme raises itself). A member who reached a rule's limit for the period
gets the event recorded with no points, and `limited` set.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty.models import ActionEvent, ActionRule, PointsEntry, Store
from loyalty.services import history, ledger, tiers, webhooks
from loyalty.services.earning import current_programme
from loyalty.services.errors import EventConflict, UnknownEventType
from loyalty.services.inputs import checked_occurred_at, content_fingerprint, identifier
from loyalty.services.members import current_member
from loyalty.services.recorded import Recorded

logger = logging.getLogger(__name__)


def period_start(period: str, at: datetime) -> datetime | None:
    local = timezone.localtime(at)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == ActionRule.Period.DAY:
        return midnight
    if period == ActionRule.Period.WEEK:
        return midnight - timedelta(days=local.weekday())
    if period == ActionRule.Period.MONTH:
        return midnight.replace(day=1)
    if period == ActionRule.Period.YEAR:
        return midnight.replace(month=1, day=1)
    return None


def record_action(*, member, event_type: str, event_id: str, store: Store | None = None,
                  occurred_at: datetime | None = None, now: datetime | None = None) -> Recorded:
    """Credit the action rule's points for an event, once per event id, within limits.

    Raises UnknownEventType (no active rule), EventConflict (same event id for
    another member or type), Invalid, NotFound or MemberClosed.
    """
    now = now or timezone.now()
    event_id = identifier(event_id, field="event_id")
    occurred_at = checked_occurred_at(occurred_at, now)
    rule = ActionRule.objects.filter(event_type=str(event_type or "")[:50], active=True).first()
    if rule is None:
        raise UnknownEventType(fields={"type": event_type})
    fingerprint = content_fingerprint({"type": rule.event_type})
    try:
        with transaction.atomic():
            locked = ledger.lock_member(member.pk)
            existing = ActionEvent.objects.filter(store=store, event_id=event_id).first()
            if existing is not None:
                return Recorded(_same_event(existing, locked, fingerprint), False)
            limited = False
            if rule.limit_count is not None:
                done = ActionEvent.objects.filter(member=locked, rule=rule, limited=False)
                since = period_start(rule.limit_period, occurred_at)
                if since is not None:
                    done = done.filter(occurred_at__gte=since)
                limited = done.count() >= rule.limit_count
            entry = None
            if not limited and rule.points > 0:
                qualifying = current_programme().actions_qualify_for_tiers
                entry = ledger.apply_credit(
                    locked, kind=PointsEntry.Kind.EARN, points=rule.points,
                    details={"event": history.ACTION, "rule_id": rule.pk,
                             "event_type": rule.event_type},
                    reference=f"event:{store.code if store else 'programme'}/{event_id}",
                    now=now, qualifying=qualifying, earned=True, store=store)
                if qualifying:
                    tiers.apply_promotion(locked, now=now)
            event = ActionEvent.objects.create(
                member=locked, rule=rule, store=store, event_id=event_id,
                occurred_at=occurred_at, points_earned=entry.points if entry else 0,
                limited=limited, balance_after=locked.balance, entry=entry,
                fingerprint=fingerprint, created_at=now)
            webhooks.emit_action_earned(event=event, member=locked)
            return Recorded(event, True)
    except IntegrityError:
        existing = ActionEvent.objects.filter(store=store, event_id=event_id).first()
        if existing is None:
            raise
        return Recorded(_same_event(existing, current_member(member), fingerprint), False)


def _same_event(existing: ActionEvent, member, fingerprint: str) -> ActionEvent:
    if existing.member_id != member.pk or existing.fingerprint != fingerprint:
        raise EventConflict(fields={"event_id": existing.event_id})
    return existing


def award_if_active(*, member, event_type: str, event_id: str,
                    occurred_at: datetime | None = None,
                    now: datetime | None = None) -> ActionEvent | None:
    """An action the programme raises itself (an account created, a friend's first
    purchase, a review): its points if a rule for it is active, nothing (logged) if none
    is. Returns the event recorded (or recorded before, for a retry), else None."""
    try:
        return record_action(member=member, event_type=event_type, event_id=event_id,
                             occurred_at=occurred_at, now=now).obj
    except UnknownEventType:
        logger.info("No active %s rule: no points for %s", event_type, event_id)
        return None


ACCOUNT_CREATED = "account_created"


def award_welcome(*, member, event_id: str, now: datetime | None = None) -> ActionEvent | None:
    """The welcome points (the `account_created` action), once per member whichever door
    they came in by: signing up on the web, or enrolled at the till. A member who already
    had them (enrolled at the till, then signing up online) gets nothing twice."""
    done = ActionEvent.objects.filter(member=member,
                                      rule__event_type=ACCOUNT_CREATED).first()
    if done is not None:
        return done
    return award_if_active(member=member, event_type=ACCOUNT_CREATED, event_id=event_id,
                           now=now)
