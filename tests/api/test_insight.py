"""The member's insight and the segments' members, behind the insight:read scope."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from accounts.models import StaffRole
from loyalty.models import ApiKey, Segment
from tests.api.conftest import assert_error, assert_member, assert_page, is_money, is_time
from tests.factories import (
    ClvFitFactory,
    MemberInsightFactory,
    StaffRoleFactory,
    UserFactory,
    make_member,
)

MEMBERS = "/api/v1/members/"
SEGMENTS = "/api/v1/segments/"
INSIGHT = ApiKey.Scope.INSIGHT_READ.value
WITHOUT_INSIGHT = [scope for scope in ApiKey.Scope.values if scope != INSIGHT]
AT = datetime(2025, 6, 1, 3, 0, tzinfo=ZoneInfo("UTC"))


@pytest.fixture
def insight_client(api_client):
    return api_client("web", scopes=["members:read", INSIGHT])


@pytest.fixture
def plain_client(api_client):
    return api_client("web", scopes=WITHOUT_INSIGHT)


def scored(member, **fields):
    defaults = {"r": 5, "f": 4, "m": 3, "recency_days": 12, "frequency": 6,
                "monetary": Decimal("240.50"), "historic_value": Decimal("1200.00"),
                "segment": Segment.objects.get(code="champions"), "segment_since": AT,
                "stage": "loyal", "stage_since": AT, "computed_at": AT}
    defaults.update(fields)
    return MemberInsightFactory(member=member, **defaults)


def predicted(member, **fields):
    return scored(member, p_alive=0.83, expected_purchases=2.5,
                  expected_spend=Decimal("50.00"), predicted_value=Decimal("118.75"),
                  clv_at=AT, **fields)


# --- the member resource ---------------------------------------------------------------------


def test_without_the_scope_a_member_has_no_insight_but_its_segment(plain_client, member):
    scored(member)
    body = assert_member(plain_client.get(f"{MEMBERS}{member.pk}/").json())
    assert "insight" not in body
    assert body["segment"] == {"rfm": "543", "name": "champions"}


def test_the_segment_is_null_for_a_member_never_scored(plain_client, member):
    body = plain_client.get(f"{MEMBERS}{member.pk}/").json()
    assert body["segment"] is None


def test_a_segment_without_a_score_stays_out_of_the_v1_field(insight_client, member):
    # v1 promises `rfm` as a string: a segment reached by a rule on the stage alone shows
    # only in `insight`.
    MemberInsightFactory(member=member, r=None, f=None, m=None, stage="prospect",
                         segment=Segment.objects.get(code="new"), segment_since=AT)
    body = insight_client.get(f"{MEMBERS}{member.pk}/").json()
    assert body["segment"] is None
    assert body["insight"]["segment"]["code"] == "new"


def test_with_the_scope_a_member_carries_its_insight(insight_client, member):
    ClvFitFactory(horizon_months=12)
    predicted(member)
    body = assert_member(insight_client.get(f"{MEMBERS}{member.pk}/").json())
    insight = body["insight"]
    assert set(insight) == {"rfm", "segment", "stage", "clv"}
    assert insight["rfm"] == {"r": 5, "f": 4, "m": 3, "code": "543", "recency_days": 12,
                              "frequency": 6, "monetary": "240.50",
                              "computed_at": insight["rfm"]["computed_at"]}
    assert is_time(insight["rfm"]["computed_at"])
    assert insight["segment"]["code"] == "champions"
    assert insight["segment"]["name"] == "Champions" and is_time(insight["segment"]["since"])
    assert insight["stage"]["code"] == "loyal" and is_time(insight["stage"]["since"])
    clv = insight["clv"]
    assert set(clv) == {"historic", "predicted", "horizon_months", "p_alive",
                        "expected_purchases", "computed_at"}
    assert (clv["historic"], clv["predicted"]) == ("1200.00", "118.75")
    assert is_money(clv["historic"]) and is_money(clv["predicted"])
    assert clv["horizon_months"] == 12
    assert (clv["p_alive"], clv["expected_purchases"]) == (0.83, 2.5)
    assert is_time(clv["computed_at"])


def test_the_segment_name_follows_the_language_of_the_request(insight_client, member):
    scored(member, segment=Segment.objects.get(code="at_risk"))
    body = insight_client.get(f"{MEMBERS}{member.pk}/", HTTP_ACCEPT_LANGUAGE="fr").json()
    assert body["insight"]["segment"]["name"] == "À risque"
    assert body["segment"]["name"] == "at_risk"


def test_nothing_computed_gives_nulls_and_a_prospect_stage_without_date(insight_client, member):
    insight = insight_client.get(f"{MEMBERS}{member.pk}/").json()["insight"]
    assert insight == {"rfm": None, "segment": None,
                       "stage": {"code": "prospect", "since": None}, "clv": None}


def test_a_member_without_purchases_or_prediction_has_null_parts(insight_client, member):
    MemberInsightFactory(member=member, r=None, f=None, m=None, recency_days=None,
                         frequency=None, monetary=None, purchases=0,
                         historic_value=Decimal("0"), stage="prospect", stage_since=AT)
    insight = insight_client.get(f"{MEMBERS}{member.pk}/").json()["insight"]
    assert insight["rfm"] is None and insight["segment"] is None
    assert insight["stage"]["code"] == "prospect" and is_time(insight["stage"]["since"])
    assert insight["clv"]["historic"] == "0.00"
    assert (insight["clv"]["predicted"], insight["clv"]["horizon_months"],
            insight["clv"]["p_alive"]) == (None, None, None)


def test_a_member_search_carries_insight_too(insight_client, member):
    scored(member)
    results = assert_page(insight_client.get(MEMBERS, {"email": "marie@example.com"}).json())
    assert results[0]["insight"]["rfm"]["code"] == "543"
    assert results[0]["segment"] == {"rfm": "543", "name": "champions"}


# --- segments ------------------------------------------------------------------------------


def test_the_segments_are_listed_with_their_member_counts(insight_client, scale):
    champions = Segment.objects.get(code="champions")
    for _ in range(2):
        scored(make_member(), segment=champions)
    closed = make_member()
    scored(closed, segment=champions)
    closed.status = "merged"
    closed.save()
    response = insight_client.get(SEGMENTS)
    assert response.status_code == 200
    results = assert_page(response.json())
    assert len(results) == 8
    by_code = {row["code"]: row for row in results}
    assert by_code["champions"] == {"code": "champions", "name": "Champions",
                                    "description": by_code["champions"]["description"],
                                    "active": True, "members": 2}
    assert by_code["lost"]["members"] == 0


def test_a_segments_members_are_paged_like_the_other_lists(insight_client, scale):
    loyal = Segment.objects.get(code="loyal")
    members = [make_member() for _ in range(5)]
    for member in members:
        scored(member, segment=loyal)
    scored(make_member(), segment=Segment.objects.get(code="lost"))
    body = insight_client.get(f"{SEGMENTS}loyal/members/", {"limit": 2}).json()
    results = assert_page(body)
    assert body["count"] == 5 and body["next"] and body["previous"] is None
    assert [row["id"] for row in results] == [members[0].pk, members[1].pk]
    for row in results:
        assert_member(row)
        assert row["insight"]["segment"]["code"] == "loyal"
    last = insight_client.get(f"{SEGMENTS}loyal/members/", {"limit": 2, "offset": 4}).json()
    assert [row["id"] for row in last["results"]] == [members[4].pk] and last["next"] is None


@pytest.mark.parametrize("code", ["nope", "x" * 40, "bad%20code", "%00", "%C3%A9t%C3%A9"])
def test_an_unknown_segment_is_404(insight_client, db, code):
    error = assert_error(insight_client.get(f"{SEGMENTS}{code}/members/"), 404, "not_found")
    assert "code" in error["fields"]


@pytest.mark.parametrize("url", [SEGMENTS, f"{SEGMENTS}loyal/members/"])
def test_the_segments_need_the_insight_scope(plain_client, url):
    assert_error(plain_client.get(url), 403, "permission_denied")


@pytest.mark.parametrize("url", [SEGMENTS, f"{SEGMENTS}loyal/members/"])
def test_the_segments_need_a_caller(db, url):
    assert_error(APIClient().get(url), 401, "not_authenticated")


# --- staff sessions -------------------------------------------------------------------------


def test_managers_sessions_read_insight_and_cashiers_do_not(cashier, paris, member):
    scored(member)
    manager = StaffRoleFactory(user=UserFactory(email="boss@example.com"), store=paris,
                               role=StaffRole.Role.MANAGER).user
    client = APIClient()
    client.force_login(manager)
    assert "insight" in client.get(f"{MEMBERS}{member.pk}/").json()
    assert client.get(SEGMENTS).status_code == 200
    client.force_login(cashier)
    body = client.get(f"{MEMBERS}{member.pk}/").json()
    assert "insight" not in body and body["segment"]["name"] == "champions"
    assert_error(client.get(SEGMENTS), 403, "permission_denied")


# --- queries --------------------------------------------------------------------------------


def test_a_member_with_insight_still_costs_three_queries(insight_client, member,
                                                         django_assert_max_num_queries):
    ClvFitFactory()
    predicted(member)
    url = f"{MEMBERS}{member.pk}/"
    insight_client.get(url)  # warm the key and the value model's horizon up
    with django_assert_max_num_queries(3):
        response = insight_client.get(url)
    assert response.json()["insight"]["clv"]["horizon_months"] == 12


def test_a_segment_page_costs_the_same_queries_for_2_or_40_members(insight_client, scale):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    loyal = Segment.objects.get(code="loyal")
    ClvFitFactory()
    url = f"{SEGMENTS}loyal/members/"

    def count():
        insight_client.get(url)
        with CaptureQueriesContext(connection) as captured:
            assert insight_client.get(url).status_code == 200
        return len(captured)

    for _ in range(2):
        predicted(make_member(), segment=loyal)
    few = count()
    for _ in range(38):
        predicted(make_member(), segment=loyal)
    assert count() == few <= 6  # the segment, the count, the page, its lots, its external ids


# --- the schema ---------------------------------------------------------------------------


def test_the_schema_documents_the_insight_and_the_segments(db):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    member = components["Member"]
    assert "insight" in member["properties"] and "insight" not in member["required"]
    assert "nullable" not in components["Segment"]["properties"]["rfm"]  # a string in v1
    insight = components["Insight"]
    assert set(insight["properties"]) == {"rfm", "segment", "stage", "clv"}
    for part in ("rfm", "segment", "clv"):
        assert insight["properties"][part]["nullable"] is True, part
    assert "nullable" not in insight["properties"]["stage"]
    assert set(components["InsightClv"]["properties"]) == {
        "historic", "predicted", "horizon_months", "p_alive", "expected_purchases",
        "computed_at"}
    assert set(components["InsightRfm"]["properties"]) == {
        "r", "f", "m", "code", "recency_days", "frequency", "monetary", "computed_at"}
    assert components["StageEnum"]["enum"] == ["prospect", "new", "active", "loyal",
                                               "at_risk", "lapsed"]
    listing = schema["paths"]["/api/v1/segments/"]["get"]
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert page == {"$ref": "#/components/schemas/SegmentPage"}
    members = schema["paths"]["/api/v1/segments/{code}/members/"]["get"]
    assert {"limit", "offset", "code"} <= {p["name"] for p in members["parameters"]}


@pytest.mark.parametrize("query", [{"limit": 10**30}, {"offset": 10**30}, {"limit": -1},
                                   {"offset": "x"}, {"limit": 0}])
def test_any_page_parameters_answer_a_page(insight_client, scale, query):
    scored(make_member(), segment=Segment.objects.get(code="loyal"))
    for url in (SEGMENTS, f"{SEGMENTS}loyal/members/"):
        response = insight_client.get(url, query)
        assert response.status_code == 200, (url, query)
        assert_page(response.json())


def test_a_new_value_fit_s_horizon_shows_at_once(insight_client, member):
    ClvFitFactory(horizon_months=12)
    predicted(member)
    url = f"{MEMBERS}{member.pk}/"
    assert insight_client.get(url).json()["insight"]["clv"]["horizon_months"] == 12
    ClvFitFactory(horizon_months=6)
    assert insight_client.get(url).json()["insight"]["clv"]["horizon_months"] == 6
