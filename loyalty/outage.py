"""A database that does not answer is an outage, not a bug: 503 with Retry-After, never 500.

PostgreSQL restarting, failing over or refusing connections surfaces as Django's
OperationalError or InterfaceError. The API answers them with its error body and the code
`service_unavailable`, the pages with a small translated page; both say when to retry. The
broken connection is closed, so the next request connects afresh.
"""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
OUTAGE_ERRORS = (OperationalError, InterfaceError)


def is_outage(error: BaseException | None) -> bool:
    """A connection-level database error: the server is down, restarting or unreachable (or,
    on PostgreSQL, a lock or statement timed out: retrying later is right for those too)."""
    return isinstance(error, OUTAGE_ERRORS)


def drop_broken_connections() -> None:
    """Close every connection that errored and no longer answers: the next query reconnects."""
    for connection in connections.all(initialized_only=True):
        try:
            if connection.in_atomic_block:
                continue  # closed when its atomic block exits
            connection.close_if_unusable_or_obsolete()
        except Exception:  # noqa: BLE001 - closing a dead connection may fail in its own way
            logger.debug("could not close connection %s", connection.alias, exc_info=True)


def service_unavailable_body() -> dict:
    """The API's error body (the contract's envelope, as loyalty.api.errors writes it)."""
    return {"error": {"code": "service_unavailable", "fields": {},
                      "message": gettext("The service is briefly unavailable; retry in a "
                                         "moment.")}}


def retry_headers() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}


def note_outage(request: HttpRequest, error: BaseException) -> None:
    """Log it, and close the broken connections so that the next request reconnects."""
    logger.warning("database unavailable (%s) for %s %s: answered 503", error,
                   request.method, request.path)
    drop_broken_connections()


def service_unavailable(request: HttpRequest, error: BaseException) -> HttpResponse:
    """The 503 for `request`: the API's error body under /api/, a page elsewhere."""
    note_outage(request, error)
    if request.path.startswith("/api/"):
        response = JsonResponse(service_unavailable_body(), status=503)
    else:
        # A page of its own, not base.html: that one asks the database who is logged in.
        response = HttpResponse(render_to_string("503.html", {
            "retry_after": RETRY_AFTER_SECONDS}), status=503)
    for name, value in retry_headers().items():
        response[name] = value
    return response


def current_outage() -> BaseException | None:
    """The outage error being handled, if any (Django calls handler500 inside its except)."""
    error = sys.exc_info()[1]
    return error if is_outage(error) else None


class ServiceUnavailableMiddleware:
    """Turns a view's database outage into a 503 (errors raised in other middleware reach
    handler500, which does the same)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_outage(exception):
            return service_unavailable(request, exception)
        return None
