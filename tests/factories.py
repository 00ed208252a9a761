"""factory-boy factories for the whole suite."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import StaffRole, User
from loyalty.models import ActionRule, EarningRule, Multiplier, Programme, Store, Tier
from loyalty.services import members as member_services


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "a-test-password")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"store{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())
    kind = Store.Kind.IN_STORE


class StaffRoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffRole

    user = factory.SubFactory(UserFactory)
    store = factory.SubFactory(StoreFactory)
    role = StaffRole.Role.CASHIER


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"tier{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())
    rank = factory.Sequence(lambda n: n)
    threshold = Decimal("0")
    earn_multiplier = Decimal("1")


class EarningRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EarningRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    points_per_unit = Decimal("1")


class MultiplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Multiplier

    name = factory.Sequence(lambda n: f"Multiplier {n}")
    factor = Decimal("2")


class ActionRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ActionRule
        django_get_or_create = ("event_type",)

    event_type = factory.Sequence(lambda n: f"action_{n}")
    name = factory.LazyAttribute(lambda o: o.event_type.replace("_", " ").capitalize())
    points = 50


def make_member(**kwargs):
    """A member created through the service, as the programme would."""
    counter = make_member.counter = getattr(make_member, "counter", 0) + 1
    kwargs.setdefault("email", f"member{counter}-{timezone.now().timestamp():.0f}@example.com")
    return member_services.create_member(**kwargs)


def programme(**fields) -> Programme:
    obj = Programme.load()
    for key, value in fields.items():
        setattr(obj, key, value)
    obj.save()
    return obj


# --- insight: rows the nightly run writes, made directly for the readers' tests -------------


class MemberInsightFactory(factory.django.DjangoModelFactory):
    """A member's insight row. Give `member`; scores and values default to a scored buyer."""

    class Meta:
        model = "loyalty.MemberInsight"

    purchases = 3
    historic_value = Decimal("120.00")
    recency_days = 30
    frequency = 3
    monetary = Decimal("120.00")
    r = 4
    f = 3
    m = 3
    stage = "active"
    computed_at = factory.LazyFunction(timezone.now)
    first_purchase_at = factory.LazyAttribute(
        lambda o: o.computed_at - timedelta(days=300) if o.purchases else None)
    last_purchase_at = factory.LazyAttribute(
        lambda o: o.computed_at - timedelta(days=o.recency_days)
        if o.recency_days is not None else None)


class InsightSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "loyalty.InsightSnapshot"

    segment_code = ""
    stage = "active"
    members = 1


class ClvFitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "loyalty.ClvFit"

    fitted_at = factory.LazyFunction(timezone.now)
    calibration_end = factory.LazyFunction(timezone.localdate)
    status = "ok"
    customers = 1000
    repeat_customers = 400
    sample_size = 1000
    horizon_months = 12
    monthly_discount = Decimal("0.0100")


class InsightRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "loyalty.InsightRun"

    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyAttribute(lambda o: o.started_at)

