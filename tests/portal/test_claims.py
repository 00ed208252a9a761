"""Claiming a receipt in the portal: the QR's page and the form to type its code."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Purchase
from loyalty.services import claims, purchases

pytestmark = pytest.mark.django_db


@pytest.fixture
def receipt(store, scale):
    """A sale recorded without a member, and its claim."""
    purchase = purchases.record_purchase(store=store, order_id="T-9", amount="25.00",
                                         member=None).obj
    return claims.issue_claim(purchase=purchase).obj


def qr_url(claim) -> str:
    return reverse("claim", kwargs={"code": claims.token_for(claim)})


def test_the_qr_page_asks_for_a_login_then_comes_back(client, receipt):
    response = client.get(qr_url(receipt))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert response["Location"].endswith("?next=" + qr_url(receipt))


def test_the_qr_page_shows_the_receipt_and_claims_only_on_post(marie_client, marie, receipt):
    response = marie_client.get(qr_url(receipt))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Paris" in content and "25.00" in content
    assert "Add it to my card" in content
    assert Purchase.objects.get().member_id is None  # a GET claims nothing

    response = marie_client.post(qr_url(receipt), follow=True)
    assert response.status_code == 200
    content = response.content.decode()
    assert "The purchase is yours: 25 points are on your card." in content
    assert "This purchase is yours" in content
    marie.refresh_from_db()
    assert marie.balance == 25
    assert Purchase.objects.get().member == marie


def test_claiming_twice_says_so_and_credits_once(marie_client, marie, receipt):
    marie_client.post(qr_url(receipt))
    response = marie_client.post(qr_url(receipt), follow=True)
    assert "You have already claimed this purchase." in response.content.decode()
    marie.refresh_from_db()
    assert marie.balance == 25


def test_typing_the_short_code_claims_it(marie_client, marie, receipt):
    form = marie_client.get(reverse("claim-form"))
    assert form.status_code == 200
    content = form.content.decode()
    assert '<label for="id_code">Receipt code</label>' in content
    assert "within 30 days" in content
    typed = claims.grouped(receipt.code).lower()
    response = marie_client.post(reverse("claim-form"), {"code": typed})
    assert response.status_code == 302
    assert response["Location"] == qr_url(receipt)
    marie.refresh_from_db()
    assert marie.balance == 25


@pytest.mark.parametrize("typed", ["", "nonsense", "AAAA-BBBB-CCCC", "RC1.1.2.forged",
                                   "x" * 40, "\u202e\u0000"])
def test_a_wrong_code_is_a_form_error_never_a_crash(marie_client, marie, receipt, typed):
    response = marie_client.post(reverse("claim-form"), {"code": typed})
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert Purchase.objects.get().member_id is None


@pytest.mark.parametrize("code", ["nonsense", "RC1.1.2.forged", "RC1." + "9" * 190,
                                  "%E2%80%AE", "AAAA-AAAA-AAAA"])
def test_a_garbled_qr_link_is_404_with_the_form(marie_client, receipt, code):
    response = marie_client.get(f"/claim/{code}/")
    assert response.status_code == 404
    content = response.content.decode()
    assert "This receipt code is not valid" in content
    assert 'name="code"' in content
    assert marie_client.post(f"/claim/{code}/").status_code == 404


def test_a_receipt_claimed_by_someone_else_says_so(marie_client, other, receipt):
    claims.claim_purchase(code=receipt.code, member=other)
    response = marie_client.get(qr_url(receipt))
    content = response.content.decode()
    assert "This receipt has already been claimed." in content
    assert "Add it to my card" not in content
    assert "Pierre" not in content  # nothing about who claimed it
    response = marie_client.post(reverse("claim-form"), {"code": receipt.code})
    assert "This receipt has already been claimed." in response.content.decode()


def test_an_expired_receipt_says_so(settings, marie_client, marie, store, scale):
    settings.LOYALTY_RECEIPT_CLAIM_DAYS = 1  # within the login session's age
    purchase = purchases.record_purchase(store=store, order_id="T-10", amount="10.00",
                                         member=None).obj
    receipt = claims.issue_claim(purchase=purchase).obj
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        response = marie_client.get(qr_url(receipt))
        assert "the time to claim it is over" in response.content.decode()
        response = marie_client.post(qr_url(receipt), follow=True)
        assert "the time to claim it is over" in response.content.decode()
    marie.refresh_from_db()
    assert marie.balance == 0


def test_pending_points_say_when_they_can_be_spent(marie_client, marie, store, scale):
    from tests.factories import programme

    programme(return_window_days=14)
    purchase = purchases.record_purchase(store=store, order_id="T-10", amount="10.00",
                                         member=None).obj
    claim = claims.issue_claim(purchase=purchase).obj
    response = marie_client.post(qr_url(claim), follow=True)
    assert "when the return period ends" in response.content.decode()
    marie.refresh_from_db()
    assert (marie.balance, marie.pending) == (0, 10)


def test_the_history_page_leads_to_the_claim_form(marie_client, marie):
    page = marie_client.get(reverse("history")).content.decode()
    assert f'href="{reverse("claim-form")}"' in page
