import pytest
from django.core import mail

from accounts.models import StaffRole, User
from accounts.roles import can_act_for, is_programme_admin, may_adjust_points, stores_for
from tests.factories import StaffRoleFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_users_log_in_with_a_lower_cased_email():
    user = User.objects.create_user("Jeanne.Martin@Example.FR", "pw-123456789")
    assert user.email == "jeanne.martin@example.fr"
    assert str(user) == user.email
    admin = User.objects.create_superuser("boss@example.com", "pw-123456789")
    assert admin.is_staff and admin.is_superuser


def test_a_cashier_acts_only_for_their_store_and_cannot_adjust():
    paris, lyon = StoreFactory(code="paris"), StoreFactory(code="lyon")
    cashier = StaffRoleFactory(store=paris, role=StaffRole.Role.CASHIER).user
    assert list(stores_for(cashier)) == [paris]
    assert can_act_for(cashier, paris)
    assert not can_act_for(cashier, lyon)
    assert not can_act_for(cashier, paris, role=StaffRole.Role.MANAGER)
    assert not may_adjust_points(cashier)


def test_a_manager_adjusts_for_their_store_and_an_admin_acts_everywhere():
    paris, lyon = StoreFactory(code="paris"), StoreFactory(code="lyon")
    manager = StaffRoleFactory(store=paris, role=StaffRole.Role.MANAGER).user
    assert can_act_for(manager, paris, role=StaffRole.Role.MANAGER)
    assert not can_act_for(manager, lyon)
    assert may_adjust_points(manager)
    admin = StaffRoleFactory(store=None, role=StaffRole.Role.ADMIN).user
    assert is_programme_admin(admin)
    assert set(stores_for(admin)) == {paris, lyon}
    customer = UserFactory()
    assert not is_programme_admin(customer) and not stores_for(customer).exists()


def test_signing_up_needs_a_confirmed_email_before_logging_in(
        client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/signup/", {
            "first_name": "Ada",
            "email": "new.customer@example.com", "password1": "a-long-Passw0rd!",
            "password2": "a-long-Passw0rd!"})
    assert response.status_code == 302
    assert "confirm-email" in response["Location"]
    assert len(mail.outbox) == 1
    assert "new.customer@example.com" in mail.outbox[0].to
    # Until the email is confirmed the person is not logged in.
    assert "_auth_user_id" not in client.session
