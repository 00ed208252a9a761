from importlib import import_module

import pytest
from django.db import connection

from tests.factories import EarningRuleFactory, StoreFactory, make_member, programme


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests skip, with their reason, on any other database."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (row locks); .ci/run runs it with "
                                   "DATABASE_URL set")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache: a rolled-back test's configuration
    (rules, tiers, keys) must not outlive it, nor its throttle counters."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def migration_data(request):
    """What the migrations write (every journey, switched off) is there for each database
    test, even after a transactional test flushed the tables."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None:
        request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction")
                                else "db")
        from django.apps import apps

        from loyalty.models import Journey

        if not Journey.objects.exists():
            import_module("loyalty.migrations.0009_messages").create_journeys(apps, None)
    yield


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts in the default language: a page that switched to French (the
    profile's language choice activates it in the thread) must not leak into the next."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture
def store(db):
    return StoreFactory(code="paris", name="Paris")


@pytest.fixture
def web_store(db):
    return StoreFactory(code="web", name="E-shop", kind="online")


@pytest.fixture
def scale(db):
    """A plain scale: 1 point per euro, no return window, a year of validity."""
    programme(return_window_days=0, points_validity_days=365)
    return EarningRuleFactory(name="1 point per euro", points_per_unit=1)


@pytest.fixture
def member(db):
    return make_member(first_name="Marie", last_name="Curie", email="marie@example.com")


@pytest.fixture
def ledger_is_sound(db):
    """Call it after a test's steps: every ledger invariant holds."""
    from loyalty.services.audit import audit_ledger

    def check():
        report = audit_ledger()
        assert report.violations == []
        return report

    return check
