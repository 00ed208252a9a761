"""Brute-force lockout (django-axes): by user name and client address together, with the
client read behind the reverse proxy as TRUSTED_PROXY_COUNT says."""

import pytest
from allauth.account.models import EmailAddress
from axes.models import AccessAttempt
from django.test import Client

from accounts.lockout import client_address, username_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-test-password"


@pytest.fixture(autouse=True)
def lockout_on(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 10
    # allauth's own rate limits (per minute) would stop the attempts before axes counts them.
    settings.ACCOUNT_RATE_LIMITS = False


def customer(email):
    user = UserFactory(email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def log_in(client, email, password, **meta):
    client.post("/accounts/login/", {"login": email, "password": password}, **meta)
    return "_auth_user_id" in client.session


def test_failures_on_many_accounts_from_one_address_lock_out_none_of_them():
    for index in range(10):
        assert not log_in(Client(), f"guess{index}@example.com", "wrong",
                          REMOTE_ADDR="203.0.113.7")
    customer("third@example.com")
    assert log_in(Client(), "third@example.com", PASSWORD, REMOTE_ADDR="203.0.113.7")
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {
        f"guess{index}@example.com" for index in range(10)}


def test_ten_failures_on_one_account_lock_it_from_that_address():
    customer("marie@example.com")
    for _ in range(10):
        assert not log_in(Client(), "Marie@Example.com", "wrong", REMOTE_ADDR="203.0.113.7")
    assert not log_in(Client(), "marie@example.com", PASSWORD, REMOTE_ADDR="203.0.113.7")
    # The owner, from elsewhere, still logs in.
    assert log_in(Client(), "marie@example.com", PASSWORD, REMOTE_ADDR="198.51.100.20")


def test_behind_one_proxy_two_clients_are_counted_apart(settings):
    settings.TRUSTED_PROXY_COUNT = settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    customer("marie@example.com")
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(10):
        assert not log_in(Client(), "marie@example.com", "wrong", **proxy,
                          HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert not log_in(Client(), "marie@example.com", PASSWORD, **proxy,
                      HTTP_X_FORWARDED_FOR="203.0.113.7")
    # Another customer behind the same proxy; what a client puts in front of the header
    # itself (the left entries) is not believed.
    assert log_in(Client(), "marie@example.com", PASSWORD, **proxy,
                  HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.20")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        "203.0.113.7"}


def test_the_user_name_comes_from_what_allauth_and_the_admin_pass(rf):
    request = rf.post("/accounts/login/", {"login": " Ada@Example.com "})
    assert username_of(request, {"email": "Ada@example.com", "password": "x"}) == \
        "ada@example.com"
    assert username_of(request, {"username": "admin@example.com"}) == "admin@example.com"
    assert username_of(request, None) == "ada@example.com"
    assert username_of(rf.get("/"), None) is None


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_address(request) == "10.0.0.2"
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    assert client_address(request) == "203.0.113.7"
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2  # more proxies than entries: not via the proxy
    assert client_address(request) == "10.0.0.2"
