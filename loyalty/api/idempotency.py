"""The `Idempotency-Key` header: a retried POST gets the first response back.

The first request with a key claims it, does the work and stores its response in ONE
transaction: the claim (a row under a unique key), the purchase and the stored status and
body commit together or not at all. So a retry whose first attempt committed, but whose
response was lost on the way, replays the original result at once; a retry of an attempt
that died before committing (a killed worker, a database outage) finds no claim and runs.

A concurrent duplicate's claim waits on the first's uncommitted row (PostgreSQL makes the
second insert of a unique key wait for the first transaction), for at most WAIT_SECONDS,
and then returns the first's response; a first still running after that answers 409
`idempotency_in_progress`. The same key with another body is 409 `idempotency_conflict`.
Server errors store nothing, so a retry can run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from loyalty.models import IdempotencyRecord
from loyalty.services.errors import Conflict, Invalid

HEADER = "Idempotency-Key"
WAIT_SECONDS = 10
POLL_SECONDS = 0.05
NOT_STORED = {401, 403, 429}
# Claims committed without a response exist only from before responses were stored with the
# work; one older than this belongs to a request that died.
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


def _existing(*, owner: str, key: str) -> IdempotencyRecord | None:
    """The key's record, unless it has expired (or is a claim abandoned long ago): then it is
    forgotten."""
    record = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
    now = timezone.now()
    if record is not None and (record.expires_at <= now or (
            not record.completed and record.created_at <= now - ABANDONED_AFTER)):
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return None
    return record


def _claim_in_transaction(*, owner: str, key: str, digest: str) -> IdempotencyRecord | None:
    """Insert the claim inside the current transaction; None if another request holds the
    key (committed, or still running past WAIT_SECONDS: IdempotencyInProgress)."""
    postgres = connection.vendor == "postgresql"
    try:
        with transaction.atomic():  # a savepoint: rolling it back also undoes the SET LOCAL
            if postgres:  # how long to wait for a duplicate that is still running
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = '{int(WAIT_SECONDS * 1000)}ms'")
            record = IdempotencyRecord.objects.create(owner=owner, key=key, request_hash=digest,
                                                      expires_at=timezone.now() + _ttl())
            if postgres:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = DEFAULT")
    except IntegrityError:
        return None
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) == "55P03":  # lock_timeout: still running
            raise IdempotencyInProgress() from None
        raise
    return record


def _wait_for(record: IdempotencyRecord) -> IdempotencyRecord:
    """A claim committed without its response (only ever from before responses were stored
    with the work): wait a little for it, then answer that it is in progress."""
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


def _stored(record: IdempotencyRecord, response) -> bool:
    if response.status_code >= 500 or response.status_code in NOT_STORED:
        return False
    record.status_code = response.status_code
    record.response_body = json.loads(JSONRenderer().render(response.data) or b"null")
    record.save(update_fields=["status_code", "response_body"])
    return True


def _run_once(view, request, method, args, kwargs, *, owner, key, digest):
    """Claim, work and store in one transaction. None when another request has the key."""
    with transaction.atomic():
        record = _claim_in_transaction(owner=owner, key=key, digest=digest)
        if record is None:
            return None
        try:
            with transaction.atomic():  # a failed attempt leaves the claim to store its error
                response = method(view, request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - answered like DRF would, then stored
            response = view.handle_exception(exc)  # what it cannot answer rolls all back
        if not _stored(record, response):
            transaction.set_rollback(True)  # neither the claim nor any work is kept
    return response


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
        owner = request.user.owner
        record = _existing(owner=owner, key=key)
        if record is None:
            response = _run_once(view, request, method, args, kwargs,
                                 owner=owner, key=key, digest=digest)
            if response is not None:
                return response
            record = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
            if record is None:
                raise IdempotencyInProgress()  # released in between: retry
        if record.request_hash != digest:
            raise IdempotencyConflict(fields={HEADER: key})
        record = _wait_for(record)
        response = Response(record.response_body, status=record.status_code)
        response["Idempotent-Replayed"] = "true"
        return response

    return wrapper


def purge_expired(*, now=None) -> int:
    """Delete idempotency records past their lifetime."""
    deleted, _ = IdempotencyRecord.objects.filter(
        expires_at__lte=now or timezone.now()).delete()
    return deleted
