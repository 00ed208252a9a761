"""The campaign pages: who may use them, the audience counted before sending, the actions,
the results in the reader's language."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Campaign, CampaignMember, Member, Message, Purchase, Segment, Stage
from loyalty.services import campaigns
from tests.factories import MemberInsightFactory, StoreFactory, make_member
from tests.staff.conftest import page_text

pytestmark = pytest.mark.django_db

LIST = reverse("staff:campaigns")
NEW = reverse("staff:campaign-new")


def at_risk_members(count: int, *, consented: int) -> list[Member]:
    segment = Segment.objects.get(code="at_risk")
    members = []
    for i in range(count):
        member = make_member(first_name=f"Risky{i}")
        Member.objects.filter(pk=member.pk).update(email_marketing=i < consented)
        MemberInsightFactory(member=member, segment=segment, stage=Stage.AT_RISK)
        members.append(member)
    return members


def win_back_form(**overrides) -> dict:
    data = {"name": "Win-back", "channel": "email",
            "segments": [Segment.objects.get(code="at_risk").pk],
            "subject": "We miss you, {{ first_name }}", "body": "Come back: {{ link }}",
            "subject_fr": "Vous nous manquez", "body_fr": "Revenez : {{ link }}",
            "holdout_percent": "10", "window_days": "30", "offer": "none"}
    data.update(overrides)
    return data


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_cashiers_and_customers_are_refused(client, cashier, marie):
    sent = Campaign.objects.create(name="x", subject="s", body="b")
    for user in (cashier, marie.user):
        client.force_login(user)
        for url in (LIST, NEW, reverse("staff:campaign", args=[sent.pk])):
            assert client.get(url).status_code == 403, url
        response = client.post(reverse("staff:campaign-action", args=[sent.pk, "send"]))
        assert response.status_code == 403
    assert Campaign.objects.get().status == Campaign.Status.DRAFT


def test_the_dashboard_links_to_campaigns_for_managers_only(client, manager, cashier):
    client.force_login(manager)
    assert LIST in client.get(reverse("staff:dashboard")).content.decode()
    client.force_login(cashier)
    assert LIST not in client.get(reverse("staff:dashboard")).content.decode()


def test_a_manager_counts_the_audience_before_saving_anything(manager_client):
    at_risk_members(5, consented=3)
    make_member()  # not at risk
    response = manager_client.post(NEW, win_back_form(count="1"))
    assert response.status_code == 200
    text = page_text(response)
    assert "5 members match; 3 of them consented" in text
    assert not Campaign.objects.exists()


def test_a_manager_creates_a_win_back_for_at_risk_with_a_ten_percent_holdout(
        manager_client, manager):
    at_risk_members(4, consented=4)
    response = manager_client.post(NEW, win_back_form(save="1"))
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("staff:campaign", args=[campaign.pk])
    assert (campaign.holdout_percent, campaign.created_by, campaign.status) == (
        10, manager, Campaign.Status.DRAFT)
    assert list(campaign.segments.values_list("code", flat=True)) == ["at_risk"]
    page = page_text(manager_client.get(response["Location"]))
    assert "4 members match; 4 of them consented" in page
    assert "10 %" in page


def test_bad_input_is_shown_again_with_its_errors_and_nothing_saved(manager_client):
    response = manager_client.post(NEW, win_back_form(
        save="1", holdout_percent="80", r_min="4", r_max="2", offer="double_points"))
    assert response.status_code == 400
    assert not Campaign.objects.exists()
    errors = response.context["form"].errors
    assert {"holdout_percent", "r_max", "offer_ends_at"} <= set(errors)


def test_schedule_send_now_and_cancel_are_posts_that_change_the_status(
        manager_client, django_capture_on_commit_callbacks):
    at_risk_members(3, consented=3)
    campaign = Campaign.objects.create(name="x", subject="s", body="b")
    action = lambda name: reverse("staff:campaign-action", args=[campaign.pk, name])  # noqa: E731
    assert manager_client.get(action("send")).status_code == 405
    response = manager_client.post(action("schedule"))  # no date yet: refused, clearly
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    Campaign.objects.filter(pk=campaign.pk).update(
        scheduled_at=timezone.now() + timedelta(days=1))
    manager_client.post(action("schedule"))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED
    with django_capture_on_commit_callbacks(execute=True):
        manager_client.post(action("send"))
    campaign.refresh_from_db()
    # Sent by the task (run eagerly in the tests) or, failing the broker, by the sweep.
    campaigns.send_due()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert Message.objects.filter(campaign=campaign).count() == CampaignMember.objects.filter(
        group="sent").count()
    manager_client.post(action("cancel"))  # too late: an error message, no change
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    # A sent campaign's form is closed.
    assert manager_client.get(reverse("staff:campaign-edit", args=[campaign.pk])).status_code \
        == 302


def sent_campaign_with_purchases() -> Campaign:
    store = StoreFactory(code="shop")
    Member.objects.bulk_create([Member(card_number=f"p{i:07d}", email=f"p{i}@example.com",
                                       email_marketing=True) for i in range(300)])
    campaign = Campaign.objects.create(name="Autumn", subject="s", body="b",
                                       status=Campaign.Status.SENDING, holdout_percent=30)
    sent_at = timezone.now() - timedelta(days=40)
    campaigns.send_campaign(campaign_id=campaign.pk, now=sent_at)
    for i, (member_id, group) in enumerate(CampaignMember.objects.values_list(
            "member_id", "group")):
        if group == "sent" or i % 10 == 0:
            Purchase.objects.create(store=store, order_id=str(i), member_id=member_id,
                                    amount=Decimal("1234.50"),
                                    occurred_at=sent_at + timedelta(days=2), created_at=sent_at)
    campaign.refresh_from_db()
    return campaign


def test_the_results_show_both_groups_the_difference_and_a_plain_verdict(manager_client):
    campaign = sent_campaign_with_purchases()
    response = manager_client.get(reverse("staff:campaign", args=[campaign.pk]),
                                  HTTP_ACCEPT_LANGUAGE="en")
    text = page_text(response)
    results = response.context["results"]
    assert results.rate.distinguishable
    assert "Sent group" in text and "Holdout" in text
    assert "The campaign raised the purchase rate" in text
    assert "€1,234.50" in text  # every member of the sent group spent 1,234.50
    list_text = page_text(manager_client.get(LIST, HTTP_ACCEPT_LANGUAGE="en"))
    assert "Autumn" in list_text and "(a real difference)" in list_text


def test_the_results_are_formatted_for_a_french_reader(manager_client):
    campaign = sent_campaign_with_purchases()
    response = manager_client.get(reverse("staff:campaign", args=[campaign.pk]),
                                  HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 200
    assert response.context["LANGUAGE_CODE"] == "fr"
    text = page_text(response).replace("\u202f", " ").replace("\xa0", " ")
    assert "1 234,50" in text
    results = response.context["results"]
    rate = f"{results.sent.purchase_rate * 100:.1f}".replace(".", ",")
    assert f"{rate} %" in text


def test_a_voucher_offer_needs_its_reward_and_is_saved_with_it(manager_client):
    from rewards.models import Reward

    at_risk_members(2, consented=2)
    end = (timezone.localtime() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    response = manager_client.post(NEW, win_back_form(save="1", offer="voucher",
                                                      offer_ends_at=end))
    assert response.status_code == 400
    assert "offer_reward" in response.context["form"].errors
    assert not Campaign.objects.exists()
    item = Reward.objects.create(name="10 € off", kind="amount_voucher", value=10,
                                 points_cost=100)
    response = manager_client.post(NEW, win_back_form(save="1", offer="voucher",
                                                      offer_reward=item.pk, offer_ends_at=end))
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert (campaign.offer, campaign.offer_reward) == ("voucher", item)
    assert 'name="offer_reward"' in manager_client.get(
        reverse("staff:campaign-edit", args=[campaign.pk])).content.decode()


def test_a_sent_voucher_campaign_says_how_many_vouchers_it_gave(manager_client):
    from rewards.models import Reward

    at_risk_members(6, consented=6)
    item = Reward.objects.create(name="10 € off", kind="amount_voucher", value=10,
                                 points_cost=100)
    campaign = Campaign.objects.create(
        name="Gift", subject="s", body="b", status=Campaign.Status.SENDING, holdout_percent=0,
        offer="voucher", offer_reward=item, offer_ends_at=timezone.now() + timedelta(days=9))
    campaign.segments.set([Segment.objects.get(code="at_risk")])
    campaigns.send_campaign(campaign_id=campaign.pk)
    text = page_text(manager_client.get(reverse("staff:campaign", args=[campaign.pk])))
    assert "10 € off, valid until" in text and "(6 vouchers given)" in text
