"""The till without the mouse, on a phone-sized screen: a manager serves a customer with
the keyboard alone (a sale with a decimal comma, a redemption confirmed, Esc for the next
customer, a refund found by its receipt number). No click anywhere."""

from decimal import Decimal

import pytest

from accounts.models import StaffRole
from loyalty.models import Purchase, Refund
from loyalty.services import ledger
from rewards.models import Redemption, Reward
from tests.browser.conftest import balance_of, fits_the_width, open_page
from tests.factories import StaffRoleFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

FOCUSED_TEXT = "() => (document.activeElement.innerText || document.activeElement.id || '')"


def tab_to(page, wanted, *, most: int = 80) -> None:
    """Press Tab until the focused element's text (or id) contains `wanted`."""
    for _ in range(most):
        if wanted in page.evaluate(FOCUSED_TEXT):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{wanted!r} never took the focus")


def focused_id(page) -> str:
    return page.evaluate("() => document.activeElement.id")


def test_a_manager_sells_redeems_and_refunds_with_the_keyboard_only(browser, live_server,
                                                                   shop):
    marie = shop["marie"]
    manager = StaffRoleFactory(user=UserFactory(email="manager@example.com"),
                               store=shop["paris"], role=StaffRole.Role.MANAGER).user
    ledger.adjust_points(member_id=marie.pk, points=100, reason="opening")
    Reward.objects.create(name="Tote bag", kind=Reward.Kind.GIFT, value=Decimal("0"),
                          points_cost=100)
    watched = open_page(browser, live_server, user=manager)
    till = watched.page
    till.goto("/staff/scan/")

    # The search box has the focus: type the card number, Enter.
    assert focused_id(till) == "id_code"
    till.keyboard.type(marie.card_number)
    till.keyboard.press("Enter")
    till.locator("#member-panel").get_by_role("heading", name="Marie Curie").wait_for()
    assert balance_of(till) == 100

    # A sale, typed with a decimal comma in English, with its receipt number.
    till.wait_for_function("() => document.activeElement.id === 'id_amount'")
    till.keyboard.type("42,50")
    till.keyboard.press("Tab")
    till.keyboard.type("R-42")
    till.keyboard.press("Enter")
    till.locator(".points-earned").wait_for()
    assert "+42" in till.locator(".points-earned").inner_text()
    assert balance_of(till) == 142
    # "Next customer" has the focus now; the cashier goes on with this one instead.
    till.wait_for_function("() => document.activeElement.id === 'next-customer'")

    # A redemption: Tab to "Redeem", Enter, and Enter again on the confirmation.
    tab_to(till, "Redeem")
    till.keyboard.press("Enter")
    till.locator("#till-confirm").wait_for()
    till.wait_for_function("() => document.activeElement.id === 'till-confirm-yes'")
    assert not Redemption.objects.exists()
    till.keyboard.press("Enter")
    till.locator("#scan-status").get_by_text("points spent").wait_for()
    assert balance_of(till) == 42
    assert Redemption.objects.count() == 1

    # Esc: the next customer. The panel goes, the search box has the focus again.
    till.keyboard.press("Escape")
    till.wait_for_function("() => document.activeElement.id === 'id_code'")
    assert till.locator("#member-panel").is_hidden()

    # A refund, found by its receipt number: the amount to refund has the focus.
    tab_to(till, "id_receipt_lookup")
    till.keyboard.type("R-42")
    till.keyboard.press("Enter")
    till.locator("#member-panel .is-highlighted").wait_for()
    till.wait_for_function("() => document.activeElement.name === 'amount'"
                           " && document.activeElement.id.startsWith('refund-amount')")
    till.keyboard.press("Control+A")
    till.keyboard.type("10,00")
    till.keyboard.press("Enter")
    till.locator("#scan-status").get_by_text("Refund of €10.00").wait_for()
    assert balance_of(till) == 33  # 42 points × 10.00 / 42.50, rounded down: 9 back

    bought = Purchase.objects.get(order_id="R-42")
    assert bought.amount == Decimal("42.50") and bought.cashier == manager
    assert Refund.objects.get().amount == Decimal("10.00")
    assert fits_the_width(till)
    assert watched.csp_violations == []
