"""Staff read a member's ledger as the customer does: lines rendered in the reader's
language from what each entry records, never a till's internal id."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from loyalty.models import PointsEntry
from loyalty.services.purchases import record_purchase
from tests.factories import UserFactory, make_member
from tests.staff.conftest import page_text

pytestmark = pytest.mark.django_db
AT = datetime(2026, 11, 29, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
DRAWN = "till-" + "ab" * 16


@pytest.fixture
def root_client(client):
    client.force_login(UserFactory(email="root@example.com", is_staff=True, is_superuser=True))
    return client


def test_the_member_page_and_the_ledger_show_rendered_lines(root_client, scale, store):
    member = make_member()
    record_purchase(store=store, order_id=DRAWN, amount="12.00", member=member,
                    occurred_at=AT, now=AT)
    entry = PointsEntry.objects.get(member=member)
    pages = [reverse("admin:loyalty_member_change", args=[member.pk]),
             reverse("admin:loyalty_pointsentry_changelist"),
             reverse("admin:loyalty_pointsentry_change", args=[entry.pk])]
    for url in pages:
        english = page_text(root_client.get(url))
        assert "purchase in store at Paris, 29 Nov" in english, url
    french = page_text(root_client.get(pages[0], HTTP_ACCEPT_LANGUAGE="fr"))
    assert "Paris, 29 nov." in french
