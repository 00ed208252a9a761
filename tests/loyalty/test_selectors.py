"""member_payload (GET /members/{id}/, one statement on PostgreSQL) answers what the ORM
path (active_member, then member_payloads) answers, for every kind of member."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty import selectors
from loyalty.models import ExternalId, Member, Segment
from loyalty.services import purchases
from loyalty.services.members import merge_members
from tests.factories import (
    ClvFitFactory,
    MemberInsightFactory,
    StoreFactory,
    TierFactory,
    make_member,
    programme,
)


def orm_payload(member_id, *, store, insight):
    member = selectors.active_member(member_id)
    if member is None:
        return None
    return selectors.member_payloads([member], store=store, insight=insight)[0]


@pytest.fixture
def members(scale, web_store, store):
    """Members with every part the payload shows, and without."""
    now = timezone.now()
    gold = TierFactory(code="gold", name="Gold", rank=5)
    plain = make_member(first_name="Plain")
    rich = make_member(first_name="Rich", phone="+33612345678")
    Member.objects.filter(pk=rich.pk).update(tier=gold)
    for n, days in enumerate((0, 0, 30)):  # two lots expiring the same day, one later
        purchases.record_purchase(store=web_store, order_id=f"R{n}", amount="10.00",
                                  member=rich, occurred_at=now - timedelta(days=days))
    programme(return_window_days=14)
    purchases.record_purchase(store=web_store, order_id="PENDING", amount="5.00", member=rich)
    ExternalId.objects.create(member=rich, store=web_store, value="CRM-1")
    ExternalId.objects.create(member=rich, store=store, value="OTHER-STORE")
    ClvFitFactory()
    MemberInsightFactory(member=rich, segment=Segment.objects.get(code="champions"),
                         segment_since=now, p_alive=0.8, expected_purchases=2.5,
                         expected_spend=Decimal("50.00"), predicted_value=Decimal("118.75"),
                         clv_at=now)
    unscored = make_member(first_name="Unscored")
    MemberInsightFactory(member=unscored, r=None, f=None, m=None, recency_days=None,
                         segment=Segment.objects.get(code="champions"))
    duplicate = make_member(first_name="Duplicate")
    merge_members(survivor_id=rich.pk, duplicate_id=duplicate.pk)
    closed = make_member(first_name="Closed")
    Member.objects.filter(pk=closed.pk).update(status=Member.Status.DELETED)
    return [plain.pk, rich.pk, unscored.pk, duplicate.pk, closed.pk, 0, "x", None]


@pytest.mark.parametrize("insight", [False, True])
def test_member_payload_answers_as_the_orm_path(members, web_store, insight):
    for member_id in members:
        expected = orm_payload(member_id, store=web_store, insight=insight)
        assert selectors.member_payload(member_id, store=web_store,
                                        insight=insight) == expected, member_id
    rich = selectors.member_payload(members[1], store=web_store, insight=True)
    assert rich["tier"]["code"] == "gold" and rich["external_id"] == "CRM-1"
    assert [row["points"] for row in rich["points"]["expiring"]] == [10, 20]
    assert rich["insight"]["clv"]["horizon_months"] == 12
    assert selectors.member_payload(members[3], store=web_store)["id"] == members[1]
    assert selectors.member_payload(members[4], store=web_store) is None


def test_member_payload_is_one_statement_on_postgresql(members, web_store):
    selectors.member_payload(members[1], store=web_store, insight=True)  # warm the caches
    with CaptureQueriesContext(connection) as captured:
        selectors.member_payload(members[1], store=web_store, insight=True)
    assert len(captured) == (1 if connection.vendor == "postgresql" else 3)


def test_a_store_without_an_external_id_shows_none(members):
    other = StoreFactory(code="lyon", name="Lyon")
    assert selectors.member_payload(members[1], store=other)["external_id"] is None
