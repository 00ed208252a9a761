"""The managers' messages pages: who may see them, the journeys' table, a journey's form
with its preview and test."""

import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import StaffRole
from loyalty.models import Journey, Message
from tests.factories import StaffRoleFactory, UserFactory, make_member
from tests.staff.conftest import page_text

pytestmark = pytest.mark.django_db

OVERVIEW = reverse("staff:messages")
BIRTHDAY = reverse("staff:journey", kwargs={"kind": "birthday"})


def form_data(journey: Journey, **changes) -> dict:
    data = {"active": "on" if journey.active else "", "channel": journey.channel,
            "purpose": journey.purpose, "priority": journey.priority, "days": journey.days,
            "points_within": journey.points_within, "subject": journey.subject,
            "body": journey.body, "subject_fr": journey.subject_fr, "body_fr": journey.body_fr,
            "card_number": "", **changes}
    return {key: value for key, value in data.items() if value != "" or key != "active"}


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    for url in (OVERVIEW, BIRTHDAY):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


def test_cashiers_and_customers_are_refused(client, cashier, marie):
    for user in (cashier, marie.user):
        client.force_login(user)
        for url in (OVERVIEW, BIRTHDAY):
            assert client.get(url).status_code == 403, (user, url)
        assert client.post(BIRTHDAY, {"action": "save", "active": "on"}).status_code == 403
    assert not Journey.objects.get(kind="birthday").active


def test_managers_of_any_store_and_programme_admins_see_them(client, manager, lyon):
    lyon_manager = StaffRoleFactory(user=UserFactory(email="lm@example.com"), store=lyon,
                                    role=StaffRole.Role.MANAGER).user
    admin = StaffRoleFactory(user=UserFactory(email="adm@example.com"), store=lyon,
                             role=StaffRole.Role.ADMIN).user
    for user in (manager, lyon_manager, admin):
        client.force_login(user)
        assert client.get(OVERVIEW).status_code == 200
        assert client.get(BIRTHDAY).status_code == 200


def test_the_dashboard_links_the_page_for_managers_only(client, manager, cashier):
    client.force_login(manager)
    assert OVERVIEW in client.get(reverse("staff:dashboard")).content.decode()
    client.force_login(cashier)
    assert OVERVIEW not in client.get(reverse("staff:dashboard")).content.decode()


def test_the_table_shows_each_journey_with_its_figures_and_reasons(manager_client, marie):
    journey = Journey.objects.get(kind="birthday")
    now = timezone.now()
    for index, (status, reason) in enumerate([("sent", ""), ("suppressed", "no_consent"),
                                              ("suppressed", "no_consent")]):
        Message.objects.create(member=marie, journey=journey, kind="birthday",
                               occasion=f"birthday:{index}", channel="email",
                               purpose="marketing", status=status, reason=reason,
                               created_at=now, sent_at=now if status == "sent" else None)
    response = manager_client.get(OVERVIEW)
    html = response.content.decode()
    row = page_text(response).split("Birthday", 1)[1].split("Points expiring")[0]
    assert "No consent for this channel: 2" in row
    assert re.search(r'<td class="sent">1</td>', html)
    assert "Marketing" in row and "Off" in row
    assert BIRTHDAY in html
    assert len(re.findall(r'<tr id="journey-', html)) == len(Journey.Kind)
    assert "Campaigns" in html and "/staff/campaigns/" in html
    assert "style=" not in html and "<script>" not in html


def test_the_pages_are_in_french(manager_client):
    manager_client.cookies["django_language"] = "fr"
    for url in (OVERVIEW, BIRTHDAY):
        assert '<html lang="fr"' in manager_client.get(url).content.decode()
    assert "Enregistrer" in page_text(manager_client.get(BIRTHDAY))


def test_saving_the_form_changes_the_journey(manager_client, manager):
    journey = Journey.objects.get(kind="birthday")
    response = manager_client.post(BIRTHDAY, form_data(
        journey, action="save", active="on", purpose="service", days="3",
        subject="Joyeux {{ first_name }}", body_fr="{{ points }} points"))
    assert response.status_code == 302
    journey.refresh_from_db()
    assert (journey.active, journey.purpose, journey.days, journey.subject, journey.body_fr) == (
        True, "service", 3, "Joyeux {{ first_name }}", "{{ points }} points")


def test_the_form_refuses_unknown_variables_naming_the_allowed_ones(manager_client):
    journey = Journey.objects.get(kind="birthday")
    response = manager_client.post(BIRTHDAY, form_data(
        journey, action="save", active="on", body="{{ settings.SECRET_KEY }} {{ member.email }}"))
    assert response.status_code == 400
    text = page_text(response)
    assert "Unknown variables: member.email, settings.SECRET_KEY" in text
    assert "{{ first_name }}, {{ points }}" in text
    journey.refresh_from_db()
    assert (journey.active, journey.body) == (False, "")


def test_the_preview_renders_a_real_member_by_card_number(manager_client):
    member = make_member(first_name="Ada", language="fr")
    journey = Journey.objects.get(kind="birthday")
    response = manager_client.post(BIRTHDAY, form_data(
        journey, action="preview", card_number=member.card_number,
        subject="Hello {{ first_name }}", subject_fr="Bonjour {{ first_name }}",
        body_fr="{{ settings.SECRET_KEY }}!"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<article class="card message-preview" lang="fr">' in html
    assert "Bonjour Ada" in html and "Hello Ada" not in html
    assert "Unknown variables: settings.SECRET_KEY" in page_text(response)
    assert Journey.objects.get(kind="birthday").subject_fr == ""  # a preview saves nothing


def test_the_preview_refuses_an_unknown_card_number(manager_client):
    journey = Journey.objects.get(kind="birthday")
    response = manager_client.post(BIRTHDAY, form_data(journey, action="preview",
                                                       card_number="1234567897"))
    assert response.status_code == 400
    assert "No active member holds this card number." in page_text(response)


def test_a_test_is_sent_to_the_manager_not_the_member(manager_client, manager):
    member = make_member(first_name="Ada", email="ada@example.com")
    journey = Journey.objects.get(kind="welcome")
    response = manager_client.post(reverse("staff:journey", kwargs={"kind": "welcome"}),
                                   form_data(journey, action="test",
                                             card_number=member.card_number,
                                             subject="Hi {{ first_name }}"), follow=True)
    assert response.status_code == 200
    assert [email.to for email in mail.outbox] == [[manager.email]]
    assert "Hi Ada" in mail.outbox[0].subject
    assert "A test message was sent to manager@example.com." in page_text(response)


def test_an_unknown_journey_is_not_found(manager_client):
    assert manager_client.get(reverse("staff:journey", kwargs={"kind": "nope"})).status_code \
        == 404


# --- a journey's offer ---------------------------------------------------------------------


def test_the_win_back_form_sets_its_voucher_and_other_journeys_have_none(manager_client):
    from rewards.models import Reward

    item = Reward.objects.create(name="5 € off", kind="amount_voucher", value=5,
                                 points_cost=100, active=False)
    url = reverse("staff:journey", kwargs={"kind": "win_back"})
    page = manager_client.get(url).content.decode()
    assert 'name="voucher_reward"' in page and 'name="voucher_days"' in page
    assert 'name="bonus_factor"' not in page
    journey = Journey.objects.get(kind="win_back")
    response = manager_client.post(url, form_data(
        journey, action="save", voucher_reward=item.pk, voucher_days="21", bonus_points="5"))
    assert response.status_code == 302
    journey.refresh_from_db()
    assert (journey.voucher_reward, journey.voucher_days, journey.bonus_points) == (item, 21, 0)
    assert 'name="voucher_reward"' not in manager_client.get(BIRTHDAY).content.decode()


def test_the_second_purchase_form_sets_its_bonus_and_refuses_a_bad_one(manager_client):
    url = reverse("staff:journey", kwargs={"kind": "second_purchase"})
    journey = Journey.objects.get(kind="second_purchase")
    page = manager_client.get(url).content.decode()
    assert 'name="bonus_factor"' in page and 'name="voucher_reward"' not in page
    response = manager_client.post(url, form_data(
        journey, action="save", bonus_factor="0.5", bonus_points="10", bonus_days="7"))
    assert response.status_code == 400
    assert "bonus_factor" in response.context["form"].errors
    response = manager_client.post(url, form_data(
        journey, action="save", bonus_factor="2", bonus_points="10", bonus_days="7"))
    assert response.status_code == 302
    journey.refresh_from_db()
    assert (str(journey.bonus_factor), journey.bonus_points, journey.bonus_days) == (
        "2.00", 10, 7)


def test_the_win_back_preview_shows_a_sample_voucher_and_saves_none(manager_client):
    from rewards.models import Reward, Voucher

    item = Reward.objects.create(name="5 € off", kind="amount_voucher", value=5,
                                 points_cost=100)
    Journey.objects.filter(kind="win_back").update(voucher_reward=item, voucher_days=10)
    url = reverse("staff:journey", kwargs={"kind": "win_back"})
    text = page_text(manager_client.get(url))
    assert "Your voucher for 5 € off:" in text
    assert not Voucher.objects.exists()
