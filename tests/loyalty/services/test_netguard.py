"""Webhooks only go to public addresses: checked when an endpoint is saved (clean, the
admin) and by `check_destination`, which delivery calls again before each send."""

import pytest
from django.core.exceptions import ValidationError

from loyalty.models import WebhookEndpoint
from loyalty.services import netguard
from loyalty.services.netguard import UnsafeDestination, check_destination

PUBLIC = "93.184.215.14"


@pytest.fixture
def dns(monkeypatch):
    """Host names resolve to what the test says, never through the network."""
    table = {}

    def resolve(host, port):
        if host in table:
            return table[host]
        if host.replace(".", "").isdigit() or ":" in host:
            return [host]  # a literal address
        raise OSError("no such host")

    monkeypatch.setattr(netguard, "resolve", resolve)
    return table


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost:8000/hook", "https://10.1.2.3/",
    "http://172.16.0.9/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/", "http://100.64.0.1/", "http://[::1]/", "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/", "http://224.0.0.1/", "http://rebind.example.com/",
])
def test_loopback_private_link_local_and_reserved_addresses_are_refused(dns, url):
    dns["localhost"] = ["127.0.0.1", "::1"]
    dns["rebind.example.com"] = [PUBLIC, "10.0.0.5"]  # one private address is enough
    with pytest.raises(UnsafeDestination) as refused:
        check_destination(url, allow_private=False)
    assert refused.value.code == "not_public"


def test_a_public_host_is_accepted_with_its_addresses(dns):
    dns["shop.example.com"] = [PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    assert check_destination("https://shop.example.com/hooks", allow_private=False) == [
        PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]


@pytest.mark.parametrize(("url", "code"), [
    ("https://nowhere.invalid/", "unresolvable"), ("ftp://shop.example.com/", "invalid"),
    ("http:///path-only", "invalid"), ("http://shop.example.com:99999/", "invalid"),
])
def test_what_cannot_be_reached_says_why(dns, url, code):
    with pytest.raises(UnsafeDestination) as refused:
        check_destination(url, allow_private=False)
    assert refused.value.code == code


def test_the_setting_allows_private_receivers(dns, settings):
    settings.LOYALTY_WEBHOOK_ALLOW_PRIVATE = True
    assert check_destination("http://127.0.0.1:9000/hook") == []
    settings.LOYALTY_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(UnsafeDestination):
        check_destination("http://127.0.0.1:9000/hook")


@pytest.mark.django_db
def test_an_endpoint_pointing_at_a_private_address_is_not_saved(dns, store, settings):
    settings.LOYALTY_WEBHOOK_ALLOW_PRIVATE = False
    dns["shop.example.com"] = [PUBLIC]
    dns["intranet.example.com"] = ["192.168.0.10"]
    for url in ("http://127.0.0.1:8000/hook", "http://intranet.example.com/hook",
                "http://169.254.169.254/"):
        with pytest.raises(ValidationError) as refused:
            WebhookEndpoint(store=store, url=url, events=["points.earned"]).full_clean()
        assert "public addresses" in str(refused.value.message_dict["url"])
    WebhookEndpoint(store=store, url="https://shop.example.com/hook",
                    events=["points.earned"]).full_clean()
    # A name that does not resolve yet is kept: each send checks it again.
    WebhookEndpoint(store=store, url="https://not-yet.example.com/hook",
                    events=["points.earned"]).full_clean()
