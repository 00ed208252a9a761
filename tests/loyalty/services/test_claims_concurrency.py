"""The one-claim race: two members claiming one receipt at once. PostgreSQL only: SQLite
serialises every writer, so it cannot show it."""

import pytest

from loyalty.models import PointsEntry, Purchase, ReceiptClaim
from loyalty.services import claims, purchases
from loyalty.services.audit import audit_ledger
from loyalty.services.errors import ClaimUsed
from tests.concurrency import run_at_once
from tests.factories import EarningRuleFactory, StoreFactory, make_member, programme

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receipt(db):
    programme(return_window_days=0)
    EarningRuleFactory(name="1 point per euro", points_per_unit=1)
    store = StoreFactory(code="paris")
    purchase = purchases.record_purchase(store=store, order_id="T-1", amount="30.00",
                                         member=None).obj
    return claims.issue_claim(purchase=purchase).obj


@pytest.mark.parametrize("round_", range(5))
def test_two_members_claiming_one_receipt_at_once_exactly_one_wins(receipt, round_):
    people = [make_member(), make_member()]

    def claim(i):
        return claims.claim_purchase(code=claims.grouped(receipt.code), member=people[i])

    results = run_at_once(2, claim)
    won = [r for r in results if isinstance(r, purchases.Recorded)]
    lost = [r for r in results if isinstance(r, ClaimUsed)]
    assert len(won) == 1 and len(lost) == 1, results
    assert won[0].created
    winner = Purchase.objects.get().member
    assert ReceiptClaim.objects.get().claimed_by == winner
    for person in people:
        person.refresh_from_db()
    assert sorted(person.balance for person in people) == [0, 30]
    assert PointsEntry.objects.count() == 1
    assert audit_ledger().violations == []


def test_one_member_claiming_from_many_tabs_is_credited_once(receipt):
    member = make_member()

    def claim(i):
        code = claims.token_for(receipt) if i % 2 else receipt.code
        return claims.claim_purchase(code=code, member=member)

    results = run_at_once(8, claim)
    assert all(isinstance(r, purchases.Recorded) for r in results), results
    assert sum(r.created for r in results) == 1
    member.refresh_from_db()
    assert member.balance == 30
    assert audit_ledger().violations == []


def test_a_refund_racing_a_claim_never_leaves_points_for_a_refunded_sale(receipt):
    member = make_member()
    purchase = Purchase.objects.get()

    def act(i):
        if i == 0:
            return claims.claim_purchase(code=receipt.code, member=member)
        return purchases.record_refund(purchase=purchase, refund_id="R-1", amount="30.00")

    results = run_at_once(2, act)
    assert not any(isinstance(r, Exception) and not hasattr(r, "code") for r in results), results
    member.refresh_from_db()
    purchase.refresh_from_db()
    assert purchase.refunded_amount == 30
    assert member.balance == 0  # refunded before the claim (refused) or after (reversed)
    assert audit_ledger().violations == []
