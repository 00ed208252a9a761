"""Redis is a cache, not the source of truth: every use of the cache fails open.

Each piece is tested with a cache that raises as a dead Redis does: the configuration cache
(settings_cache), the API throttle, and the Redis backend itself (loyalty.redis_cache),
which keeps a per-process copy and stops asking Redis for a while after a failure.
"""

import socket
import subprocess
import sys

import pytest
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.throttling import SimpleRateThrottle

from loyalty import redis_cache
from loyalty.services import settings_cache
from tests.test_deploy import ROOT, production_env


class DeadCache:
    """What the cache looks like with Redis down: every operation raises."""

    def __init__(self):
        self.calls = 0

    def __getattr__(self, name):
        def operation(*args, **kwargs):
            self.calls += 1
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. "
                                       "Connection refused.")
        return operation


def closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_dead_cache(monkeypatch) -> DeadCache:
    """The configuration cache and the throttle both meet a dead Redis."""
    dead = DeadCache()
    monkeypatch.setattr(settings_cache, "cache", dead)
    monkeypatch.setattr(SimpleRateThrottle, "cache", dead)
    settings_cache._copies.clear()
    return dead


@pytest.fixture
def dead_cache(monkeypatch):
    yield make_dead_cache(monkeypatch)
    settings_cache._copies.clear()


# --- the configuration cache ---------------------------------------------------------------


def test_the_configuration_is_built_once_per_process_while_the_cache_raises(dead_cache):
    built = []

    def build():
        built.append(1)
        return {"rules": len(built)}

    assert settings_cache.cached("loyalty:config:test", build) == {"rules": 1}
    assert settings_cache.cached("loyalty:config:test", build) == {"rules": 1}
    assert len(built) == 1  # the per-process copy, not the database every time
    assert dead_cache.calls >= 2


def test_the_per_process_copy_expires_like_the_cache(dead_cache, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(settings_cache.time, "monotonic", lambda: now[0])
    values = iter(["first", "second"])
    assert settings_cache.cached("k", lambda: next(values)) == "first"
    now[0] += settings_cache.CONFIG_CACHE_SECONDS - 1
    assert settings_cache.cached("k", lambda: next(values)) == "first"
    now[0] += 2
    assert settings_cache.cached("k", lambda: next(values)) == "second"


def test_forgetting_never_raises_and_drops_the_per_process_copy(
        db, dead_cache, django_capture_on_commit_callbacks):
    assert settings_cache.cached("k", lambda: "old") == "old"
    with django_capture_on_commit_callbacks(execute=True):
        settings_cache.forget("k")  # the cache raises: logged, not raised
    assert settings_cache.cached("k", lambda: "new") == "new"


def test_storing_never_raises(dead_cache):
    settings_cache.store("k", "value")
    assert settings_cache.cached("k", lambda: "built") == "value"


# --- the Redis backend -----------------------------------------------------------------------


@pytest.fixture
def dead_redis_cache():
    location = f"redis://127.0.0.1:{closed_port()}/0"
    backend = redis_cache.FailOpenRedisCache(location, {
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}})
    backend.breaker.reset()
    backend.fallback.clear()
    yield backend
    backend.breaker.reset()
    backend.fallback.clear()


def test_the_redis_backend_answers_from_the_process_when_redis_is_down(dead_redis_cache):
    cache = dead_redis_cache
    assert cache.get("missing") is None
    cache.set("a", {"x": 1}, 60)
    assert cache.get("a") == {"x": 1}
    assert cache.add("b", 1) and not cache.add("b", 2)
    assert cache.incr("b") == 2
    assert cache.get_many(["a", "b"]) == {"a": {"x": 1}, "b": 2}
    cache.delete_many(["a"])
    assert cache.get("a") is None and cache.has_key("b")
    cache.clear()
    assert cache.get("b") is None


def test_after_a_failure_redis_is_left_alone_for_a_few_seconds(dead_redis_cache, monkeypatch):
    attempts = []
    real_get = RedisCache.get

    def counted(self, *args, **kwargs):
        attempts.append(1)
        return real_get(self, *args, **kwargs)

    monkeypatch.setattr(RedisCache, "get", counted)
    now = [500.0]
    monkeypatch.setattr(redis_cache.time, "monotonic", lambda: now[0])
    for _ in range(5):
        dead_redis_cache.get("k")
    assert len(attempts) == 1  # the breaker opened at the first failure
    now[0] += redis_cache.BREAKER_SECONDS + 0.1
    dead_redis_cache.get("k")
    assert len(attempts) == 2  # then Redis is tried again


def test_a_deletion_also_drops_the_copy_kept_during_an_outage(dead_redis_cache, monkeypatch):
    dead_redis_cache.set("k", "stale", 60)  # kept in the process: Redis is down
    dead_redis_cache.breaker.reset()
    monkeypatch.setattr(RedisCache, "delete", lambda self, key, version=None: True)
    dead_redis_cache.delete("k")  # Redis answers this one
    assert dead_redis_cache.fallback.get("k") is None


# --- the settings that keep Redis out of the way ------------------------------------------


def test_sessions_and_lockouts_are_kept_in_the_database_not_the_cache(settings):
    assert settings.SESSION_ENGINE in ("django.contrib.sessions.backends.db",
                                       "django.contrib.sessions.backends.signed_cookies")
    assert settings.AXES_HANDLER == "axes.handlers.database.AxesDatabaseHandler"


def test_with_redis_the_cache_fails_open_fast_and_celery_publishes_fast():
    """The production settings, read in a fresh process with REDIS_URL set."""
    code = ("from django.conf import settings as s; c = s.CACHES['default']; "
            "print(c['BACKEND'], c['OPTIONS']['socket_connect_timeout'], "
            "c['OPTIONS']['socket_timeout'], s.CELERY_BROKER_CONNECTION_TIMEOUT, "
            "s.CELERY_TASK_PUBLISH_RETRY_POLICY['max_retries'])")
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=ROOT,
        env=production_env(REDIS_URL="redis://127.0.0.1:6379/0"), capture_output=True,
        text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    backend, connect, read, broker, retries = result.stdout.split()
    assert backend == "loyalty.redis_cache.FailOpenRedisCache"
    assert float(connect) <= 1 and float(read) <= 1
    assert float(broker) <= 2 and int(retries) <= 1
