"""The card and the till in a real browser: a QR that decodes and refreshes, a cashier who
types it or shows it to the camera, records a purchase and sees the balance rise."""

import time

import pytest
import qrcode
import time_machine

from loyalty.models import Card, Purchase
from loyalty.services import cards
from tests.browser.conftest import (
    balance_of,
    decode_qr,
    fits_the_width,
    log_in,
    open_page,
    write_y4m,
)
from tests.factories import StaffRoleFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def shown_token(page) -> str:
    """What a till's scanner reads off the card: the QR, decoded from a screenshot."""
    page.wait_for_function("() => { const image = document.getElementById('card-qr-image');"
                           " return image.complete && image.naturalWidth > 0; }")
    texts = decode_qr(page.locator("#card-qr-image").screenshot())
    assert len(texts) == 1, texts
    return texts[0]


def test_a_customer_logs_in_and_shows_a_qr_that_resolves_to_them(browser, live_server, shop):
    watched = open_page(browser, live_server)
    page = watched.page
    log_in(page, "marie@example.com", then="/card/")
    assert page.get_by_role("heading", name="Marie Curie").is_visible()
    before = page.locator("#card-qr-image").get_attribute("data-token")
    token = shown_token(page)
    # The page may have refreshed the code meanwhile, if it opened at the end of a step.
    assert token in {before, page.locator("#card-qr-image").get_attribute("data-token")}
    assert cards.resolve_card(token).member == shop["marie"]
    number = shop["marie"].card_number
    assert page.locator(".card-number").first.inner_text().replace(" ", "") == number
    assert fits_the_width(page)
    assert watched.csp_violations == []


def test_the_qr_changes_after_the_time_step_without_a_reload(browser, live_server, shop):
    watched = open_page(browser, live_server, user=shop["marie"].user)
    page = watched.page
    # Start a few seconds before a step ends, so the refresh comes quickly.
    step_end = (cards.current_step() + 1) * cards.TOKEN_STEP_SECONDS
    with time_machine.travel(step_end - 3, tick=True):
        page.goto("/card/")
        page.evaluate("window.loadedOnce = true")
        first = shown_token(page)
        # However slow the page was to come, the refresh is due within the seconds it says.
        seconds_left = int(page.locator("#card-qr").get_attribute("data-seconds-left"))
        page.wait_for_function(
            "token => document.getElementById('card-qr-image').dataset.token !== token",
            arg=first, timeout=(seconds_left + 10) * 1000)
        second = shown_token(page)
        assert second != first
        assert page.evaluate("window.loadedOnce") is True  # the same page, not a reload
        assert cards.resolve_card(second).member == shop["marie"]
        assert first.split(".")[2] != second.split(".")[2]  # signed for the next step
    assert watched.csp_violations == []


def test_a_cashier_types_the_token_records_a_purchase_and_sees_the_balance_rise(
        browser, live_server, shop):
    customer = open_page(browser, live_server, user=shop["marie"].user).page
    customer.goto("/card/")
    token = shown_token(customer)

    watched = open_page(browser, live_server, user=shop["cashier"])
    till = watched.page
    till.goto("/staff/scan/")
    till.evaluate("window.loadedOnce = true")
    till.get_by_label("Card, voucher code, email, phone or name").fill(token)
    till.keyboard.press("Enter")
    panel = till.locator("#member-panel")
    panel.get_by_role("heading", name="Marie Curie").wait_for()
    assert balance_of(till) == 0
    # The amount field has the focus: the cashier types and presses Enter.
    till.keyboard.type("42.50")
    till.keyboard.press("Enter")
    till.locator(".points-earned").wait_for()
    assert "+42" in till.locator(".points-earned").inner_text()
    assert balance_of(till) == 42
    assert "recorded" in till.locator("#scan-status").inner_text()
    assert till.evaluate("window.loadedOnce") is True  # no full page load
    assert Purchase.objects.get().amount == 42.50
    shop["marie"].refresh_from_db()
    assert shop["marie"].balance == 42
    assert fits_the_width(till)
    assert watched.csp_violations == []


def test_errors_are_shown_plainly_in_the_status_line(browser, live_server, shop):
    till = open_page(browser, live_server, user=shop["cashier"]).page
    till.goto("/staff/scan/")
    old = cards.make_token(Card.objects.get(number=shop["marie"].card_number),
                           at=time.time() - 2 * cards.TOKEN_STEP_SECONDS)
    field = till.get_by_label("Card, voucher code, email, phone or name")
    field.fill(old)
    field.press("Enter")
    status = till.locator("#scan-status")
    status.get_by_text("expired").wait_for()
    assert status.inner_text().startswith("Problem:")
    assert till.locator("#member-panel").is_hidden()
    field.fill("1234567897")
    field.press("Enter")
    status.get_by_text("No card, voucher or member matches this").wait_for()


def test_a_cashier_of_another_store_is_refused(browser, live_server, shop):
    lyon = StoreFactory(code="lyon", name="Lyon")
    other = StaffRoleFactory(user=UserFactory(email="lyon@example.com"), store=lyon).user
    page = open_page(browser, live_server, user=other).page
    response = page.goto("/staff/scan/?store=paris")
    assert response.status == 403
    assert page.get_by_text("You do not act for this store").is_visible()
    # Their own page works; a form altered to name Paris is refused by the server.
    page.goto("/staff/scan/")
    page.locator("#lookup-form input[name=store]").evaluate("input => input.value = 'paris'")
    field = page.get_by_label("Card, voucher code, email, phone or name")
    field.fill(shop["marie"].card_number)
    field.press("Enter")
    page.locator("#scan-status").get_by_text("You do not act for this store").wait_for()
    assert page.locator("#member-panel").is_hidden()
    # And a customer is no cashier at all.
    customer = open_page(browser, live_server, user=shop["marie"].user).page
    assert customer.goto("/staff/scan/").status == 403


@pytest.mark.parametrize("card_kind", ["digital", "plastic"])
def test_the_camera_reads_the_card_and_the_member_appears_without_typing(
        launch, live_server, shop, tmp_path, card_kind):
    if card_kind == "digital":  # the phone's QR: a signed token
        shown = cards.make_token(Card.objects.get(number=shop["marie"].card_number))
    else:  # a plastic card's static QR: its number
        shown = cards.issue_card(member_id=shop["marie"].pk, store=shop["paris"]).number
    video = write_y4m(tmp_path / "card.y4m",
                      qrcode.make(shown, box_size=8, border=4).get_image())
    browser = launch("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                     f"--use-file-for-fake-video-capture={video}")
    watched = open_page(browser, live_server, user=shop["cashier"])
    till = watched.page
    till.context.grant_permissions(["camera"])
    till.goto("/staff/scan/")
    till.get_by_role("button", name="Scan with the camera").click()
    till.locator("#member-panel").get_by_role("heading", name="Marie Curie").wait_for()
    assert till.get_by_label("Card, voucher code, email, phone or name").input_value() == ""
    assert till.locator("#camera").is_hidden()  # one read per scan
    assert watched.csp_violations == []
