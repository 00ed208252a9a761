"""The insight page in a real browser: a manager logs in, the Chart.js charts draw under the
strict Content Security Policy, and an RFM cell leads to its customers."""

from decimal import Decimal

import pytest

from accounts.models import StaffRole
from loyalty.models import PointsEntry, Segment
from tests.browser.conftest import fits_the_width, log_in, open_page
from tests.factories import (
    ClvFitFactory,
    InsightRunFactory,
    MemberInsightFactory,
    StaffRoleFactory,
    UserFactory,
    make_member,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def figures(shop):
    """A manager of Paris (a verified login), and a programme whose insight was computed."""
    from allauth.account.models import EmailAddress

    manager = StaffRoleFactory(user=UserFactory(email="manager@example.com"),
                               store=shop["paris"], role=StaffRole.Role.MANAGER).user
    EmailAddress.objects.create(user=manager, email=manager.email, verified=True, primary=True)
    ClvFitFactory()
    InsightRunFactory()
    # Its own segment: a live-server test's database is emptied after each test, so the
    # segments the migration seeds may be gone when this one runs after another.
    champions, _ = Segment.objects.get_or_create(code="champions",
                                                 defaults={"name": "Champions"})
    grace = make_member(first_name="Grace", last_name="Hopper")
    MemberInsightFactory(member=grace, r=5, f=5, m=5, segment=champions,
                         predicted_value=Decimal("420.00"))
    MemberInsightFactory(member=make_member(first_name="Alan", last_name="Turing"), r=1, f=2,
                         m=1, stage="at_risk", predicted_value=Decimal("35.00"))
    PointsEntry.objects.create(member=grace, kind="earn", points=120, balance_after=120,
                               created_at=grace.created_at)
    return {"manager": manager, "grace": grace}


def test_a_manager_sees_the_charts_and_opens_an_rfm_cell(browser, live_server, figures):
    watched = open_page(browser, live_server)
    page = watched.page
    log_in(page, "manager@example.com", then="/staff/insight/")
    assert page.get_by_role("heading", name="Insight", exact=True).is_visible()

    for chart in ("#points-chart", "#value-chart"):
        page.wait_for_selector(f"{chart}[data-drawn='true']")
        drawn = page.evaluate(
            "id => { const c = window.Chart.getChart(document.querySelector(id));"
            " return c ? c.data.datasets.length : 0; }", chart)
        assert drawn >= 1, chart
        box = page.locator(chart).bounding_box()
        assert box["width"] > 200 and box["height"] > 100, (chart, box)
    issued = page.evaluate("window.Chart.getChart(document.querySelector('#points-chart'))"
                           ".data.datasets[0].data.at(-1)")
    assert issued == 120
    assert fits_the_width(page)

    page.locator("a[data-cell='55']").click()
    page.wait_for_url("**/staff/insight/members/?r=5&f=5")
    table = page.locator("#insight-members")
    assert "Grace Hopper" in table.inner_text()
    assert figures["grace"].card_number in table.inner_text()
    assert "Alan Turing" not in table.inner_text()
    assert fits_the_width(page)
    assert watched.csp_violations == []
