"""A complete demo programme, built the way real life would have built it.

`seed_demo` sets up stores, the points scale, tiers and three logins, then
plays two years of history forward in time through the services themselves:
members enrol, buy in store and online, post reviews, sign up for the
newsletter, return things, get a goodwill gesture, are found to be duplicates
and merged. Every service call is given the simulated time as `now`, and at
each month boundary due points expire and tiers are re-evaluated, so the
ledger and the tier history look like those of a programme that has run for
two years. Nothing writes points or ledger rows except the services.

The reward catalogue is spent from the same way: members redeem rewards on the
portal when they can afford them, use most vouchers on a later order, let a few
expire, and Marie cancels one (and has one ready to use today).

The e-shop's customers from before the programme come in through a history
import (`shop_history`: two past customers per member, no points), as a shop
starting a programme would load its order history: with them the lifetime value
model has the few hundred repeat customers it needs to fit. At the end, the
insight run computes every member's RFM scores, lifetime value, lifecycle stage
and segment, as the nightly job would that day.

Deterministic for a given seed (only card numbers, which the card service
draws itself, differ). Idempotent: the history is written in one transaction,
and a database that already holds the demo's orders gets nothing more than
its settings and logins checked again.
"""

from __future__ import annotations

import random
import time
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.models import (
    ActionEvent,
    InsightRun,
    Member,
    MemberMerge,
    PointsEntry,
    Purchase,
    Refund,
    Store,
    Tier,
    TierChange,
)
from loyalty.services import settings_cache
from loyalty.services.audit import audit_ledger
from loyalty.services.demo.data import (
    ADMIN_EMAIL,
    CASHIER_EMAIL,
    CUSTOMER_EMAIL,
    DEFAULT_MEMBERS,
    DEFAULT_SEED,
    DEMO_PASSWORD,
    MIN_MEMBERS,
    ORDER_PREFIX,
)
from loyalty.services.demo.history import History
from loyalty.services.demo.messages import DAYS as JOURNEY_DAYS
from loyalty.services.demo.messages import replay_journeys
from loyalty.services.demo.plan import Person, Plan
from loyalty.services.demo.progress import say
from loyalty.services.demo.setup import (
    black_friday,
    ensure_logins,
    ensure_programme,
    ensure_rewards,
    ensure_scale,
    ensure_stores,
    ensure_tiers,
)
from loyalty.services.demo.shop_history import CUSTOMERS_PER_MEMBER, import_shop_history
from loyalty.services.errors import Invalid
from loyalty.services.insight import run_insight
from rewards.models import Redemption, Reward, Voucher

__all__ = [
    "DEFAULT_MEMBERS",
    "DEFAULT_SEED",
    "DEMO_PASSWORD",
    "MIN_MEMBERS",
    "DemoLedgerUnsound",
    "Person",
    "Plan",
    "black_friday",
    "seed_demo",
]


class DemoLedgerUnsound(RuntimeError):
    """The history played left the ledger inconsistent: a bug in a service. Nothing is kept."""

    def __init__(self, violations: list[str]):
        self.violations = violations
        super().__init__(f"{len(violations)} ledger violations, first: {violations[0]}")


def seed_demo(*, members: int = DEFAULT_MEMBERS, seed: int = DEFAULT_SEED,
              now: datetime | None = None, stdout=None) -> dict:
    """Create the demo programme, or check an existing one's settings and logins.

    The history is kept only if the ledger audit finds nothing wrong with it.
    Raises Invalid if `members` is below MIN_MEMBERS (the demo's scripted
    stories need a few people), DemoLedgerUnsound if the audit fails.
    """
    if members < MIN_MEMBERS:
        raise Invalid(fields={"members": f"at least {MIN_MEMBERS}"})
    now = now or timezone.now()
    started = time.monotonic()
    # One transaction (all or nothing, and on SQLite one write to disk); the configuration
    # read from memory, not unpickled from the cache again on each of the history's ~5,000
    # service calls (the demo's own changes to it drop it there, see settings_cache).
    with transaction.atomic(), settings_cache.pinned():
        say(stdout, _("Setting up the programme: stores, points scale, tiers, rewards, logins…"))
        stores = ensure_stores()
        ensure_programme()
        promotion = ensure_scale(now=now, stores=stores)
        ensure_tiers()
        ensure_rewards(stores)
        users = ensure_logins(stores)
        created = not Purchase.objects.filter(order_id__startswith=ORDER_PREFIX).exists()
        shop_history = None
        if created:
            plan = Plan(rng=random.Random(seed), now=now, size=members, promotion=promotion)
            History(plan=plan, stores=stores, admin=users["admin"], customer=users["customer"],
                     stdout=stdout).play()
            # The e-shop's customers from before the programme, imported from its export.
            say(stdout, _("Importing the e-shop's orders from before the programme…"))
            shop_history = import_shop_history(
                rng=random.Random(seed + 1), now=now, store=stores["web"],
                customers=members * CUSTOMERS_PER_MEMBER)
        say(stdout, _("Auditing the ledger…"))
        report = audit_ledger()
        if created and not report.ok:
            raise DemoLedgerUnsound(report.violations)
        # Scores, value, stages and segments, so the insight page is full on first sight;
        # once (a re-run adds nothing), unless the insight was never computed.
        insight = None
        if created or not InsightRun.objects.exists():
            say(stdout, _("Computing the insight: scores, segments, lifetime value…"))
            insight = run_insight(now=now, by=users["admin"])
        messages = None
        if created:
            say(stdout, _("Replaying the journeys over the last %(days)d days…") % {
                "days": JOURNEY_DAYS})
            messages = replay_journeys(now=now)
    return {**_counts(), "created": created, "seconds": round(time.monotonic() - started, 1),
            "insight": insight.summary if insight is not None else None,
            "shop_history": shop_history, "messages": messages,
            "ledger_ok": report.ok, "violations": report.violations,
            "logins": [(_("customer"), CUSTOMER_EMAIL, DEMO_PASSWORD),
                       (_("cashier (%(store)s)") % {"store": "paris"}, CASHIER_EMAIL,
                        DEMO_PASSWORD),
                       (_("programme admin"), ADMIN_EMAIL, DEMO_PASSWORD)]}


def _counts() -> dict:
    entries = dict(PointsEntry.objects.values_list("kind").annotate(n=Count("id")))
    return {
        "stores": Store.objects.count(),
        "members": Member.objects.filter(status=Member.Status.ACTIVE).count(),
        "merged_members": Member.objects.filter(status=Member.Status.MERGED).count(),
        "purchases": Purchase.objects.count(),
        "refunds": Refund.objects.count(),
        "actions": ActionEvent.objects.count(),
        "entries": sum(entries.values()),
        "entries_by_kind": entries,
        "tier_changes": TierChange.objects.count(),
        "merges": MemberMerge.objects.count(),
        "rewards": Reward.objects.count(),
        "redemptions": Redemption.objects.count(),
        "vouchers_by_status": dict(Voucher.objects.values_list("status").annotate(n=Count("id"))
                                   .order_by("status")),
        "members_per_tier": {tier.name: tier.n for tier in Tier.objects.annotate(
            n=Count("members", filter=Q(members__status=Member.Status.ACTIVE)))
            .order_by("rank")},
    }
