"""The demo's published password logs nobody in with DEBUG off (any account, the admin's
login too); with DEBUG on (`make run`) the demo logins work."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import authenticate
from django.test import Client

from loyalty.services.demo.data import DEMO_PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_login():
    user = UserFactory(email="cashier@example.com", password=DEMO_PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def test_with_debug_off_the_demo_password_is_refused(rf, settings, demo_login):
    settings.DEBUG = False
    request = rf.post("/accounts/login/")
    assert authenticate(request, email="cashier@example.com", password=DEMO_PASSWORD) is None
    assert authenticate(request, username="cashier@example.com", password=DEMO_PASSWORD) is None
    client = Client()
    client.post("/accounts/login/", {"login": "cashier@example.com", "password": DEMO_PASSWORD})
    assert "_auth_user_id" not in client.session


def test_with_debug_on_the_demo_logins_work(rf, settings, demo_login):
    settings.DEBUG = True
    request = rf.post("/accounts/login/")
    assert authenticate(request, email="cashier@example.com",
                        password=DEMO_PASSWORD) == demo_login


def test_other_passwords_are_not_concerned(rf, settings):
    settings.DEBUG = False
    user = UserFactory(email="ada@example.com")
    request = rf.post("/accounts/login/")
    assert authenticate(request, email="ada@example.com", password="a-test-password") == user
