"""The `Idempotency-Key` header: a retried POST gets the first response back.

The first request with a key claims it (a row committed before the work
starts); a concurrent duplicate waits for the first to finish and returns its
response, so the work is never done twice. The same key with another body is
409 `idempotency_conflict`. Server errors release the key so a retry can run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from loyalty.models import IdempotencyRecord
from loyalty.services.errors import Conflict, Invalid

HEADER = "Idempotency-Key"
WAIT_SECONDS = 10
POLL_SECONDS = 0.05
NOT_STORED = {401, 403, 429}
ABANDONED_AFTER = timedelta(minutes=2)


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    default_message = "This Idempotency-Key was used with another request."


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    default_message = "A request with this Idempotency-Key is still being processed."


def _ttl() -> timedelta:
    return timedelta(hours=getattr(settings, "IDEMPOTENCY_KEY_TTL_HOURS", 24))


def request_hash(request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _claim(*, owner: str, key: str, digest: str) -> tuple[IdempotencyRecord, bool]:
    now = timezone.now()
    # An expired record is forgotten; so is a claim never completed long after the work
    # could have taken (its request died with a killed worker), so that a retry can run.
    IdempotencyRecord.objects.filter(
        Q(expires_at__lte=now) | Q(status_code__isnull=True,
                                   created_at__lte=now - ABANDONED_AFTER),
        owner=owner, key=key).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(owner=owner, key=key, request_hash=digest,
                                                    expires_at=now + _ttl()), True
    except IntegrityError:
        return IdempotencyRecord.objects.get(owner=owner, key=key), False


def _wait_for(record: IdempotencyRecord) -> IdempotencyRecord:
    deadline = time.monotonic() + WAIT_SECONDS
    while not record.completed and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        try:
            record.refresh_from_db()
        except IdempotencyRecord.DoesNotExist:
            raise IdempotencyInProgress() from None  # the first one failed; retry
    if not record.completed:
        raise IdempotencyInProgress()
    return record


def idempotent(method):
    """Decorate a view's `post`: honour the Idempotency-Key header when present."""

    @functools.wraps(method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return method(view, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > 255 or not key.isprintable():
            raise Invalid(fields={HEADER: "1 to 255 printable characters"})
        digest = request_hash(request)
        record, claimed = _claim(owner=request.user.owner, key=key, digest=digest)
        if not claimed:
            if record.request_hash != digest:
                raise IdempotencyConflict(fields={HEADER: key})
            record = _wait_for(record)
            response = Response(record.response_body, status=record.status_code)
            response["Idempotent-Replayed"] = "true"
            return response
        try:
            response = method(view, request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - answered like DRF would, then stored
            try:
                response = view.handle_exception(exc)
            except Exception:
                record.delete()
                raise
        if response.status_code >= 500 or response.status_code in NOT_STORED:
            record.delete()
        else:
            record.status_code = response.status_code
            record.response_body = json.loads(JSONRenderer().render(response.data) or b"null")
            record.save(update_fields=["status_code", "response_body"])
        return response

    return wrapper


def purge_expired(*, now=None) -> int:
    """Delete idempotency records past their lifetime."""
    deleted, _ = IdempotencyRecord.objects.filter(
        expires_at__lte=now or timezone.now()).delete()
    return deleted
