"""`GET /healthz`: does this process reach the database and Redis? For load balancers and
supervisors.

Answered by a middleware placed first, before the SSL redirect, the host check, sessions and
authentication: a probe over plain HTTP, by address, without cookies gets its answer, and it
costs one `SELECT 1` and one Redis PING. 200 while the database answers, with Redis down too
("degraded": the site works without Redis, see loyalty.redis_cache); 503 when the database
does not.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import DatabaseError, connections
from django.http import JsonResponse

logger = logging.getLogger(__name__)

PATHS = frozenset({"/healthz", "/healthz/"})
REDIS_TIMEOUT_SECONDS = 0.5

_redis_client = None
_redis_lock = threading.Lock()


def database_status() -> str:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.warning("healthz: the database did not answer", exc_info=True)
        if not connection.in_atomic_block:
            connection.close()  # the next request connects afresh
        return "error"
    return "ok"


def _redis():
    global _redis_client
    with _redis_lock:
        if _redis_client is None:
            import redis

            _redis_client = redis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS)
        return _redis_client


def redis_status() -> str:
    if not getattr(settings, "REDIS_URL", ""):
        return "not configured"
    try:
        _redis().ping()
    except Exception:  # noqa: BLE001 - whatever the client raises, Redis did not answer
        logger.warning("healthz: Redis did not answer", exc_info=True)
        return "error"
    return "ok"


def health() -> tuple[int, dict]:
    database, redis = database_status(), redis_status()
    if database != "ok":
        return 503, {"status": "unavailable", "database": database, "redis": redis,
                     "detail": "The database does not answer: requests fail until it does."}
    if redis == "error":
        return 200, {"status": "degraded", "database": database, "redis": redis,
                     "detail": "Redis does not answer: the site works without it (caches and "
                               "rate limits per process, tasks wait in the database)."}
    return 200, {"status": "ok", "database": database, "redis": redis, "detail": ""}


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path not in PATHS or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        status, body = health()
        response = JsonResponse(body, status=status)
        response["Cache-Control"] = "no-store"
        return response
