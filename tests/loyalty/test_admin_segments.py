"""The segments admin: segments with their rules, the read-only results, "recompute now"."""

import pytest
from django.urls import reverse

from loyalty.models import (
    InsightRun,
    MemberInsight,
    Programme,
    Segment,
    SegmentRule,
    Stage,
    WebhookEndpoint,
    WebhookEvent,
)
from loyalty.services.insight import clv
from tests.factories import StoreFactory, TierFactory, UserFactory
from tests.loyalty.services.insight.shop import NOW, buy, members

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture(autouse=True)
def no_value_model(monkeypatch):
    monkeypatch.setattr(clv, "fit_and_score", lambda **kwargs: None)


def segment_form(**rule):
    data = {"code": "vip", "name_en": "VIP", "name_fr": "", "description_en": "",
            "description_fr": "",
            "active": "on", "rules-TOTAL_FORMS": "1", "rules-INITIAL_FORMS": "0",
            "rules-MIN_NUM_FORMS": "0", "rules-MAX_NUM_FORMS": "1000"}
    data.update({f"rules-0-{name}": value for name, value in rule.items()})
    return data


def test_a_segment_is_added_with_its_rule_stages_and_tiers(root):
    gold = TierFactory(code="gold")
    response = root.post(reverse("admin:loyalty_segment_add"), segment_form(
        priority="5", r_min="4", stages=[Stage.NEW, Stage.LOYAL], tiers=[gold.pk],
        predicted_value_min="100.00", joined_days_max="30"))
    assert response.status_code == 302, response.context["errors"]
    rule = SegmentRule.objects.get(segment__code="vip")
    assert (rule.priority, rule.r_min, rule.stages) == (5, 4, ["new", "loyal"])
    assert list(rule.tiers.all()) == [gold]


def test_a_rule_whose_bounds_cross_is_refused_with_the_reason(root):
    response = root.post(reverse("admin:loyalty_segment_add"),
                         segment_form(priority="5", r_min="4", r_max="2"))
    assert response.status_code == 200
    assert "Must not be below the lower bound." in response.content.decode()
    assert not Segment.objects.filter(code="vip").exists()


def test_a_priority_another_segment_uses_is_refused_not_a_crash(root):
    taken = SegmentRule.objects.order_by("priority").first().priority
    response = root.post(reverse("admin:loyalty_segment_add"), segment_form(priority=taken))
    assert response.status_code == 200
    assert "Segment rule with this Priority already exists." in response.content.decode()
    assert not Segment.objects.filter(code="vip").exists()


def test_the_rules_list_shows_every_rule_in_the_order_they_are_tried(root):
    response = root.get(reverse("admin:loyalty_segmentrule_changelist"))
    page = response.content.decode()
    assert response.status_code == 200
    assert page.index("R 4–5 · F 4–5 · M 4–5") < page.index("R 3–5 · F 3–5")


def test_segments_list_their_rules_and_members_and_offer_to_recompute(root):
    customers = members(3)
    buy([(customer, NOW, "10.00") for customer in customers])
    root.post(reverse("admin:loyalty_insight_recompute"))
    response = root.get(reverse("admin:loyalty_segment_changelist"))
    page = response.content.decode()
    assert "Recompute now" in page
    lost = MemberInsight.objects.filter(segment__code="lost").count()
    assert lost == 3
    assert f"segment__id__exact={Segment.objects.get(code='lost').pk}" in page


def test_recompute_now_runs_the_insight_for_the_user_who_asked(root):
    members(2)
    response = root.post(reverse("admin:loyalty_insight_recompute"), follow=True)
    run = InsightRun.objects.get()
    assert (run.triggered_by, run.members) == (root.user, 2)
    assert response.redirect_chain[-1][0] == reverse("admin:loyalty_insightrun_changelist")
    assert "2 members scored" in response.content.decode()
    assert root.get(reverse("admin:loyalty_insight_recompute")).status_code == 405
    page = root.get(reverse("admin:loyalty_insightrun_change", args=[run.pk]))
    assert page.status_code == 200


def test_recompute_now_with_the_broker_down_says_so_instead_of_failing(root, monkeypatch):
    from kombu.exceptions import OperationalError

    from loyalty import tasks

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(tasks.compute_insight, "delay", refuse)
    response = root.post(reverse("admin:loyalty_insight_recompute"), follow=True)
    assert response.status_code == 200
    assert "The task queue did not answer" in response.content.decode()
    assert not InsightRun.objects.exists()


def test_recompute_now_goes_back_to_the_page_it_came_from_only(root):
    back = reverse("admin:loyalty_segment_changelist")
    response = root.post(reverse("admin:loyalty_insight_recompute"), {"next": back})
    assert response.url == back
    response = root.post(reverse("admin:loyalty_insight_recompute"),
                         {"next": "https://evil.example/"})
    assert response.url == reverse("admin:loyalty_insightrun_changelist")


def test_staff_who_may_not_change_segments_may_not_recompute(client):
    from django.contrib.auth.models import Permission

    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_insightrun"))
    client.force_login(user)
    page = client.get(reverse("admin:loyalty_insightrun_changelist"))
    assert page.status_code == 200 and "Recompute now" not in page.content.decode()
    assert client.post(reverse("admin:loyalty_insight_recompute")).status_code == 403
    assert not InsightRun.objects.exists()


def test_the_programme_settings_show_the_insight_fields(root):
    programme = Programme.load()
    page = root.get(reverse("admin:loyalty_programme_change", args=[programme.pk]))
    for field in ("point_value", "rfm_window_days", "new_customer_days", "lapsed_after_days",
                  "at_risk_gap_factor", "at_risk_p_alive", "clv_horizon_months",
                  "clv_monthly_discount", "clv_min_repeat_customers"):
        assert f'name="{field}"' in page.content.decode(), field


def test_webhook_endpoints_may_subscribe_to_segment_and_stage_changes(root):
    store = StoreFactory(code="web")
    response = root.post(reverse("admin:loyalty_webhookendpoint_add"), {
        "store": store.pk, "url": "https://shop.example/hooks", "description": "",
        "events": [WebhookEvent.MEMBER_SEGMENT_CHANGED, WebhookEvent.MEMBER_STAGE_CHANGED],
        "active": "on"})
    assert response.status_code == 302
    assert WebhookEndpoint.objects.get().events == ["member.segment_changed",
                                                    "member.stage_changed"]
