"""Test settings: the real settings, made fast (MD5 hasher, locmem email, eager Celery)."""

import os

# The suite runs with DEBUG off, as production does, whatever the shell says (make's
# development targets export DEBUG=1); with DEBUG off settings.py refuses the development
# key: a key of its own (public too, but never a production one), also for the processes
# tests start.
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECRET_KEY",
                      "tests-only-9vQ2mXr7Lk3pZt8Wn4Hc6Jy1Bd5Fg0Sa-never-in-production")

from loyalty.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
AXES_ENABLED = False
SECURE_SSL_REDIRECT = False
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# xdist workers must not share cache keys (throttles, idempotency locks) in one Redis.
CACHES["default"]["KEY_PREFIX"] = "test-" + os.environ.get("PYTEST_XDIST_WORKER", "main")  # noqa: F405
# The tests' webhook receivers listen on 127.0.0.1 (tests/loyalty/services/test_netguard.py
# and test_webhooks.py turn the guard back on where they test it).
LOYALTY_WEBHOOK_ALLOW_PRIVATE = True
