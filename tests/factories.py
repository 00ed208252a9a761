"""factory-boy factories for the whole suite."""

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
    password = factory.PostGenerationMethodCall("set_password", "demo-password")

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
