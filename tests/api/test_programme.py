"""GET /programme/: what the e-shop shows of the programme."""

from tests.api.conftest import is_money, is_points
from tests.factories import MultiplierFactory, TierFactory, programme


def test_the_programme_lists_currency_rules_tiers_and_windows(client_web, scale):
    programme(return_window_days=14, points_validity_days=730)
    TierFactory(code="silver", name="Silver", rank=1, threshold="500")
    TierFactory(code="bronze", name="Bronze", rank=0, threshold="0")
    MultiplierFactory(name="Double points weekend", factor="2")
    response = client_web.get("/api/v1/programme/")
    assert response.status_code == 200
    body = response.json()
    assert {"currency", "earning", "tiers", "return_window_days",
            "points_validity_days"} <= set(body)
    assert body["currency"] == "EUR"
    assert body["return_window_days"] == 14 and body["points_validity_days"] == 730
    assert all(isinstance(line, str) for line in body["earning"])
    # Generated from the rules' numbers, not their names.
    assert body["earning"][:2] == ["1 point per €1 spent", "×2 points"]
    assert "50 points for signing up to our emails, once only" in body["earning"]
    assert [tier["code"] for tier in body["tiers"]] == ["bronze", "silver"]
    for tier in body["tiers"]:
        assert {"code", "name", "threshold", "benefits"} <= set(tier)
        assert isinstance(tier["benefits"], list)
        assert is_money(tier["threshold"]) or is_points(tier["threshold"])
    assert body["tiers"][1]["name"] == "Silver"


def test_an_empty_programme_is_still_a_programme(client_web):
    body = client_web.get("/api/v1/programme/").json()
    assert body["tiers"] == [] and body["earning"] == []
    assert len(body["currency"]) == 3


def test_the_programme_name_is_said_in_the_requests_language(client_web, db):
    programme(name_en="Maison Club")
    assert client_web.get("/api/v1/programme/", HTTP_ACCEPT_LANGUAGE="fr").json()[
        "name"] == "Maison Club"  # nothing typed in French: English speaks for it
    programme(name_fr="Club Maison")
    assert client_web.get("/api/v1/programme/", HTTP_ACCEPT_LANGUAGE="fr").json()[
        "name"] == "Club Maison"
    assert client_web.get("/api/v1/programme/", HTTP_ACCEPT_LANGUAGE="en").json()[
        "name"] == "Maison Club"
