import pytest
from allauth.account.models import EmailAddress

from tests.factories import UserFactory, make_member


def member_with_login(**fields):
    """A member whose login's email is confirmed and linked, as after sign-up."""
    user = UserFactory(email=fields["email"])
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return make_member(user=user, **fields)


@pytest.fixture
def marie(db):
    return member_with_login(email="marie@example.com", first_name="Marie", last_name="Curie",
                             phone="+33612345678")


@pytest.fixture
def other(db):
    return member_with_login(email="pierre@example.com", first_name="Pierre",
                             last_name="Dupont")


@pytest.fixture
def marie_client(client, marie):
    client.force_login(marie.user)
    return client
