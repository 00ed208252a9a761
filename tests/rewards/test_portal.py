"""The customer portal's rewards pages: who sees what, the confirm step, vouchers and their QR
codes, errors as messages, and a query count that does not grow with the history."""

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
import qrcode
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Member, PointsEntry
from rewards import codes, qr
from rewards.models import Redemption, Reward, Voucher
from rewards.services import cancel_voucher, redeem_reward, redeem_voucher
from tests.factories import StoreFactory, TierFactory, UserFactory, make_member
from tests.rewards.helpers import give, issue, reward

pytestmark = pytest.mark.django_db

CATALOGUE = reverse("rewards:catalogue")
VOUCHERS = reverse("rewards:vouchers")
SVG = "{http://www.w3.org/2000/svg}"


def redeem_page(item):
    return reverse("rewards:redeem", args=[item.pk])


def cancel_page(voucher):
    return reverse("rewards:cancel", args=[voucher.pk])


def qr_page(voucher):
    return reverse("rewards:voucher-qr", args=[voucher.pk])


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def html(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def marie(db):
    user = UserFactory(email="marie@example.com")
    return make_member(first_name="Marie", email="marie@example.com", user=user)


@pytest.fixture
def marie_client(client, marie):
    client.force_login(marie.user)
    return client


@pytest.fixture
def other(db):
    return make_member(first_name="Oscar", email="oscar@example.com",
                       user=UserFactory(email="oscar@example.com"))


# --- Who may see the pages ---------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_log_in(client, marie):
    voucher = issue(marie)
    item = voucher.reward
    for method, url in [("get", CATALOGUE), ("get", redeem_page(item)),
                        ("post", redeem_page(item)), ("get", VOUCHERS),
                        ("get", cancel_page(voucher)), ("post", cancel_page(voucher)),
                        ("get", qr_page(voucher))]:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("account_login") + "?next="), url
    voucher.refresh_from_db()
    assert voucher.status == "issued" and Redemption.objects.count() == 1


def test_a_login_without_a_membership_gets_a_page_saying_so(client):
    client.force_login(UserFactory(email="staff@example.com"))
    for url in (CATALOGUE, VOUCHERS):
        response = client.get(url)
        assert response.status_code == 200
        assert "not linked to a loyalty membership" in html(response)


def test_a_member_can_neither_see_nor_cancel_another_members_vouchers(marie_client, marie,
                                                                      other):
    mine = issue(marie)
    theirs = [issue(other) for _ in range(3)]
    page = html(marie_client.get(VOUCHERS))
    assert mine.formatted_code in page
    assert not any(voucher.formatted_code in page for voucher in theirs)
    # Guessing ids around one's own finds nothing that is not one's own.
    for guess in range(1, max(v.pk for v in theirs) + 5):
        if guess == mine.pk:
            continue
        assert marie_client.get(reverse("rewards:voucher-qr", args=[guess])).status_code == 404
        assert marie_client.get(reverse("rewards:cancel", args=[guess])).status_code == 404
        assert marie_client.post(reverse("rewards:cancel", args=[guess])).status_code == 404
    assert set(Voucher.objects.filter(member=other).values_list("status", flat=True)) == {
        "issued"}
    other.refresh_from_db()
    assert other.balance == 0 and not PointsEntry.objects.filter(kind="cancel").exists()


# --- The catalogue -------------------------------------------------------------------------


def test_the_catalogue_says_what_the_member_can_have_and_what_is_missing(marie_client, marie):
    give(marie, 180)
    gold = TierFactory(code="gold", name="Gold", rank=5)
    reward(name="Tote bag", points_cost=150, stock=3)
    reward(name="Big voucher", points_cost=500)
    reward(name="Evening", points_cost=100, tier_required=gold)
    reward(name="Sold out", points_cost=10, stock=0)
    reward(name="Hidden", active=False)
    monthly = reward(name="Monthly treat", points_cost=10, limit_count=1, limit_period="month")
    redeem_reward(member=marie, reward_id=monthly.pk, redemption_id="earlier")
    give(marie, 10)
    response = marie_client.get(CATALOGUE)
    assert response.status_code == 200
    page = html(response)
    assert "180 points" in page
    assert "Tote bag" in page and "You can have it now." in page
    assert "320 more points needed" in page
    assert "Gold members only" in page
    assert "Out of stock" in page
    assert "Limit reached: once per month" in page
    assert "Hidden" not in page
    # One action button, for the one reward within reach (a button, not a link).
    assert page.count('<button type="submit">Choose') == 1


def test_a_balance_below_zero_counts_in_the_points_missing(marie_client, marie):
    give(marie, 100)
    voucher = issue(marie, reward(name="Spent", points_cost=100))
    assert voucher
    Member.objects.filter(pk=marie.pk).update(balance=-40)  # as after a refund
    reward(name="Next", points_cost=100)
    assert "140 more points needed" in html(marie_client.get(CATALOGUE))


def test_the_catalogue_speaks_french_to_french_browsers(marie_client, marie):
    reward(name="Free delivery", name_fr="Livraison offerte", description="On any order",
           description_fr="Sur toute commande")
    page = html(marie_client.get(CATALOGUE, HTTP_ACCEPT_LANGUAGE="fr"))
    assert "Livraison offerte" in page and "Sur toute commande" in page


def test_the_catalogue_takes_the_same_queries_whatever_the_history(marie_client, marie,
                                                                   django_assert_max_num_queries):
    for index in range(3):
        reward(name=f"R{index}", points_cost=10, limit_count=50, stock=100).stores.set(
            [StoreFactory(code=f"s{index}")])

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert marie_client.get(CATALOGUE).status_code == 200
        return len(captured)

    issue(marie, Reward.objects.first())
    count()  # the first page fills the configuration cache (the brand: loyalty.brand)
    few = count()
    for item in Reward.objects.all():
        for _ in range(10):
            voucher = issue(marie, item)
        redeem_voucher(code=voucher.code, order_id="1", store=item.stores.get())
    assert count() == few
    with django_assert_max_num_queries(15):
        marie_client.get(CATALOGUE)


def test_the_pages_hold_no_inline_script_or_style(marie_client, marie):
    give(marie, 500)
    item = reward()
    voucher = issue(marie, item)
    for url in (CATALOGUE, redeem_page(item), VOUCHERS, cancel_page(voucher)):
        content = marie_client.get(url).content.decode()
        assert "<script" not in content and "style=" not in content, url
        assert "<style" not in content, url


# --- Redeeming ------------------------------------------------------------------------------


def test_the_confirm_step_shows_the_cost_and_the_balance_after(marie_client, marie):
    give(marie, 250)
    item = reward(points_cost=100)
    response = marie_client.get(redeem_page(item))
    assert response.status_code == 200
    page = html(response)
    assert "250 points" in page and "100 points" in page and "150 points" in page
    assert re.search(r'name="redemption_id" value="portal-[0-9a-f]{32}"', page)
    assert not Redemption.objects.exists()  # showing the page spends nothing


def test_confirming_redeems_once_even_when_submitted_twice(marie_client, marie):
    give(marie, 250)
    item = reward(points_cost=100)
    rid = re.search(r'name="redemption_id" value="([^"]+)"',
                    marie_client.get(redeem_page(item)).content.decode()).group(1)
    first = marie_client.post(redeem_page(item), {"redemption_id": rid})
    assert first.status_code == 302 and first["Location"] == VOUCHERS
    voucher = Voucher.objects.get()
    assert any(voucher.formatted_code in text for text in texts(first))
    second = marie_client.post(redeem_page(item), {"redemption_id": rid})
    assert second.status_code == 302
    assert Redemption.objects.count() == 1 and Voucher.objects.count() == 1
    marie.refresh_from_db()
    assert marie.balance == 150
    redemption = Redemption.objects.get()
    assert redemption.store is None and redemption.entry.created_by == marie.user


@pytest.mark.parametrize("case", ["insufficient_points", "tier_required", "out_of_stock",
                                  "inactive", "unknown", "no_redemption_id"])
def test_a_refused_redemption_is_a_message_never_a_server_error(marie_client, marie, case):
    give(marie, 50)
    gold = TierFactory(code="gold", name="Gold", rank=5)
    item = {"insufficient_points": lambda: reward(points_cost=100),
            "tier_required": lambda: reward(points_cost=10, tier_required=gold),
            "out_of_stock": lambda: reward(points_cost=10, stock=0),
            "inactive": lambda: reward(points_cost=10, active=False),
            "unknown": lambda: Reward(pk=999999),
            "no_redemption_id": lambda: reward(points_cost=10)}[case]()
    data = {} if case == "no_redemption_id" else {"redemption_id": "portal-x"}
    response = marie_client.post(redeem_page(item), data)
    assert response.status_code == 302 and response["Location"] == CATALOGUE
    assert texts(response), "the member is told why"
    assert not Redemption.objects.exists()
    assert marie_client.get(CATALOGUE).status_code == 200


def test_the_confirm_page_of_a_reward_out_of_reach_says_why_without_a_button(marie_client,
                                                                             marie):
    item = reward(points_cost=100)
    page = html(marie_client.get(redeem_page(item)))
    assert "100 more points needed" in page and 'name="redemption_id"' not in page
    assert marie_client.get(reverse("rewards:redeem", args=[999999])).status_code == 404


# --- My vouchers -----------------------------------------------------------------------------


def test_my_vouchers_show_code_qr_expiry_status_and_a_cancel_button(marie_client, marie):
    ready = issue(marie, reward(name="Ready one"))
    used = issue(marie, reward(name="Used one"))
    redeem_voucher(code=used.code, order_id="A1", store=StoreFactory(code="paris"))
    late = issue(marie, reward(name="Late one"))
    Voucher.objects.filter(pk=late.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    page = html(marie_client.get(VOUCHERS))
    assert ready.formatted_code in page
    assert f'src="{qr_page(ready)}"' in page
    assert f'alt="QR code of voucher {ready.formatted_code}"' in page
    assert "Ready to use" in page and "Used" in page and "Expired" in page
    assert f'action="{cancel_page(ready)}"' in page
    assert f'action="{cancel_page(used)}"' not in page
    assert f'action="{cancel_page(late)}"' not in page
    assert f'src="{qr_page(used)}"' not in page


def test_the_qr_code_is_an_svg_of_the_voucher_code(marie_client, marie):
    voucher = issue(marie)
    response = marie_client.get(qr_page(voucher))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    content = response.content.decode()
    assert "style=" not in content and "<script" not in content
    root = ET.fromstring(content)  # noqa: S314 - our own markup
    assert root.tag == f"{SVG}svg"
    (path,) = root.iter(f"{SVG}path")
    # The dark modules drawn are exactly those of a QR code that carries the code.
    drawn = {tuple(map(int, cell)) for cell in re.findall(r"M(\d+),(\d+)H", path.get("d"))}
    code = qrcode.QRCode(border=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(voucher.code)
    code.make(fit=True)
    expected = {(x, y) for y, row in enumerate(code.get_matrix())
                for x, dark in enumerate(row) if dark}
    assert drawn == expected
    assert codes.is_well_formed(voucher.code)


def test_the_qr_module_makes_a_standalone_svg():
    content = qr.voucher_svg("ABCDEFGHJK")
    assert content.startswith(b"<svg") and b'xmlns="http://www.w3.org/2000/svg"' in content


def test_cancelling_asks_first_then_gives_the_points_back(marie_client, marie,
                                                          ledger_is_sound):
    voucher = issue(marie, reward(points_cost=120, stock=4))
    page = html(marie_client.get(cancel_page(voucher)))
    assert "120 points" in page and voucher.formatted_code in page
    voucher.refresh_from_db()
    assert voucher.status == "issued"
    response = marie_client.post(cancel_page(voucher))
    assert response.status_code == 302 and response["Location"] == VOUCHERS
    assert any("120 points" in text for text in texts(response))
    voucher.refresh_from_db()
    marie.refresh_from_db()
    assert (voucher.status, marie.balance, voucher.reward.stock) == ("cancelled", 120, 4)
    again = marie_client.post(cancel_page(voucher))
    assert again.status_code == 302
    assert PointsEntry.objects.filter(kind="cancel").count() == 1
    ledger_is_sound()


def test_a_used_voucher_cannot_be_cancelled_and_the_member_is_told(marie_client, marie):
    voucher = issue(marie)
    redeem_voucher(code=voucher.code, order_id="A1", store=StoreFactory(code="paris"))
    shown = marie_client.get(cancel_page(voucher))
    assert shown.status_code == 302 and texts(shown)
    response = marie_client.post(cancel_page(voucher))
    assert response.status_code == 302
    assert "This voucher has already been used." in texts(response)
    voucher.refresh_from_db()
    assert voucher.status == "used"


def test_past_vouchers_are_paginated(marie_client, marie):
    item = reward(points_cost=1)
    for _ in range(23):
        cancel_voucher(voucher_id=issue(marie, item).pk)
    first = html(marie_client.get(VOUCHERS))
    assert "Page 1 of 2" in first and first.count("Cancelled") >= 20
    assert marie_client.get(VOUCHERS, {"page": "2"}).status_code == 200
    assert marie_client.get(VOUCHERS, {"page": "nonsense"}).status_code == 200
