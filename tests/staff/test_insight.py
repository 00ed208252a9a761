"""The manager's insight pages: who may see them, what they show, what they cost."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import StaffRole
from loyalty.models import ClvFit, Member, PointsEntry, Segment
from tests.factories import (
    ClvFitFactory,
    InsightRunFactory,
    MemberInsightFactory,
    StaffRoleFactory,
    UserFactory,
    make_member,
    programme,
)
from tests.staff.conftest import page_text

pytestmark = pytest.mark.django_db

INSIGHT = reverse("staff:insight")
MEMBERS = reverse("staff:insight-members")
PAGES = [INSIGHT, MEMBERS, MEMBERS + "?r=5&f=5", reverse("staff:insight-csv", args=["points"]),
         reverse("staff:insight-members-csv")]


@pytest.fixture
def programme_admin(db):
    from tests.factories import StoreFactory

    return StaffRoleFactory(user=UserFactory(email="admin@example.com"),
                            store=StoreFactory(code="hq"), role=StaffRole.Role.ADMIN).user


def insight(**fields):
    fields.setdefault("member", make_member(first_name=fields.pop("first_name", "Ada"),
                                            last_name=fields.pop("last_name", "Lovelace")))
    return MemberInsightFactory(**fields)


# --- who may see them ----------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("account_login")), url


def test_customers_and_cashiers_are_refused(client, cashier, marie):
    for user in (marie.user, cashier):
        client.force_login(user)
        for url in PAGES:
            response = client.get(url)
            assert response.status_code == 403, (user, url)
            assert "for managers and programme admins" in page_text(response)


def test_managers_programme_admins_and_superusers_see_the_whole_programme(
        client, manager, programme_admin, lyon):
    # A member enrolled in Lyon counts for the Paris manager too: members are the programme's.
    insight(r=5, f=5)
    root = UserFactory(email="root@example.com", is_superuser=True, is_staff=True)
    for user in (manager, programme_admin, root):
        client.force_login(user)
        for url in PAGES:
            assert client.get(url).status_code == 200, (user, url)
        assert 'data-cell="55"' in client.get(INSIGHT).content.decode()


def test_the_dashboard_links_the_insight_page_for_managers_only(client, manager, cashier):
    client.force_login(manager)
    assert f'href="{INSIGHT}"' in client.get(reverse("staff:dashboard")).content.decode()
    client.force_login(cashier)
    assert f'href="{INSIGHT}"' not in client.get(reverse("staff:dashboard")).content.decode()


# --- what they show -------------------------------------------------------------------------


def test_a_programme_never_computed_says_so(manager_client):
    response = manager_client.get(INSIGHT)
    assert response.status_code == 200
    assert "never been computed yet" in page_text(response)
    assert "has not been predicted yet" in page_text(response)


def test_the_page_shows_when_the_figures_were_computed(manager_client):
    InsightRunFactory()
    text = page_text(manager_client.get(INSIGHT))
    assert "Figures computed on" in text and "never been computed" not in text


def test_too_little_history_is_said_with_its_counts_and_no_prediction(manager_client):
    programme(clv_min_repeat_customers=200)
    ClvFitFactory(status=ClvFit.Status.INSUFFICIENT, customers=150, repeat_customers=37)
    insight(stage="at_risk", predicted_value=None, historic_value=Decimal("80.00"))
    response = manager_client.get(INSIGHT)
    text = page_text(response)
    assert "Too little history to predict value: 37 repeat customers among 150 customers" in text
    assert "at least 200" in text
    assert 'id="value-chart"' not in response.content.decode()
    assert "those who spent the most first" in text


def test_a_usable_fit_draws_the_distribution_of_predicted_value(manager_client):
    ClvFitFactory()
    insight(predicted_value=Decimal("120.00"))
    response = manager_client.get(INSIGHT)
    content = response.content.decode()
    assert 'id="value-chart"' in content and 'id="value-data"' in content
    # Bands 0-1, 1-2, 2-5 ... 50-100, 100-200.
    assert response.context["value_chart"]["series"][0]["data"] == [0] * 7 + [1]


def test_the_rfm_grid_links_each_cell_to_its_members(manager_client):
    champion = insight(r=5, f=4, first_name="Grace", last_name="Hopper")
    insight(r=4, f=5, first_name="Alan", last_name="Turing")
    insight(r=5, f=4, first_name="Edsger", last_name="Dijkstra",
            member=make_member(first_name="Edsger", last_name="Dijkstra"))
    content = manager_client.get(INSIGHT).content.decode()
    link = re.search(r'<a href="([^"]+)" data-cell="54">', content).group(1)
    assert link == f"{MEMBERS}?r=5&amp;f=4"
    response = manager_client.get(link.replace("&amp;", "&"))
    text = page_text(response)
    assert "Grace Hopper" in text and "Edsger Dijkstra" in text and "Alan Turing" not in text
    assert champion.member.card_number in text
    assert "2 members" in text


def test_member_lists_by_segment_and_stage_and_paginated(manager_client):
    loyal = Segment.objects.get(code="loyal")
    for index in range(53):
        insight(segment=loyal, stage="loyal", historic_value=Decimal(index))
    insight(segment=None, stage="at_risk", first_name="Lone", last_name="Rider")
    first = manager_client.get(MEMBERS, {"segment": "loyal"})
    assert "53 members" in page_text(first)
    assert len(first.context["page"].object_list) == 50
    assert 'rel="next"' in first.content.decode()
    second = manager_client.get(MEMBERS, {"segment": "loyal", "page": 2})
    assert len(second.context["page"].object_list) == 3
    assert "Rider" in page_text(manager_client.get(MEMBERS, {"stage": "at_risk"}))


@pytest.mark.parametrize("query", [{"r": "9"}, {"f": "x"}, {"segment": "nope"},
                                   {"stage": "ghost"}, {"segment": "bad code!"}])
def test_filters_that_name_no_members_are_a_clear_400(manager_client, query):
    response = manager_client.get(MEMBERS, query)
    assert response.status_code == 400
    assert "These filters name no members" in page_text(response)


def test_segment_sizes_link_their_members(manager_client):
    insight(segment=Segment.objects.get(code="at_risk"))
    content = manager_client.get(INSIGHT).content.decode()
    assert f'href="{MEMBERS}?segment=at_risk"' in content
    assert f'href="{MEMBERS}?stage=at_risk"' in content


def test_numbers_and_money_follow_the_language_of_the_page(manager_client):
    programme(point_value=Decimal("0.0100"), currency="EUR")
    Member.objects.filter(pk=make_member().pk).update(balance=123456, pending=0)
    insight(r=5, f=5, monetary=Decimal("1234.50"))
    english = page_text(manager_client.get(INSIGHT))
    assert "€1,234.56" in english  # the liability, one money format per language
    assert "123,456 points" in english
    french = manager_client.get(INSIGHT, HTTP_ACCEPT_LANGUAGE="fr")
    assert french["Content-Language"] == "fr"
    text = page_text(french).replace("\u202f", " ").replace("\xa0", " ")
    assert "1 234,56 €" in text
    assert "123 456" in text
    assert "1 234 EUR" in text or "1 235 EUR" in text  # the grid's average spend, rounded


def test_members_to_call_first_list_the_most_valuable_at_risk(manager_client):
    ClvFitFactory()
    insight(stage="at_risk", predicted_value=Decimal("50.00"), first_name="Low", last_name="V")
    insight(stage="lapsed", predicted_value=Decimal("900.00"), first_name="High", last_name="V")
    insight(stage="active", predicted_value=Decimal("5000.00"), first_name="Happy",
            last_name="V")
    content = manager_client.get(INSIGHT).content.decode()
    section = re.search(r'<table[^>]*id="to-call".*?</table>', content, re.S).group(0)
    assert section.index("High V") < section.index("Low V")
    assert "Happy V" not in section


# --- CSV ----------------------------------------------------------------------------------------


def rows_of(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_each_figure_downloads_as_csv(manager_client):
    ClvFitFactory()
    insight(r=5, f=5, monetary=Decimal("10.00"), stage="at_risk",
            segment=Segment.objects.get(code="champions"), predicted_value=Decimal("42.00"))
    member = make_member()
    PointsEntry.objects.create(member=member, kind="earn", points=70, balance_after=70,
                               created_at=member.created_at)
    content = manager_client.get(INSIGHT).content.decode()
    for figure in ("points", "rfm", "segments", "value", "call"):
        assert f'href="{reverse("staff:insight-csv", args=[figure])}"' in content, figure
    points = rows_of(manager_client.get(reverse("staff:insight-csv", args=["points"])))
    assert points[0] == ["month", "issued", "redeemed", "expired", "taken_back",
                         "breakage_rate_percent"]
    assert len(points) == 25 and points[-1][1] == "70"
    rfm = rows_of(manager_client.get(reverse("staff:insight-csv", args=["rfm"])))
    assert ["5", "5", "1", "10.00"] in rfm and len(rfm) == 26
    segments = rows_of(manager_client.get(reverse("staff:insight-csv", args=["segments"])))
    assert ["champions", "Champions", "1", "", ""] in segments
    value = rows_of(manager_client.get(reverse("staff:insight-csv", args=["value"])))
    assert value[0] == ["from", "to", "members"] and ["20", "50", "1"] in value
    call = rows_of(manager_client.get(reverse("staff:insight-csv", args=["call"])))
    assert call[1][3:7] == ["champions", "at_risk", "120.00", "42.00"]
    assert manager_client.get("/staff/insight/nothing.csv").status_code == 404


def test_member_csv_neutralises_formulas_in_names(manager_client):
    insight(r=1, f=1, first_name="=HYPERLINK(1)", last_name="")
    rows = rows_of(manager_client.get(reverse("staff:insight-members-csv"), {"r": 1}))
    assert rows[1][1] == "'=HYPERLINK(1)"
    assert manager_client.get(reverse("staff:insight-members-csv"),
                              {"r": "x"}).status_code == 400


# --- what they cost, and the content security policy ---------------------------------------------


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def populate(count: int):
    segments = list(Segment.objects.all())
    for index in range(count):
        insight(r=index % 5 + 1, f=(index // 5) % 5 + 1, segment=segments[index % 8],
                stage=("at_risk", "lapsed", "active", "loyal")[index % 4],
                predicted_value=Decimal(index))


def test_the_page_and_the_lists_cost_the_same_queries_for_10_or_200_members(manager_client):
    ClvFitFactory()
    InsightRunFactory()
    populate(10)
    urls = [INSIGHT, MEMBERS + "?r=1&f=1", MEMBERS + "?segment=loyal",
            reverse("staff:insight-csv", args=["call"])]
    for url in urls:  # the configuration cache (the programme) warms up
        manager_client.get(url)
    few = [queries(manager_client, url) for url in urls]
    populate(190)
    many = [queries(manager_client, url) for url in urls]
    assert many == few
    assert few[0] <= 18  # measured 16: session, user, role, 13 for the figures


def test_the_pages_hold_no_inline_script_style_or_handler(manager_client):
    ClvFitFactory()
    populate(5)
    for url in (INSIGHT, MEMBERS + "?r=1&f=1", MEMBERS + "?r=9"):
        content = manager_client.get(url).content.decode()
        for tag in re.findall(r"<script\b[^>]*>", content):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
        assert "style=" not in content and "<style" not in content, url
        assert not re.search(r"\son[a-z]+=", content), url
        assert "script-src 'self'" in manager_client.get(url)["Content-Security-Policy"]


# --- the member panel at the till -------------------------------------------------------------


def test_the_member_panel_shows_segment_and_stage_to_managers_not_cashiers(
        client, manager, cashier, marie):
    MemberInsightFactory(member=marie, r=5, f=4, m=3,
                         segment=Segment.objects.get(code="champions"), stage="loyal")
    url = reverse("staff:scan") + f"?member={marie.pk}"
    find = {"store": "paris", "code": marie.card_number}  # the panel opens once found
    client.force_login(manager)
    client.post(reverse("staff:lookup"), find)
    text = page_text(client.get(url))
    assert "Champions (RFM 543)" in text and "Loyal" in text
    client.force_login(cashier)
    client.post(reverse("staff:lookup"), find)
    text = page_text(client.get(url))
    assert "RFM" not in text and "Champions" not in text
