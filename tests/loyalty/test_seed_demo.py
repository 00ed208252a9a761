import csv
import inspect
import io
import random
import re
from datetime import datetime, timedelta
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.db.models import Count, F
from django.utils import timezone

from accounts.models import StaffRole, User
from accounts.roles import can_act_for, is_programme_admin
from loyalty.management.commands.seed_demo import Command
from loyalty.models import (
    ActionEvent,
    ActionRule,
    ClvFit,
    EarningRule,
    InsightRun,
    Journey,
    Member,
    MemberInsight,
    MemberMerge,
    Message,
    Multiplier,
    PointsEntry,
    Programme,
    Purchase,
    Refund,
    Store,
    Tier,
    TierChange,
)
from loyalty.services.audit import audit_ledger
from loyalty.services.demo import (
    DEMO_PASSWORD,
    DemoLedgerUnsound,
    Plan,
    black_friday,
    seed_demo,
    shop_history,
)
from loyalty.services.demo.messages import SWITCHED_ON
from rewards.models import Redemption, Reward, Voucher

pytestmark = pytest.mark.django_db

SMALL = 12


def counts() -> dict:
    return {model.__name__: model.objects.count() for model in (
        Store, Tier, EarningRule, Multiplier, ActionRule, Member, Purchase, Refund,
        ActionEvent, PointsEntry, TierChange, MemberMerge, User, StaffRole, EmailAddress,
        Reward, Redemption, Voucher, Message)}


@pytest.fixture
def seeded():
    return seed_demo(members=SMALL)


def test_seeding_creates_the_stores_scale_tiers_and_settings(seeded):
    stores = {store.code: store.kind for store in Store.objects.all()}
    assert stores["paris"] == Store.Kind.IN_STORE and stores["web"] == Store.Kind.ONLINE
    assert [(t.code, t.rank, t.threshold, t.earn_multiplier) for t in Tier.objects.all()] == [
        ("bronze", 0, 0, 1), ("silver", 1, 500, 1.25), ("gold", 2, 1500, 1.5)]
    assert all(len(tier.benefit_list) >= 3 for tier in Tier.objects.all())
    assert EarningRule.objects.get(category="shoes").stackable is False
    assert Multiplier.objects.filter(weekdays="67").exists()
    assert Multiplier.objects.filter(starts_at__isnull=False, ends_at__isnull=False).exists()
    assert set(ActionRule.objects.values_list("event_type", flat=True)) >= {
        "account_created", "newsletter_signup", "review_posted", "referral", "birthday"}
    programme = Programme.load()
    assert (programme.return_window_days, programme.points_validity_days,
            programme.tier_window_days) == (0, 365, 365)


def test_the_three_logins_have_the_right_roles(seeded):
    marie = User.objects.get(email="marie@example.com")
    cashier = User.objects.get(email="cashier@example.com")
    admin = User.objects.get(email="admin@example.com")
    for user in (marie, cashier, admin):
        assert user.check_password(DEMO_PASSWORD)
        assert EmailAddress.objects.get(user=user, email=user.email).verified
    assert EmailAddress.objects.get(user=marie).primary
    assert not (marie.is_staff or cashier.is_staff or is_programme_admin(cashier))
    paris, web = Store.objects.get(code="paris"), Store.objects.get(code="web")
    assert can_act_for(cashier, paris) and not can_act_for(cashier, web)
    assert list(StaffRole.objects.filter(user=cashier).values_list("store__code", "role")) == [
        ("paris", "cashier")]
    assert admin.is_superuser and admin.is_staff
    assert StaffRole.objects.filter(user=admin, role="admin", store=None).exists()
    assert [login[1] for login in seeded["logins"]] == [
        "marie@example.com", "cashier@example.com", "admin@example.com"]


def test_marie_is_a_member_with_points_and_purchases_in_both_stores(seeded):
    member = Member.objects.get(user__email="marie@example.com")
    assert (member.first_name, member.last_name, member.email) == (
        "Marie", "Dupont", "marie@example.com")
    assert member.balance > 0
    assert member.tier.rank >= 1
    assert set(member.purchases.values_list("store__code", flat=True)) >= {"paris", "web"}
    assert member.purchases.filter(
        occurred_at__gte=timezone.now() - timezone.timedelta(days=14)).exists()


def test_the_history_is_realistic_and_the_ledger_is_sound(seeded):
    assert seeded["created"] and seeded["ledger_ok"]
    assert audit_ledger().violations == []
    # The programme's members, and the e-shop's past customers imported from its history.
    assert Member.objects.filter(status=Member.Status.ACTIVE).count() == SMALL * 3
    assert MemberMerge.objects.count() == 1
    assert PointsEntry.objects.filter(kind=PointsEntry.Kind.EXPIRE).exists()
    assert PointsEntry.objects.filter(kind=PointsEntry.Kind.ADJUST).exists()
    assert Refund.objects.exists()
    assert TierChange.objects.filter(reason=TierChange.Reason.PROMOTION).exists()
    demoted = [change for change in TierChange.objects.select_related("from_tier", "to_tier")
               if change.from_tier and change.to_tier
               and change.to_tier.rank < change.from_tier.rank]
    assert demoted, "somebody should have lost a tier"
    first = Purchase.objects.order_by("occurred_at").first().occurred_at
    assert first < timezone.now() - timezone.timedelta(days=700)
    # The ledger is dated like real life, not all today.
    assert PointsEntry.objects.filter(
        created_at__lt=timezone.now() - timezone.timedelta(days=365)).exists()
    assert Member.objects.filter(email_marketing=True).exists()
    phones = Member.objects.exclude(phone="").values_list("phone", flat=True)
    assert phones and all(phone.startswith(("+336", "+447")) for phone in phones)
    # Reviews, posted through the service: some earned the action's points, some are low.
    from loyalty.models import Review

    assert Review.objects.filter(action_event__points_earned__gt=0).exists()
    assert Review.objects.filter(needs_follow_up=True).exists()
    assert not Review.objects.exclude(store=F("purchase__store")).exists()


def test_the_e_shop_history_is_imported_without_points(seeded):
    history = Purchase.objects.filter(order_id__startswith=shop_history.ORDER_PREFIX)
    assert seeded["shop_history"]["purchases_added"] == history.count() > SMALL * 2
    assert seeded["shop_history"]["members_created"] == SMALL * 2
    assert {purchase.store.code for purchase in history.select_related("store")} == {"web"}
    assert not history.filter(points_earned__gt=0).exists()
    assert not history.filter(entry__isnull=False).exists()
    customers = Member.objects.filter(external_ids__value__startswith=shop_history.REF_PREFIX)
    assert customers.count() == SMALL * 2
    assert not PointsEntry.objects.filter(member__in=customers).exists()
    # Customers who come back, and customers who left: what the value model learns from.
    repeat = history.values("member").annotate(n=Count("id")).filter(n__gte=2).count()
    assert 0 < repeat < SMALL * 2


def test_the_e_shop_history_is_deterministic_and_dated_in_the_past():
    now = timezone.now()
    first = shop_history.shop_history_csv(rng=random.Random(7), now=now, customers=50)
    assert first == shop_history.shop_history_csv(rng=random.Random(7), now=now, customers=50)
    rows = list(csv.DictReader(io.StringIO(first.decode())))
    times = [datetime.fromisoformat(row["occurred_at"]) for row in rows]
    assert all(now - timezone.timedelta(days=730) <= at < now for at in times)
    assert len({row["customer_ref"] for row in rows}) == 50


def test_the_demo_is_rich_enough_for_the_value_model():
    seed_demo()  # the default size, as `make run` loads it
    fit = ClvFit.objects.get()
    assert fit.status == ClvFit.Status.OK
    assert fit.repeat_customers >= Programme.load().clv_min_repeat_customers
    assert MemberInsight.objects.filter(predicted_value__gt=0).count() > 100


def test_the_catalogue_is_realistic(seeded):
    rewards = list(Reward.objects.prefetch_related("stores").select_related("tier_required"))
    assert len(rewards) >= 5 and all(reward.active for reward in rewards)
    assert all(reward.name_fr and reward.description and reward.description_fr
               for reward in rewards)
    stocked = [reward for reward in rewards if reward.stock is not None]
    assert len(stocked) >= 2
    assert all(reward.stock <= 25 for reward in stocked)
    assert [reward.tier_required.code for reward in rewards if reward.tier_required] == ["gold"]
    (shipping,) = [reward for reward in rewards if reward.kind == Reward.Kind.FREE_SHIPPING]
    assert [store.code for store in shipping.stores.all()] == ["web"]
    assert {Reward.Kind.AMOUNT, Reward.Kind.PERCENT, Reward.Kind.GIFT} <= {
        reward.kind for reward in rewards}
    for reward in rewards:
        reward.full_clean()


def test_members_spent_points_on_rewards_through_the_services(seeded):
    assert Redemption.objects.exists()
    redeemed = PointsEntry.objects.filter(kind=PointsEntry.Kind.REDEEM)
    bought = Voucher.objects.filter(source=Voucher.Source.REDEMPTION)
    assert redeemed.count() == Redemption.objects.count() == bought.count()
    # The win-back journey's vouchers, given without points with their messages.
    given = Voucher.objects.filter(source=Voucher.Source.JOURNEY)
    assert given.exists() and not given.filter(redemption__isnull=False).exists()
    assert set(given.values_list("occasion_key", flat=True)) <= set(
        Message.objects.filter(kind="win_back").values_list("occasion", flat=True))
    assert set(Redemption.objects.values_list("entry_id", flat=True)) == set(
        redeemed.values_list("pk", flat=True))
    # Dated like real life: spent during the two years, not all today.
    assert Redemption.objects.filter(
        created_at__lt=timezone.now() - timezone.timedelta(days=90)).exists()
    used = Voucher.objects.filter(status=Voucher.Status.USED)
    assert used.exists()
    assert all(Purchase.objects.filter(order_id=voucher.used_order_id,
                                       store=voucher.used_store).exists() for voucher in used)
    assert Voucher.objects.filter(status=Voucher.Status.CANCELLED).count() == 1
    assert PointsEntry.objects.filter(kind=PointsEntry.Kind.CANCEL).count() == 1
    assert not Voucher.objects.filter(status=Voucher.Status.ISSUED,
                                      expires_at__lte=timezone.now()).exists()
    for reward in Reward.objects.exclude(stock=None):
        assert reward.stock >= 0
    assert audit_ledger().violations == []


def test_marie_has_a_voucher_ready_and_some_history_of_them(seeded):
    member = Member.objects.get(user__email="marie@example.com")
    statuses = set(member.vouchers.values_list("status", flat=True))
    assert {"issued", "used", "cancelled"} <= statuses
    ready = member.vouchers.get(status="issued")
    assert ready.expires_at > timezone.now() + timezone.timedelta(days=7)
    assert member.balance > 0


def test_the_history_depends_on_the_seed_alone():
    now = timezone.now()
    promotion = black_friday(now.year - 1, timezone.get_default_timezone())

    def plan(seed):
        events = Plan(rng=random.Random(seed), now=now, size=SMALL, promotion=promotion).events
        return [(at, kind, repr(data)) for at, _seq, kind, data in events]

    assert plan(7) == plan(7)
    assert plan(7) != plan(8)


def test_the_journeys_fired_over_the_demos_last_weeks(seeded):
    assert seeded["messages"] and sum(seeded["messages"].values()) == Message.objects.count()
    statuses = dict(Message.objects.values_list("status").annotate(n=Count("id")))
    assert statuses.get("sent", 0) > 0  # (the full demo also shows some held back, by reason)
    reasons = set(Message.objects.filter(status="suppressed").values_list("reason", flat=True))
    assert reasons <= set(Message.Reason.values) - {""}
    assert not Message.objects.filter(status="queued", next_attempt_at__lte=timezone.now()
                                      - timedelta(days=1)).exists()
    assert set(Journey.objects.filter(active=True).values_list("kind", flat=True)) == set(
        SWITCHED_ON)


def test_running_it_again_adds_nothing(seeded):
    before = counts()
    again = seed_demo(members=SMALL)
    assert not again["created"]
    assert counts() == before


def test_running_it_again_restores_the_logins(seeded):
    cashier = User.objects.get(email="cashier@example.com")
    cashier.set_password("something-else")
    cashier.save()
    StaffRole.objects.create(user=cashier, store=Store.objects.get(code="web"), role="cashier")
    seed_demo(members=SMALL)
    cashier.refresh_from_db()
    assert cashier.check_password(DEMO_PASSWORD)
    assert list(StaffRole.objects.filter(user=cashier).values_list("store__code", flat=True)) == [
        "paris"]


def test_a_history_that_fails_the_ledger_audit_is_not_kept(monkeypatch):
    monkeypatch.setattr("loyalty.services.demo.audit_ledger", lambda: type(
        "Report", (), {"ok": False, "violations": ["member 1: broken"]})())
    with pytest.raises(DemoLedgerUnsound):
        seed_demo(members=SMALL)
    assert not Purchase.objects.exists() and not Member.objects.exists()


def test_the_insight_is_computed_once_at_the_end(seeded):
    active = Member.objects.filter(status=Member.Status.ACTIVE)
    assert set(MemberInsight.objects.values_list("member_id", flat=True)) == set(
        active.values_list("pk", flat=True))
    assert MemberInsight.objects.filter(r__isnull=False).exists()
    assert MemberInsight.objects.filter(segment__isnull=False).exists()
    assert seeded["insight"]["members"] == active.count()
    (run,) = InsightRun.objects.all()
    assert run.triggered_by.email == "admin@example.com"
    assert ClvFit.objects.count() == 1
    assert seed_demo(members=SMALL)["insight"] is None
    assert InsightRun.objects.count() == 1 and ClvFit.objects.count() == 1


def test_the_command_refuses_to_run_with_debug_off_unless_forced(settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("seed_demo", members=SMALL, stdout=StringIO())
    assert not User.objects.filter(email="marie@example.com").exists()
    out = StringIO()
    call_command("seed_demo", members=SMALL, force=True, stdout=out)
    assert "no violations" in out.getvalue()


def test_the_command_prints_a_summary_and_the_logins(settings):
    settings.DEBUG = True  # as `make run`
    out = StringIO()
    call_command("seed_demo", members=SMALL, stdout=out)
    text = out.getvalue()
    for email in ("marie@example.com", "cashier@example.com", "admin@example.com"):
        assert f"{email} / demo-password" in text
    assert "no violations" in text
    assert "Insight: " in text
    out = StringIO()
    call_command("seed_demo", members=SMALL, stdout=out)
    assert "already exists" in out.getvalue()


def test_the_defaults_are_those_make_run_uses():
    """`make run` calls `manage.py seed_demo` with no options: 150 members, seed 2024."""
    parser = Command().create_parser("manage.py", "seed_demo")
    options = parser.parse_args([])
    assert "--members" in parser.format_help()
    assert (options.members, options.seed) == (150, 2024)
    defaults = inspect.signature(seed_demo).parameters
    assert (defaults["members"].default, defaults["seed"].default) == (150, 2024)


def test_the_command_prints_its_progress_as_it_loads(settings):
    """`make run` shows each phase as it starts, and the history a quarter at a time."""
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", members=SMALL, stdout=out)
    text = out.getvalue()
    phases = ["Setting up the programme", "Playing 730 days of history", "Importing the e-shop",
              "Auditing the ledger", "Computing the insight", "Replaying the journeys",
              "Demo programme created"]
    assert [text.index(phase) for phase in phases] == sorted(
        text.index(phase) for phase in phases)
    quarters = re.findall(r"(\d{4}-\d{2}): members (\d+)/(\d+), purchases (\d+)/(\d+)", text)
    assert len(quarters) >= 8  # two years, a line a quarter
    assert [int(q[1]) for q in quarters] == sorted(int(q[1]) for q in quarters)
    assert quarters[-1][1] == quarters[-1][2] and quarters[-1][3] == quarters[-1][4]
