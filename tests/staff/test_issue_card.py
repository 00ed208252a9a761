"""Plastic cards handed over at the till: to a known customer, or with their enrolment."""

import pytest
from django.urls import reverse

from loyalty.models import Card, Member
from loyalty.services import cards
from tests.staff.conftest import page_text

pytestmark = pytest.mark.django_db

ISSUE = reverse("staff:issue-card")


def number(body="700000001"):
    return body + cards.luhn_digit(body)


def test_the_form_has_visible_labels(cashier_client, store):
    text = page_text(cashier_client.get(ISSUE))
    for label in ("Number of the plastic card", "Email", "Phone", "First name", "Last name"):
        assert label in text


def test_a_card_for_a_known_customer_found_by_email(cashier_client, marie, store):
    response = cashier_client.post(ISSUE, {"store": "paris", "number": number(),
                                           "email": "MARIE@example.com"})
    assert response.status_code == 302
    assert f"member={marie.pk}" in response["Location"]
    card = Card.objects.get(number=number())
    assert card.member == marie and card.kind == "physical" and card.issued_by_store == store
    assert "is now linked to Marie Curie" in page_text(cashier_client.get(response["Location"]))


def test_a_card_for_a_new_customer_enrols_them(cashier_client, store, scale):
    response = cashier_client.post(ISSUE, {"store": "paris", "number": "",
                                           "phone": "06 98 76 54 32", "first_name": "Paul"})
    assert response.status_code == 302
    member = Member.objects.get(phone="+33698765432")
    assert member.first_name == "Paul"
    # One person, one number: the plastic card handed over is the member's card (the
    # number the panel, the portal and the phone's QR show), not a second number.
    card = member.cards.get()
    assert card.kind == "physical" and card.number == member.card_number


def test_nothing_is_written_when_the_card_is_refused(cashier_client, marie, store):
    cards.issue_card(member_id=marie.pk, number=number())
    before = Member.objects.count()
    response = cashier_client.post(ISSUE, {"store": "paris", "number": number(),
                                           "email": "new@example.com"})
    assert response.status_code == 400
    assert "already linked" in page_text(response)
    assert Member.objects.count() == before


def test_an_email_and_a_phone_of_two_members_are_refused(cashier_client, marie, store):
    from tests.factories import make_member

    make_member(email="oscar@example.com")
    response = cashier_client.post(ISSUE, {"store": "paris", "email": "oscar@example.com",
                                           "phone": "+33612345678"})
    assert response.status_code == 400
    assert "belongs to another member" in page_text(response)
    assert not Card.objects.filter(kind="physical").exists()


def test_an_email_or_a_phone_is_needed(cashier_client, store):
    response = cashier_client.post(ISSUE, {"store": "paris", "first_name": "Anon"})
    assert response.status_code == 400
    assert "email or phone" in page_text(response)


def test_a_cashier_cannot_issue_for_another_store(cashier_client, store, lyon):
    response = cashier_client.post(ISSUE, {"store": "lyon", "email": "x@example.com"})
    assert response.status_code == 403
    assert not Member.objects.filter(email="x@example.com").exists()
