"""Who may act for which store. Read-only questions, asked by pages, API and admin."""

from django.db.models import QuerySet

from accounts.models import StaffRole


def is_programme_admin(user) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return StaffRole.objects.filter(user=user, role=StaffRole.Role.ADMIN).exists()


def stores_for(user, *, roles=(StaffRole.Role.CASHIER, StaffRole.Role.MANAGER)) -> QuerySet:
    """The stores this user may act for with one of `roles` (admins: every store)."""
    from loyalty.models import Store

    if is_programme_admin(user):
        return Store.objects.all()
    if not user.is_authenticated:
        return Store.objects.none()
    return Store.objects.filter(staff_roles__user=user, staff_roles__role__in=roles).distinct()


def can_act_for(user, store, *, role: str = StaffRole.Role.CASHIER) -> bool:
    """Cashiers act for their stores; managers can do what cashiers do and adjust points."""
    roles = [StaffRole.Role.MANAGER] if role == StaffRole.Role.MANAGER else [
        StaffRole.Role.CASHIER, StaffRole.Role.MANAGER]
    return stores_for(user, roles=roles).filter(pk=store.pk).exists()


def may_adjust_points(user) -> bool:
    """Superusers, programme admins and store managers may correct balances."""
    if not (user.is_authenticated and user.is_active):
        return False
    return is_programme_admin(user) or StaffRole.objects.filter(
        user=user, role=StaffRole.Role.MANAGER).exists()


def may_merge_members(user) -> bool:
    """A merge touches the whole programme's view of a person: programme admins only."""
    return user.is_authenticated and user.is_active and is_programme_admin(user)


def may_see_insight(user) -> bool:
    """The insight pages (scores, segments, lifetime value): programme admins and store
    managers, never cashiers. Customers belong to the programme, not to a store, so a
    manager sees the whole programme's figures. One query at most."""
    if not (user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or StaffRole.objects.filter(
        user=user, role__in=[StaffRole.Role.ADMIN, StaffRole.Role.MANAGER]).exists()


def may_manage_messages(user) -> bool:
    """The members' messages page and the journeys' settings and texts: programme admins
    and store managers, never cashiers. Journeys belong to the programme, not to a store."""
    return may_see_insight(user)


def import_stores(user) -> QuerySet:
    """The open stores this user may import files for: a manager's stores; every store for
    programme admins. Never a cashier's."""
    if not (user.is_authenticated and user.is_active):
        from loyalty.models import Store

        return Store.objects.none()
    return stores_for(user, roles=[StaffRole.Role.MANAGER]).filter(active=True).order_by("name")


def may_import(user) -> bool:
    """The import pages (purchase history, members from another programme): managers and
    programme admins, never cashiers."""
    return import_stores(user).exists()


def review_stores(user) -> QuerySet:
    """The open stores whose reviews this user may read and follow up: a manager's stores;
    every store for programme admins. Never a cashier's."""
    if not (user.is_authenticated and user.is_active):
        from loyalty.models import Store

        return Store.objects.none()
    return stores_for(user, roles=[StaffRole.Role.MANAGER]).filter(active=True).order_by("name")
