"""Fixtures for the staff pages: a Paris cashier, a Lyon cashier, a customer, a scale."""

import re

import pytest

from accounts.models import StaffRole
from tests.factories import StaffRoleFactory, StoreFactory, UserFactory, make_member


def page_text(response) -> str:
    """The response's text with tags removed and white space collapsed, as a reader sees it."""
    text = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", text)


@pytest.fixture
def lyon(db):
    return StoreFactory(code="lyon", name="Lyon")


@pytest.fixture
def cashier(store):
    return StaffRoleFactory(user=UserFactory(email="cashier@example.com"), store=store,
                            role=StaffRole.Role.CASHIER).user


@pytest.fixture
def cashier_client(client, cashier):
    client.force_login(cashier)
    return client


@pytest.fixture
def manager(store):
    """A manager of the `store` (insight and imports are theirs; the till too)."""
    return StaffRoleFactory(user=UserFactory(email="manager@example.com"), store=store,
                            role=StaffRole.Role.MANAGER).user


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def lyon_cashier(lyon):
    return StaffRoleFactory(user=UserFactory(email="lyon@example.com"), store=lyon,
                            role=StaffRole.Role.CASHIER).user


@pytest.fixture
def marie(db, scale):
    user = UserFactory(email="marie@example.com")
    return make_member(first_name="Marie", last_name="Curie", email="marie@example.com",
                       phone="+33612345678", user=user)
