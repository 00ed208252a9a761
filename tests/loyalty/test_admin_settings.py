"""Settings that cannot mislead, in the admin: tiers in rising order, deleted by moving their
members, opened by name; weekdays as checkboxes; technical models under "System"; the
member page's purchase figures."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.models import Member, Tier, TierChange
from loyalty.services import tiers as tier_services
from tests.factories import TierFactory, UserFactory, make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_client(client):
    client.force_login(UserFactory(email="root@example.com", is_staff=True,
                                   is_superuser=True))
    return client


@pytest.fixture
def ladder():
    return [TierFactory(code="bronze", name="Bronze", rank=0, threshold=0),
            TierFactory(code="silver", name="Silver", rank=1, threshold=500),
            TierFactory(code="gold", name="Gold", rank=3, threshold=1000)]


def tier_form(**fields):
    return {"code": "platinum", "name": "Platinum", "rank": 4, "threshold": "100",
            "earn_multiplier": "1", "benefits": "", **fields}


# --- tiers -----------------------------------------------------------------------------------


def test_the_admin_refuses_a_tier_below_a_lower_ranks_threshold(root_client, ladder):
    response = root_client.post(reverse("admin:loyalty_tier_add"), tier_form())
    assert response.status_code == 200
    text = response.content.decode()
    assert "Thresholds must rise with rank" in text and "Gold" in text
    assert not Tier.objects.filter(code="platinum").exists()
    response = root_client.post(reverse("admin:loyalty_tier_add"), tier_form(threshold="5000"))
    assert response.status_code == 302
    assert Tier.objects.filter(code="platinum").exists()


def test_tiers_open_by_their_name(root_client, ladder):
    text = root_client.get(reverse("admin:loyalty_tier_changelist")).content.decode()
    change = reverse("admin:loyalty_tier_change", args=[ladder[1].pk])
    assert re.search(rf'<a href="{re.escape(change)}"[^>]*>Silver</a>', text)


def test_deleting_a_tier_with_members_asks_where_they_go(root_client, ladder):
    bronze, silver, _gold = ladder
    member = make_member()
    tier_services.set_tier(member_id=member.pk, tier=silver)
    delete_url = reverse("admin:loyalty_tier_delete", args=[silver.pk])

    page = root_client.get(delete_url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Move its members to" in text and "has 1 member" in text
    assert f'value="{silver.pk}"' not in text.split('name="move_to"')[1].split("</select>")[0]

    response = root_client.post(delete_url, {"move_to": bronze.pk, "apply": "1"})
    assert response.status_code == 302
    assert not Tier.objects.filter(pk=silver.pk).exists()
    assert Member.objects.get(pk=member.pk).tier == bronze
    assert TierChange.objects.filter(member=member, to_tier=bronze).exists()


def test_deleting_an_empty_tier_is_the_usual_confirmation(root_client, ladder):
    gold = ladder[2]
    delete_url = reverse("admin:loyalty_tier_delete", args=[gold.pk])
    assert "Move its members to" not in root_client.get(delete_url).content.decode()
    assert root_client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not Tier.objects.filter(pk=gold.pk).exists()


def test_the_bulk_delete_gives_way_to_the_moving_action(root_client, ladder):
    bronze, silver, _gold = ladder
    member = make_member()
    tier_services.set_tier(member_id=member.pk, tier=silver)
    changelist = reverse("admin:loyalty_tier_changelist")
    text = root_client.get(changelist).content.decode()
    assert 'value="delete_selected"' not in text
    assert 'value="delete_moving_members"' in text
    page = root_client.post(changelist, {"action": "delete_moving_members",
                                         "_selected_action": [silver.pk]})
    assert page.status_code == 200 and "Move its members to" in page.content.decode()
    root_client.post(changelist, {"action": "delete_moving_members",
                                  "_selected_action": [silver.pk], "apply": "1",
                                  "move_to": bronze.pk})
    assert not Tier.objects.filter(pk=silver.pk).exists()
    assert Member.objects.get(pk=member.pk).tier == bronze


def test_changing_a_threshold_past_a_higher_tier_is_refused(root_client, ladder):
    silver = ladder[1]
    url = reverse("admin:loyalty_tier_change", args=[silver.pk])
    response = root_client.post(url, tier_form(code="silver", name="Silver", rank=1,
                                               threshold="1000.00"))
    assert response.status_code == 200
    assert "Thresholds must rise with rank" in response.content.decode()
    assert Tier.objects.get(pk=silver.pk).threshold == Decimal("500")
