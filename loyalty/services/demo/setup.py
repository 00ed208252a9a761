"""The programme's set-up: stores, settings, points scale, tiers, rewards and logins.

Every function here is safe to repeat: what exists is kept (or checked), what is
missing is created.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from loyalty.models import ActionRule, EarningRule, Multiplier, Programme, Store, Tier
from loyalty.services.demo.data import (
    ACTION_RULES,
    ADMIN_EMAIL,
    CASHIER_EMAIL,
    CUSTOMER_EMAIL,
    DEMO_PASSWORD,
    NAMES_FR,
    REWARDS,
    STORES,
    TIERS,
    TIERS_FR,
)
from rewards.models import Reward


def ensure_stores() -> dict[str, Store]:
    return {code: Store.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})[0]
            for code, name, kind in STORES}


def ensure_programme() -> None:
    programme = Programme.load()
    # A 0-day return window lets a demo purchase be spent at once.
    wanted = {"name": "Maison Demo Club", "primary_colour": "#7a2e3b", "currency": "EUR",
              "return_window_days": 0,
              "points_validity_days": 365, "tier_window_days": 365,
              "tier_basis": Programme.TierBasis.POINTS, "max_points_per_day": 2000}
    changed = [field for field, value in wanted.items() if getattr(programme, field) != value]
    for field in changed:
        setattr(programme, field, wanted[field])
    if changed:
        programme.save()


def black_friday(year: int, tz) -> tuple[datetime, datetime]:
    """Black Friday (the fourth Friday of November) to the end of Cyber Monday."""
    first = date(year, 11, 1)
    friday = first + timedelta(days=(4 - first.weekday()) % 7 + 21)
    start = datetime(friday.year, friday.month, friday.day, tzinfo=tz)
    return start, start + timedelta(days=4)


def ensure_scale(*, now: datetime, stores: dict[str, Store]) -> tuple[datetime, datetime]:
    tz = timezone.get_default_timezone()
    promotion = next(window for year in range(now.year, now.year - 3, -1)
                     if (window := black_friday(year, tz))[1] <= now - timedelta(days=7))
    EarningRule.objects.get_or_create(name="1 point per euro",
                                      defaults={"points_per_unit": Decimal("1"),
                                                "name_fr": NAMES_FR["1 point per euro"]})
    EarningRule.objects.get_or_create(
        name="3 points per euro on shoes",
        defaults={"points_per_unit": Decimal("3"), "category": "shoes", "priority": 10,
                  "stackable": False, "name_fr": NAMES_FR["3 points per euro on shoes"]})
    Multiplier.objects.get_or_create(name="Double points weekend",
                                     defaults={"factor": Decimal("2"), "weekdays": "67",
                                               "channel": Store.Kind.ONLINE,
                                               "name_fr": NAMES_FR["Double points weekend"]})
    existing = Multiplier.objects.filter(name="Black Friday weekend").first()
    if existing is None:
        existing = Multiplier.objects.create(
            name="Black Friday weekend", name_fr=NAMES_FR["Black Friday weekend"],
            factor=Decimal("3"), priority=10, stackable=False,
            starts_at=promotion[0], ends_at=promotion[1])
    for event_type, name, points, limit, period in ACTION_RULES:
        ActionRule.objects.get_or_create(event_type=event_type, defaults={
            "name": name, "name_fr": NAMES_FR.get(name, ""), "points": points,
            "limit_count": limit, "limit_period": period})
    return existing.starts_at, existing.ends_at


def ensure_tiers() -> None:
    for code, name, rank, threshold, factor, benefits in TIERS:
        Tier.objects.get_or_create(code=code, defaults={
            "name": name, "rank": rank, "threshold": Decimal(threshold),
            "earn_multiplier": Decimal(factor), "benefits": benefits,
            "name_fr": TIERS_FR[code][0], "benefits_fr": TIERS_FR[code][1]})


def ensure_rewards(stores: dict[str, Store]) -> dict[str, Reward]:
    """The catalogue, once: an existing reward (found by name) keeps its edits and stock."""
    found = {}
    for position, spec in enumerate(REWARDS):
        fields = {key: value for key, value in spec.items()
                  if key not in {"key", "name", "stores", "tier"}}
        reward, created = Reward.objects.get_or_create(name=spec["name"], defaults={
            **fields, "value": Decimal(spec["value"]), "position": position * 10,
            "tier_required": Tier.objects.get(code=spec["tier"]) if "tier" in spec else None})
        if created and spec.get("stores"):
            reward.stores.set([stores[code] for code in spec["stores"]])
        found[spec["key"]] = reward
    return found


def ensure_logins(stores: dict[str, Store]) -> dict:
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from accounts.models import StaffRole

    user_model = get_user_model()
    users = {}
    # A real hash (PBKDF2, ~0.4 s of CPU), made once for the logins that need one: the three
    # share the published password. A new login's is not checked first (Django would hash a
    # random string to time the check like a real one).
    hashed = None
    for name, email, flags, names in [
            ("customer", CUSTOMER_EMAIL, (False, False), ("Marie", "Dupont")),
            ("cashier", CASHIER_EMAIL, (False, False), ("", "")),
            ("admin", ADMIN_EMAIL, (True, True), ("", ""))]:
        user = user_model.objects.filter(email=email).first() or user_model(email=email)
        user.first_name = user.first_name or names[0]
        user.last_name = user.last_name or names[1]
        user.is_staff, user.is_superuser = flags
        user.is_active = True
        if (user.pk is None or not user.has_usable_password()
                or not user.check_password(DEMO_PASSWORD)):
            hashed = hashed or make_password(DEMO_PASSWORD)
            user.password = hashed
        user.save()
        EmailAddress.objects.filter(user=user, primary=True).exclude(email=email).update(
            primary=False)
        EmailAddress.objects.update_or_create(user=user, email=email,
                                              defaults={"verified": True, "primary": True})
        users[name] = user
    # The cashier works in Paris, and only there.
    StaffRole.objects.filter(user=users["cashier"]).exclude(
        store=stores["paris"], role=StaffRole.Role.CASHIER).delete()
    StaffRole.objects.get_or_create(user=users["cashier"], store=stores["paris"],
                                    role=StaffRole.Role.CASHIER)
    StaffRole.objects.get_or_create(user=users["admin"], store=None, role=StaffRole.Role.ADMIN)
    return users
