import json

import pytest
from django.core.management import call_command

from loyalty.models import Member, PointsLot, Purchase
from loyalty.services import ledger
from loyalty.services.audit import audit_ledger
from loyalty.services.purchases import record_purchase, record_refund
from tests.factories import make_member

pytestmark = pytest.mark.django_db


def run(capsys):
    try:
        call_command("check_ledger")
        status = 0
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, json.loads(out.strip().splitlines()[-1]), err


def test_a_sound_ledger_passes_with_a_summary(store, scale, member, capsys):
    purchase = record_purchase(store=store, order_id="1", amount="50.00", member=member).obj
    ledger.adjust_points(member_id=member.pk, points=-45, reason="spent")
    record_refund(purchase=purchase, refund_id="R", amount="50.00")
    status, summary, _err = run(capsys)
    assert status == 0
    assert summary["ok"] is True
    assert summary["outstanding_points"] == -45  # a debt after a refund is allowed


@pytest.mark.parametrize("corrupt, message", [
    (lambda m: Member.objects.filter(pk=m.pk).update(balance=999), "!= entries"),
    (lambda m: PointsLot.objects.filter(member=m).update(remaining=1), "parts do not add up"),
    (lambda m: Member.objects.filter(pk=m.pk).update(lifetime_earned=1), "lifetime"),
    (lambda m: m.entries.update(balance_after=7), "running total"),
])
def test_each_kind_of_corruption_is_reported_with_exit_status_1(store, scale, member, capsys,
                                                                 corrupt, message):
    record_purchase(store=store, order_id="1", amount="50.00", member=member)
    corrupt(member)
    status, summary, err = run(capsys)
    assert status == 1
    assert summary["ok"] is False
    assert message in err


def test_a_negative_balance_without_a_refund_is_a_violation(member, capsys):
    ledger.adjust_points(member_id=member.pk, points=10, reason="start")
    Member.objects.filter(pk=member.pk).update(balance=-5, pending=15)
    status, _summary, err = run(capsys)
    assert status == 1
    assert "below zero without a refund" in err


@pytest.mark.parametrize("corrupt, message", [
    (lambda m: Member.objects.filter(pk=m.pk).update(pending=3), "!= pending lots"),
    (lambda m: PointsLot.objects.filter(member=m).update(remaining=40, spent=10),
     "!= spendable lots"),
    (lambda m: Member.objects.filter(pk=m.pk).update(status=Member.Status.DELETED),
     "closed but still holds points"),
    (lambda m: Purchase.objects.filter(member=m).update(points_earned=7),
     "points or refunds inconsistent"),
    (lambda m: Purchase.objects.filter(member=m).update(refunded_amount="5.00"),
     "refunded 5.00 != refunds None"),
])
def test_the_lots_purchases_and_refunds_are_checked_in_the_database(store, scale, member,
                                                                    capsys, corrupt, message):
    record_purchase(store=store, order_id="1", amount="50.00", member=member)
    others = [make_member() for _ in range(3)]  # sound members around it: not reported
    for n, other in enumerate(others):
        record_purchase(store=store, order_id=f"x{n}", amount="5.00", member=other)
    corrupt(member)
    status, _summary, err = run(capsys)
    assert status == 1
    assert message in err
    assert not any(f"member {other.pk}:" in err for other in others)


def test_the_audit_costs_the_same_queries_whatever_the_members(
        store, scale, django_assert_max_num_queries):
    record_purchase(store=store, order_id="0", amount="5.00", member=make_member())
    with django_assert_max_num_queries(12) as few:
        audit_ledger()
    for n in range(30):
        record_purchase(store=store, order_id=f"{n + 1}", amount="5.00", member=make_member())
    with django_assert_max_num_queries(len(few)):
        report = audit_ledger()
    assert report.ok and report.members == 31 and report.outstanding_points == 155


def test_partial_refunds_that_add_up_to_the_cent_are_sound(store, scale, member, capsys):
    """SQLite sums amounts as floating point (1.26 + 2.52 != 3.78 there)."""
    purchase = record_purchase(store=store, order_id="1", amount="5.03", member=member).obj
    record_refund(purchase=purchase, refund_id="R1", amount="1.26")
    record_refund(purchase=purchase, refund_id="R2", amount="2.52")
    status, summary, err = run(capsys)
    assert (status, summary["ok"], err) == (0, True, "")
    Purchase.objects.filter(pk=purchase.pk).update(refunded_amount="3.77")
    status, _summary, err = run(capsys)
    assert status == 1 and "refunded 3.77 != refunds 3.78" in err
