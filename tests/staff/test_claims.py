"""A sale without a card at the till, and its receipt with the claim block."""

import re

import pytest
from django.urls import reverse

from loyalty.models import Purchase, ReceiptClaim
from loyalty.services import claims, purchases
from tests.staff.conftest import page_text

pytestmark = pytest.mark.django_db


def sell(client, store, amount="12.50", receipt=""):
    form = client.get(reverse("staff:sale"), {"store": store.code})
    assert form.status_code == 200
    order_id = re.search(r'name="order_id" value="([^"]+)"', form.content.decode()).group(1)
    return client.post(reverse("staff:sale"), {"store": store.code, "order_id": order_id,
                                               "amount": amount, "receipt": receipt})


def test_the_till_links_to_a_sale_without_a_card(cashier_client, store):
    content = cashier_client.get(reverse("staff:scan")).content.decode()
    assert reverse("staff:sale") in content


def test_a_sale_without_a_card_prints_a_receipt_with_the_claim(cashier_client, store, scale):
    response = sell(cashier_client, store, receipt="R-77")
    assert response.status_code == 302
    purchase = Purchase.objects.get()
    assert purchase.member_id is None and purchase.order_id == "R-77"
    assert str(purchase.amount) == "12.50"
    assert purchase.cashier is not None  # recorded on sales without a card too
    assert response["Location"] == reverse("staff:receipt", args=[purchase.pk])
    page = cashier_client.get(response["Location"])
    assert page.status_code == 200
    content = page.content.decode()
    claim = ReceiptClaim.objects.get()
    assert claims.grouped(claim.code) in page_text(page)
    assert 'src="data:image/svg+xml;base64,' in content
    assert 'alt="QR code to claim the points of this purchase"' in content
    assert "/claim/" in page_text(page)
    assert "style=" not in content.split("<main", 1)[1]  # the CSP holds: no inline style


def test_the_same_sale_sent_twice_is_one_sale(cashier_client, store, scale):
    form = cashier_client.get(reverse("staff:sale"), {"store": store.code}).content.decode()
    order_id = re.search(r'name="order_id" value="([^"]+)"', form).group(1)
    data = {"store": store.code, "order_id": order_id, "amount": "5.00"}
    first = cashier_client.post(reverse("staff:sale"), data)
    again = cashier_client.post(reverse("staff:sale"), data)
    assert first["Location"] == again["Location"]
    assert Purchase.objects.count() == 1


def test_a_bad_amount_is_a_form_error(cashier_client, store, scale):
    response = sell(cashier_client, store, amount="-3")
    assert response.status_code == 400
    assert Purchase.objects.count() == 0


def test_a_member_s_receipt_has_no_claim_block(cashier_client, store, scale, member):
    purchase = purchases.record_purchase(store=store, order_id="M-1", amount="5.00",
                                         member=member).obj
    page = cashier_client.get(reverse("staff:receipt", args=[purchase.pk]))
    assert page.status_code == 200
    assert "claim-receipt" not in page.content.decode()
    assert ReceiptClaim.objects.count() == 0


def test_another_store_s_receipt_is_404(client, lyon_cashier, store, scale):
    purchase = purchases.record_purchase(store=store, order_id="T-1", amount="5.00",
                                         member=None).obj
    client.force_login(lyon_cashier)
    assert client.get(reverse("staff:receipt", args=[purchase.pk])).status_code == 404
    assert client.post(reverse("staff:sale"), {"store": store.code, "order_id": "x",
                                               "amount": "1.00"}).status_code == 403


def test_a_manager_looking_up_an_unclaimed_sale_to_refund_is_told_why_not(
        manager_client, store, scale):
    purchases.record_purchase(store=store, order_id="R-88", amount="9.00", member=None)
    response = manager_client.post(reverse("staff:refund-receipt"),
                                   {"store": store.code, "receipt": "R-88"})
    assert response.status_code == 409
    assert "recorded without a card and earned no points" in page_text(response)
