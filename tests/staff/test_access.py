"""Who may use the staff pages, and for which store: checked on the server every time."""

import pytest
from django.urls import reverse

from accounts.models import StaffRole
from loyalty.models import Purchase
from tests.factories import StaffRoleFactory, StoreFactory, UserFactory
from tests.staff.conftest import page_text

pytestmark = pytest.mark.django_db

PAGES = [("get", "staff:dashboard"), ("get", "staff:scan"), ("get", "staff:issue-card"),
         ("post", "staff:lookup"), ("post", "staff:purchase"), ("post", "staff:store"),
         ("post", "staff:redeem-reward"), ("post", "staff:redeem-voucher"),
         ("post", "staff:block-card"), ("post", "staff:link-card")]


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    for method, name in PAGES:
        response = getattr(client, method)(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("account_login")), name


def test_a_login_without_a_store_role_is_refused_everywhere(client, store, marie):
    client.force_login(marie.user)
    for method, name in PAGES:
        response = getattr(client, method)(reverse(name), {"store": "paris"})
        assert response.status_code == 403, name
        assert "for the staff of a store" in page_text(response), name


def test_a_cashier_of_one_store_acts_for_it_without_choosing(cashier_client, store):
    response = cashier_client.get(reverse("staff:scan"))
    assert response.status_code == 200
    assert "Paris" in page_text(response)
    assert 'name="store" value="paris"' in response.content.decode()
    dashboard = cashier_client.get(reverse("staff:dashboard"))
    assert "You act for Paris" in page_text(dashboard)


def test_a_cashier_of_paris_cannot_act_for_another_store(cashier_client, store, lyon, marie):
    assert cashier_client.get(reverse("staff:scan"), {"store": "lyon"}).status_code == 403
    assert cashier_client.post(reverse("staff:store"), {"store": "lyon"}).status_code == 403
    # A form altered to name another store records nothing there.
    response = cashier_client.post(reverse("staff:purchase"), {
        "store": "lyon", "member": marie.pk, "amount": "10.00", "order_id": "till-x"})
    assert response.status_code == 403
    assert "You do not act for this store" in page_text(response)
    assert not Purchase.objects.exists()
    # Under htmx the refusal is the panel's message, still a 403.
    response = cashier_client.post(reverse("staff:lookup"), {"store": "lyon", "code": "x"},
                                   HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert "You do not act for this store" in page_text(response)
    # And a store that does not exist is the same refusal.
    assert cashier_client.get(reverse("staff:scan"), {"store": "nowhere"}).status_code == 403


def test_a_closed_store_cannot_be_acted_for(client, store):
    store.active = False
    store.save()
    user = StaffRoleFactory(store=store).user
    client.force_login(user)
    assert client.get(reverse("staff:scan")).status_code == 403


def test_someone_with_several_stores_chooses_one_and_it_is_remembered(client, store, lyon):
    user = UserFactory(email="both@example.com")
    StaffRoleFactory(user=user, store=store)
    StaffRoleFactory(user=user, store=lyon, role=StaffRole.Role.MANAGER)
    client.force_login(user)
    response = client.get(reverse("staff:scan"))
    assert response.status_code == 302 and response["Location"] == reverse("staff:dashboard")
    dashboard = page_text(client.get(reverse("staff:dashboard")))
    assert "Choose the store you act for" in dashboard and "Lyon" in dashboard
    response = client.post(reverse("staff:store"), {"store": "lyon"})
    assert response.status_code == 302
    page = client.get(reverse("staff:scan"))
    assert page.status_code == 200
    assert 'name="store" value="lyon"' in page.content.decode()
    # A role taken away since is noticed at the next request.
    StaffRoleFactory._meta.model.objects.filter(user=user, store=lyon).delete()
    assert 'value="paris"' in client.get(reverse("staff:scan")).content.decode()


def test_a_programme_admin_picks_any_store(client, store, lyon):
    admin = UserFactory(email="admin@example.com", is_superuser=True, is_staff=True)
    client.force_login(admin)
    assert client.get(reverse("staff:scan")).status_code == 302
    assert client.get(reverse("staff:scan"), {"store": "lyon"}).status_code == 200
    StoreFactory(code="nice")
    assert client.post(reverse("staff:store"), {"store": "nice"}).status_code == 302


def test_the_staff_pages_hold_no_inline_script_style_or_handler(cashier_client, marie):
    import re

    # The member's panel opens for a customer found at the till.
    cashier_client.post(reverse("staff:lookup"), {"store": "paris", "code": marie.card_number})
    for url in (reverse("staff:dashboard"), reverse("staff:scan"),
                reverse("staff:scan") + f"?member={marie.pk}", reverse("staff:issue-card")):
        content = cashier_client.get(url).content.decode()
        scripts = re.findall(r"<script\b[^>]*>", content)
        for tag in scripts:
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
        assert "style=" not in content and "<style" not in content, url
        assert not re.search(r"\son[a-z]+=", content), url


def test_the_navigation_links_the_card_and_for_staff_the_staff_pages(client, cashier, marie):
    client.force_login(marie.user)
    text = client.get(reverse("home")).content.decode()
    assert 'href="/card/"' in text and 'href="/staff/"' not in text
    client.force_login(cashier)
    assert 'href="/staff/"' in client.get(reverse("home")).content.decode()


def test_a_logged_out_htmx_request_sends_the_whole_page_to_the_login(client):
    response = client.post(reverse("staff:purchase"), {"store": "paris"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("account_login") + "?next=")


def test_choosing_no_store_is_refused_not_an_error(client, store, lyon):
    user = UserFactory(email="both@example.com")
    StaffRoleFactory(user=user, store=store)
    StaffRoleFactory(user=user, store=lyon)
    client.force_login(user)
    assert client.post(reverse("staff:store"), {"store": ""}).status_code == 403
    assert client.post(reverse("staff:store")).status_code == 403


@pytest.mark.parametrize("code", ["pa\x00ris", "x" * 40, "pâris", "paris;drop", "../paris"])
def test_a_malformed_store_code_is_refused_plainly(cashier_client, code):
    assert cashier_client.get(reverse("staff:scan"), {"store": code}).status_code == 403
    response = cashier_client.post(reverse("staff:lookup"), {"store": code, "code": "x"})
    assert response.status_code == 403
