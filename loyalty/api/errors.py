"""One error body for the whole API: {"error": {"code", "message", "fields"}}.

DRF's exceptions, Django's 404 and 500 under /api/, and the domain errors the
services raise all come out in this shape with a stable code; a database outage is
503 `service_unavailable` with Retry-After (loyalty.outage).
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from loyalty.outage import (
    current_outage,
    is_outage,
    note_outage,
    retry_headers,
    service_unavailable,
    service_unavailable_body,
)
from loyalty.services.errors import DomainError

logger = logging.getLogger(__name__)

CODES = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "invalid",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": str(message), "fields": fields or {}}}


def _flatten(detail) -> dict:
    """DRF's nested validation detail as {"field": "message", "items[0].sku": "..."}."""
    fields = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, int):  # DRF names list items by index
                    walk(f"{prefix}[{key}]", item)
                else:
                    walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list):
            if value and all(isinstance(item, str) for item in value):
                fields[prefix or "non_field_errors"] = " ".join(str(item) for item in value)
            else:
                for index, item in enumerate(value):
                    if item:
                        walk(f"{prefix}[{index}]", item)
        else:
            fields[prefix or "non_field_errors"] = str(value)

    walk("", detail)
    return fields


def exception_handler(exc, context):
    if is_outage(exc):
        # The database is away: retryable, said so with Retry-After, never a 500.
        note_outage(context["request"], exc)
        return Response(service_unavailable_body(), status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers=retry_headers())
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's 500 handler answers, in the same shape
    code = next((code for cls, code in CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        body = error_body(code, "The request is not valid.", _flatten(exc.detail))
    else:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        body = error_body(code, detail)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response.status_code = status.HTTP_401_UNAUTHORIZED
            response["WWW-Authenticate"] = "Api-Key"
    response.data = body
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def handler404(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception)


def handler500(request):
    outage = current_outage()
    if outage is not None:  # raised in a middleware (the session, the user), not a view
        return service_unavailable(request, outage)
    if _is_api(request):
        return JsonResponse(error_body("server_error", "Something went wrong on our side."),
                            status=500)
    return defaults.server_error(request)
