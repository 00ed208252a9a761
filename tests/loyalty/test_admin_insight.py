"""The member's admin page shows its insight, read-only, with the figures behind it."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from loyalty.models import Segment
from tests.factories import ClvFitFactory, MemberInsightFactory, UserFactory, make_member
from tests.staff.conftest import page_text

pytestmark = pytest.mark.django_db
AT = datetime(2025, 3, 4, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.fixture
def root_client(client):
    client.force_login(UserFactory(email="root@example.com", is_staff=True, is_superuser=True))
    return client


def change_page(client, member) -> str:
    response = client.get(reverse("admin:loyalty_member_change", args=[member.pk]))
    assert response.status_code == 200
    return page_text(response)


def test_the_member_page_shows_scores_segment_stage_and_value(root_client):
    member = make_member()
    ClvFitFactory(fitted_at=AT, calibration_end=AT.date(), horizon_months=12)
    MemberInsightFactory(member=member, r=5, f=4, m=3, recency_days=12, frequency=6,
                         monetary=Decimal("240.50"), purchases=9,
                         historic_value=Decimal("1200.00"),
                         segment=Segment.objects.get(code="champions"), segment_since=AT,
                         stage="loyal", stage_since=AT, p_alive=0.834, expected_purchases=2.5,
                         expected_spend=Decimal("50.00"), predicted_value=Decimal("118.75"),
                         clv_at=AT, computed_at=AT)
    text = change_page(root_client, member)
    assert "543 (R 5 · F 4 · M 3)" in text
    assert "12 days since the last purchase; 6 purchases and 240.50 net spend" in text
    assert "Champions since 4 Mar 2025" in text
    assert "Loyal since 4 Mar 2025" in text
    assert "1200.00" in text and "118.75 over 12 months" in text
    assert "83.4%" in text and "2.50 × 50.00" in text
    assert "fitted 4 Mar 2025 on purchases up to" in text


def test_a_member_never_computed_says_so(root_client):
    text = change_page(root_client, make_member())
    assert "Not computed yet" in text


def test_a_member_without_prediction_says_why_not_a_number(root_client):
    member = make_member()
    MemberInsightFactory(member=member, predicted_value=None)
    assert "No prediction (too little history" in change_page(root_client, member)
