"""Settings that cannot mislead, in the admin: tiers in rising order, deleted by moving their
members, opened by name; weekdays as checkboxes; technical models under "System"; the
member page's purchase figures."""

import re
from decimal import Decimal
from pathlib import Path

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
    return {"code": "platinum", "name_en": "Platinum", "rank": 4, "threshold": "100",
            "earn_multiplier": "1", "benefits_en": "", **fields}


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


# --- the System section ------------------------------------------------------------------


def section(text: str, label: str) -> str:
    start = text.index(f'<div class="app-{label} module')
    end = text.find('<div class="app-', start + 1)
    return text[start:end if end != -1 else None]


def test_technical_models_are_grouped_under_system_at_the_end(root_client):
    text = root_client.get(reverse("admin:index")).content.decode()
    system = section(text, "system")
    for name in ("Access attempts", "Periodic tasks", "Crontabs", "Idempotency records",
                 "Webhook deliveries"):
        assert name in system
    loyalty = section(text, "loyalty")
    assert "Idempotency records" not in loyalty and "Webhook deliveries" not in loyalty
    assert "Members" in loyalty and "Webhook endpoints" in loyalty
    assert 'class="app-axes' not in text and 'class="app-django_celery_beat' not in text
    assert text.rindex('<div class="app-') == text.index('<div class="app-system')


def test_the_system_section_has_its_page_and_the_models_keep_their_urls(root_client):
    page = root_client.get(reverse("admin:system"))
    assert page.status_code == 200
    assert "Access attempts" in page.content.decode()
    for name in ("admin:axes_accessattempt_changelist",
                 "admin:django_celery_beat_periodictask_changelist",
                 "admin:loyalty_idempotencyrecord_changelist",
                 "admin:loyalty_webhookdelivery_changelist", "admin:app_list"):
        url = reverse(name, kwargs={"app_label": "axes"} if name == "admin:app_list" else None)
        assert root_client.get(url).status_code == 200, name


def test_the_system_page_is_for_staff_only(client):
    response = client.get(reverse("admin:system"))
    assert response.status_code == 302 and "login" in response["Location"]


# --- the member page's purchase figures ----------------------------------------------------


def test_the_member_page_shows_spend_visits_average_basket_and_last_purchase(
        root_client, member, store, scale):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from loyalty.services import purchases

    url = reverse("admin:loyalty_member_change", args=[member.pk])
    with CaptureQueriesContext(connection) as before:
        text = root_client.get(url).content.decode()
    assert "No purchase yet." in text

    first = purchases.record_purchase(store=store, order_id="A-1", amount="100.00",
                                      member=member).obj
    purchases.record_purchase(store=store, order_id="A-2", amount="1250.00", member=member)
    purchases.record_refund(purchase=first, refund_id="R-1", amount="20.00")
    with CaptureQueriesContext(connection) as after:
        text = root_client.get(url).content.decode()
    assert "1,330.00 EUR" in text  # spend, net of the refund
    assert "665.00 EUR" in text  # average basket over the 2 visits
    assert '<div class="readonly">2</div>' in text
    assert "No purchase yet." not in text
    assert len(after) <= len(before) + 3  # the figures: one aggregate, not a row each


# --- weekdays as checkboxes ----------------------------------------------------------------


def multiplier_form(**fields):
    return {"name_en": "Weekend", "active": "on", "priority": "0", "stackable": "on",
            "factor": "2", "store": "", "channel": "", "category": "", "sku": "",
            "starts_at_0": "", "starts_at_1": "", "ends_at_0": "", "ends_at_1": "", **fields}


def test_weekdays_are_checkboxes_saved_as_digits(root_client):
    from loyalty.models import Multiplier

    add = reverse("admin:loyalty_multiplier_add")
    text = root_client.get(add).content.decode()
    assert text.count('type="checkbox" name="weekdays"') == 7
    assert "Saturday" in text
    response = root_client.post(add, multiplier_form(weekdays=["7", "6"]))
    assert response.status_code == 302
    rule = Multiplier.objects.get(name="Weekend")
    assert rule.weekdays == "67"

    change = reverse("admin:loyalty_multiplier_change", args=[rule.pk])
    text = root_client.get(change).content.decode()
    assert 'name="weekdays" value="6"' in text and 'value="6"' in text
    checked = re.findall(r'<input type="checkbox" name="weekdays" value="(\d)"[^>]*checked', text)
    assert checked == ["6", "7"]
    root_client.post(change, multiplier_form())
    rule.refresh_from_db()
    assert rule.weekdays == ""


def test_the_spend_rule_weekdays_are_checkboxes_too(root_client):
    text = root_client.get(reverse("admin:loyalty_earningrule_add")).content.decode()
    assert text.count('type="checkbox" name="weekdays"') == 7


# --- long values wrap ----------------------------------------------------------------------


def test_admin_pages_load_the_stylesheet_that_wraps_long_values(root_client):
    from django.contrib.staticfiles import finders

    text = root_client.get(reverse("admin:index")).content.decode()
    assert 'href="/static/css/admin.css"' in text
    css = Path(finders.find("css/admin.css")).read_text()
    assert "overflow-wrap: anywhere" in css
