"""Nothing tells a stranger whether an email or a phone number belongs to a member.

Sign-up does the same work on both paths (one password hashed, one email queued for a
worker, no SMTP in the request). The profile's side: tests/portal/test_pages.py.
"""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail

from accounts import tasks
from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-Passw0rd!"


class CountingHasher(MD5PasswordHasher):
    encoded = 0

    def encode(self, password, salt, *args, **kwargs):
        CountingHasher.encoded += 1
        return super().encode(password, salt, *args, **kwargs)


@pytest.fixture
def work(settings, monkeypatch):
    """What one sign-up did: passwords hashed, account emails queued, emails sent."""
    settings.PASSWORD_HASHERS = ["tests.accounts.test_enumeration.CountingHasher"]
    queued = []
    monkeypatch.setattr(tasks.send_account_email, "delay", queued.append)

    def measure(client, email, capture):
        CountingHasher.encoded = 0
        queued.clear()
        mail.outbox.clear()
        with capture(execute=True):
            response = client.post("/accounts/signup/", {
                "first_name": "Ada",
                "email": email, "password1": PASSWORD, "password2": PASSWORD})
        assert response.status_code == 302
        return {"hashed": CountingHasher.encoded, "queued": len(queued),
                "sent_in_request": len(mail.outbox), "location": response["Location"],
                "to": [data["to"] for data in queued]}

    return measure


def test_signing_up_does_the_same_work_for_a_new_and_a_known_email(
        client, work, django_capture_on_commit_callbacks):
    known = UserFactory(email="known@example.com")
    EmailAddress.objects.create(user=known, email=known.email, verified=True, primary=True)
    new = work(client, "new@example.com", django_capture_on_commit_callbacks)
    again = work(client, "known@example.com", django_capture_on_commit_callbacks)
    assert new == {"hashed": 1, "queued": 1, "sent_in_request": 0,
                   "location": new["location"], "to": [["new@example.com"]]}
    assert again == {**new, "to": [["known@example.com"]]}
    assert User.objects.filter(email="known@example.com").count() == 1


def test_the_queued_email_is_the_rendered_message_and_the_worker_sends_it(
        client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/signup/", {"first_name": "Ada", "email": "ada@example.com",
                                          "password1": PASSWORD, "password2": PASSWORD})
    (sent,) = mail.outbox  # eager Celery in the tests: the task ran
    assert sent.to == ["ada@example.com"] and "/accounts/confirm-email/" in sent.body
    copy = tasks.build_message(tasks.message_data(sent))
    assert (copy.subject, copy.body, copy.to, copy.from_email) == (
        sent.subject, sent.body, sent.to, sent.from_email)


def test_nothing_is_queued_for_a_sign_up_that_rolls_back(client, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.send_account_email, "delay", queued.append)
    client.post("/accounts/signup/", {"first_name": "Ada", "email": "ada@example.com",
                                      "password1": PASSWORD, "password2": PASSWORD})
    assert queued == [] and mail.outbox == []  # the test's transaction never commits

