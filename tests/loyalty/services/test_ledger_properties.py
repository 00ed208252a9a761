"""Random sequences of earn / redeem / refund / expire / merge / adjust: the ledger
invariants hold after every step (hypothesis stateful testing)."""

import contextlib
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from loyalty.models import Member, PointsEntry, Purchase
from loyalty.services import ledger, members, purchases, tiers
from loyalty.services.audit import audit_ledger
from loyalty.services.errors import InsufficientPoints, MergeNotAllowed, RefundExceedsPurchase
from tests.factories import EarningRuleFactory, StoreFactory, TierFactory, programme

pytestmark = pytest.mark.django_db


class Rollback(Exception):
    pass


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        programme(return_window_days=1, points_validity_days=60, tier_window_days=90)
        EarningRuleFactory(name="1 per euro", points_per_unit=1)
        TierFactory(code="base", rank=0, threshold=0)
        TierFactory(code="silver", rank=1, threshold=300)
        self.store = StoreFactory(code="paris")
        self.now = timezone.now()
        self.members = [members.create_member(email=f"m{i}@example.com") for i in range(3)]
        self.orders = 0

    def teardown(self):
        self._atomic.__exit__(Rollback, Rollback(), None)

    def active(self):
        return [m for m in self.members if Member.objects.get(pk=m.pk).is_active]

    @rule(who=st.integers(0, 2), cents=st.integers(0, 50_000))
    def earn(self, who, cents):
        member = self.members[who]
        self.orders += 1
        purchases.record_purchase(store=self.store, order_id=f"O{self.orders}",
                                  amount=f"{cents / 100:.2f}", member=member,
                                  occurred_at=self.now, now=self.now)

    @rule(who=st.integers(0, 2), points=st.integers(1, 400))
    def redeem(self, who, points):
        member = self.members[who]
        try:
            with transaction.atomic():
                locked = ledger.lock_member(member.pk)
                ledger.apply_debit(locked, kind=PointsEntry.Kind.REDEEM, points=points,
                                   reason="reward", reference="r", now=self.now)
        except InsufficientPoints:
            pass

    @precondition(lambda self: Purchase.objects.exists())
    @rule(pick=st.integers(0, 10_000), share=st.sampled_from([0.1, 0.25, 0.5, 1.0]))
    def refund(self, pick, share):
        purchase = Purchase.objects.order_by("pk")[pick % Purchase.objects.count()]
        self.orders += 1
        amount = max(purchase.amount * type(purchase.amount)(share), purchase.amount / 100)
        with contextlib.suppress(RefundExceedsPurchase):
            purchases.record_refund(purchase=purchase, refund_id=f"R{self.orders}",
                                    amount=f"{amount:.2f}" if amount >= 0.01 else "0.01",
                                    now=self.now)

    @rule(days=st.integers(1, 40))
    def time_passes(self, days):
        self.now += timedelta(days=days)
        for member_id in list(ledger.members_with_due_points(now=self.now)):
            ledger.bring_member_up_to_date(member_id=member_id, now=self.now)

    @rule(who=st.integers(0, 2), points=st.integers(-200, 200).filter(bool))
    def adjust(self, who, points):
        with contextlib.suppress(InsufficientPoints):
            ledger.adjust_points(member_id=self.members[who].pk, points=points,
                                 reason="staff", now=self.now)

    @rule(a=st.integers(0, 2), b=st.integers(0, 2))
    def merge(self, a, b):
        with contextlib.suppress(MergeNotAllowed):
            members.merge_members(survivor_id=self.members[a].pk,
                                  duplicate_id=self.members[b].pk, now=self.now)

    @rule(who=st.integers(0, 2))
    def reevaluate(self, who):
        member = Member.objects.get(pk=self.members[who].pk)
        if member.is_active:
            tiers.reevaluate_tier(member_id=member.pk, now=self.now)

    @invariant()
    def ledger_is_sound(self):
        report = audit_ledger()
        assert report.violations == []

    @invariant()
    def window_points_never_exceed_lifetime_points(self):
        # apply_promotion skips the window's sum when lifetime_earned is below the next
        # threshold: sound only while this holds, whatever the history.
        for member in Member.objects.filter(pk__in=[m.pk for m in self.members]):
            assert tiers.qualifying_value(member=member, now=self.now) <= member.lifetime_earned


def test_random_sequences_keep_every_ledger_invariant(db):
    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=60, stateful_step_count=30, deadline=None,
        suppress_health_check=list(HealthCheck)))
