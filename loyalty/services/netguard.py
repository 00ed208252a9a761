"""Where the site may send requests of its own (webhooks): public addresses only.

A webhook URL is typed by staff; pointed at 127.0.0.1, the cloud's metadata address
(169.254.169.254) or a machine of the private network, our worker would make requests
there for them (SSRF). `check_destination` resolves the host and refuses any address
that is not globally routable, unless LOYALTY_WEBHOOK_ALLOW_PRIVATE is on (a receiver
on the same private network, tests). Called when an endpoint is saved, and again before
each send: a name may resolve elsewhere later.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _


class UnsafeDestination(ValueError):
    """The URL may not be called. `code`: invalid, unresolvable or not_public."""

    def __init__(self, code: str, message):
        super().__init__(str(message))
        self.code, self.message = code, message


def resolve(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (a literal address: itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone index is no help
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global is False for loopback, private, link-local, shared (100.64/10), reserved,
    # unspecified and documentation ranges; multicast is refused as well.
    return ip.is_global and not ip.is_multicast


def check_destination(url: str, *, allow_private: bool | None = None) -> list[str]:
    """The addresses the URL's host resolves to, all public; raises UnsafeDestination
    otherwise. With private addresses allowed, nothing is checked and [] is returned."""
    if allow_private is None:
        allow_private = settings.LOYALTY_WEBHOOK_ALLOW_PRIVATE
    if allow_private:
        return []
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or parts.scheme not in ("http", "https"):
        raise UnsafeDestination("invalid", _("Enter an http or https URL with a host name."))
    try:
        addresses = resolve(host, port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError):
        raise UnsafeDestination("unresolvable", _("This host name does not resolve.")) from None
    if not addresses or not all(is_public(address) for address in addresses):
        raise UnsafeDestination("not_public", _(
            "This URL leads to a loopback, private or reserved address: webhooks are only "
            "sent to public addresses."))
    return addresses
