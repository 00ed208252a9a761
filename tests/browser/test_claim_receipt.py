"""A forgotten card, in real browsers on a phone: the cashier records the sale without a
card and the receipt shows its claim; the customer logs in and types the code."""

import re

import pytest

from loyalty.models import Purchase, ReceiptClaim
from loyalty.services import claims
from tests.browser.conftest import decode_qr, fits_the_width, log_in, open_page

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_customer_claims_a_forgotten_receipt_by_typing_its_code(browser, live_server, shop):
    # The till: a sale without a card, and its receipt.
    till = open_page(browser, live_server, user=shop["cashier"]).page
    till.goto("/staff/scan/")
    till.get_by_role("link", name=re.compile("Sale without a card")).click()
    till.get_by_label(re.compile("Amount")).fill("27.40")
    till.get_by_role("button", name="Record the sale").click()
    till.wait_for_url(re.compile(r"/staff/receipts/\d+/$"))
    code = till.locator("[data-claim-code]").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code), code
    qr = till.locator("img.claim-qr")
    assert qr.is_visible()
    claim = ReceiptClaim.objects.get()
    assert decode_qr(qr.screenshot()) == [claims.claim_url(claim)]
    assert Purchase.objects.get().member_id is None

    # The customer, on their phone: the claim form asks for a login, then comes back.
    watched = open_page(browser, live_server)
    page = watched.page
    page.goto("/claim/")
    assert "/accounts/login/" in page.url
    log_in(page, "marie@example.com", then="/claim/")
    field = page.get_by_label("Receipt code")
    assert field.evaluate("element => element === document.activeElement")
    field.fill(code.lower().replace("-", " "))  # typed loosely: small letters, spaces
    page.get_by_role("button", name="Claim my points").click()
    page.wait_for_url(re.compile(r"/claim/RC1\.[^/]+/$"))
    assert page.get_by_text("The purchase is yours: 27 points are on your card.").is_visible()
    assert page.get_by_text("This purchase is yours: 27 points.").is_visible()
    assert fits_the_width(page)
    assert watched.csp_violations == []

    marie = shop["marie"]
    marie.refresh_from_db()
    assert marie.balance == 27
    assert Purchase.objects.get().member == marie

    # The same code again, as a second try would: said so, credited once.
    page.goto("/claim/")
    page.get_by_label("Receipt code").fill(code)
    page.get_by_role("button", name="Claim my points").click()
    page.wait_for_url(re.compile(r"/claim/RC1\.[^/]+/$"))
    assert page.get_by_text("You have already claimed this purchase.").is_visible()
    marie.refresh_from_db()
    assert marie.balance == 27
