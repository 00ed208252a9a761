"""A complete demo programme, built the way real life would have built it.

`seed_demo` sets up stores, the points scale, tiers and three logins, then
plays two years of history forward in time through the services themselves:
members enrol, buy in store and online, post reviews, sign up for the
newsletter, return things, get a goodwill gesture, are found to be duplicates
and merged. Every service call is given the simulated time as `now`, and at
each month boundary due points expire and tiers are re-evaluated, so the
ledger and the tier history look like those of a programme that has run for
two years. Nothing writes points or ledger rows except the services.

The reward catalogue is spent from the same way: members redeem rewards on the
portal when they can afford them, use most vouchers on a later order, let a few
expire, and Marie cancels one (and has one ready to use today).

Deterministic for a given seed (only card numbers, which the card service
draws itself, differ). Idempotent: the history is written in one transaction,
and a database that already holds the demo's orders gets nothing more than
its settings and logins checked again.
"""

from __future__ import annotations

import random
import time
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import phonenumbers
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.models import (
    ActionEvent,
    ActionRule,
    Card,
    EarningRule,
    Member,
    MemberMerge,
    Multiplier,
    PointsEntry,
    Programme,
    Purchase,
    Refund,
    Store,
    Tier,
    TierChange,
)
from loyalty.services import actions, ledger, members, purchases, tiers
from loyalty.services.audit import audit_ledger
from loyalty.services.errors import Invalid
from rewards import services as rewards
from rewards.models import Redemption, Reward, Voucher

DEFAULT_MEMBERS = 150
DEFAULT_SEED = 2024
MIN_MEMBERS = 5
HISTORY_DAYS = 730
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the documented demo password
CUSTOMER_EMAIL = "marie@example.com"
CASHIER_EMAIL = "cashier@example.com"
ADMIN_EMAIL = "admin@example.com"
ORDER_PREFIX = "DEMO-"
CENT = Decimal("0.01")

STORES = [("paris", "Paris — Rue de Rivoli", Store.Kind.IN_STORE),
          ("lyon", "Lyon — Presqu'île", Store.Kind.IN_STORE),
          ("web", "E-shop", Store.Kind.ONLINE)]

TIERS = [
    ("bronze", "Bronze", 0, "0", "1.00",
     "1 point per euro spent\n150 points on your birthday\nMember-only offers"),
    ("silver", "Silver", 1, "500", "1.25",
     "25% more points on every purchase\nFree delivery from the e-shop\nEarly access to sales"),
    ("gold", "Gold", 2, "1500", "1.50",
     "50% more points on every purchase\nFree delivery and returns\n"
     "Private shopping evenings\nA dedicated customer service line"),
]

ACTION_RULES = [  # event type, name, points, limit, period
    ("account_created", "Welcome bonus", 50, 1, ActionRule.Period.EVER),
    ("newsletter_signup", "Newsletter sign-up", 100, 1, ActionRule.Period.EVER),
    ("review_posted", "Product review", 20, 5, ActionRule.Period.MONTH),
    ("referral", "Referring a friend", 200, None, ActionRule.Period.EVER),
    ("birthday", "Birthday bonus", 150, 1, ActionRule.Period.YEAR),
]

CATALOGUE = {  # category: [(sku, unit price)], with how often the category is bought
    "clothing": (40, [("CL-TSHIRT", "19.90"), ("CL-JEANS", "59.90"), ("CL-SWEATER", "49.90"),
                      ("CL-DRESS", "79.00"), ("CL-JACKET", "129.00"), ("CL-SOCKS3", "12.90")]),
    "shoes": (20, [("SH-RUNNING", "89.90"), ("SH-SNEAKERS", "119.00"), ("SH-BOOTS", "149.00"),
                   ("SH-SANDALS", "49.90")]),
    "accessories": (20, [("AC-BELT", "29.90"), ("AC-SCARF", "24.90"), ("AC-TOTE", "35.00"),
                         ("AC-CAP", "19.00"), ("AC-SUNGLASSES", "65.00")]),
    "beauty": (20, [("BE-LIPBALM", "6.50"), ("BE-HANDCREAM", "9.90"), ("BE-PERFUME", "59.00"),
                    ("BE-SERUM", "34.90")]),
}

FRENCH = (["Camille", "Léa", "Manon", "Chloé", "Inès", "Jade", "Louise", "Emma", "Juliette",
           "Mathilde", "Élodie", "Margaux", "Céline", "Aurélie", "Lucas", "Hugo", "Louis",
           "Gabriel", "Arthur", "Jules", "Nathan", "Théo", "Raphaël", "Antoine", "Thomas",
           "Clément", "Baptiste", "Nicolas", "Julien", "François"],
          ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
           "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David",
           "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Lefèvre",
           "Mercier", "Lambert", "Bonnet", "Fontaine", "Chevalier", "Rousseau"])
ENGLISH = (["Oliver", "George", "Harry", "Jack", "Charlie", "James", "William", "Daniel",
            "Amelia", "Olivia", "Isla", "Emily", "Sophie", "Grace", "Charlotte", "Hannah",
            "Lucy", "Ella"],
           ["Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson",
            "Johnson", "Roberts", "Walker", "Wright", "Robinson", "Thompson", "Hughes",
            "Green", "Hall", "Clarke", "Wood", "O'Brien"])

# Purchases per 30 days while a member is active.
PROFILES = {"loyal": (12, 2.0), "regular": (33, 0.6), "occasional": (35, 0.25),
            "lapsed": (12, 2.5), "new": (8, 1.0)}
SEASON = {1: 1.2, 2: 0.8, 3: 0.9, 4: 1.0, 5: 1.0, 6: 1.1, 7: 1.1, 8: 0.7, 9: 1.0, 10: 1.0,
          11: 1.3, 12: 1.6}
PROMOTION_BOOST = 2.5
PEAK = max(SEASON.values()) * PROMOTION_BOOST

# The reward catalogue. Stock: None is unlimited; stores: codes, empty is everywhere.
REWARDS = [
    {"key": "shipping", "name": "Free delivery", "name_fr": "Livraison offerte",
     "description": "Free delivery on your next e-shop order, whatever its amount.",
     "description_fr": "La livraison offerte sur votre prochaine commande en ligne, quel "
                       "qu'en soit le montant.",
     "kind": Reward.Kind.FREE_SHIPPING, "value": "0", "points_cost": 150, "stores": ["web"],
     "voucher_validity_days": 30, "limit_count": 1, "limit_period": Reward.Period.MONTH},
    {"key": "voucher5", "name": "€5 voucher", "name_fr": "Bon d'achat de 5 €",
     "description": "€5 off a purchase, in store or online.",
     "description_fr": "5 € de réduction sur un achat, en boutique ou en ligne.",
     "kind": Reward.Kind.AMOUNT, "value": "5", "points_cost": 250},
    {"key": "percent10", "name": "10% off your next purchase",
     "name_fr": "-10 % sur votre prochain achat",
     "description": "10% off a whole basket, once a month.",
     "description_fr": "10 % de réduction sur tout le panier, une fois par mois.",
     "kind": Reward.Kind.PERCENT, "value": "10", "points_cost": 400, "limit_count": 1,
     "limit_period": Reward.Period.MONTH},
    {"key": "tote", "name": "Organic cotton tote bag", "name_fr": "Tote bag en coton bio",
     "description": "Our tote bag, to collect in store. While stocks last.",
     "description_fr": "Notre tote bag, à retirer en boutique. Dans la limite des stocks.",
     "kind": Reward.Kind.GIFT, "value": "0", "points_cost": 600, "stock": 25,
     "stores": ["paris", "lyon"], "limit_count": 1, "limit_period": Reward.Period.EVER},
    {"key": "perfume", "name": "Perfume discovery set", "name_fr": "Coffret découverte parfums",
     "description": "Five 2 ml samples of our perfumes, to collect in store.",
     "description_fr": "Cinq échantillons de 2 ml de nos parfums, à retirer en boutique.",
     "kind": Reward.Kind.GIFT, "value": "0", "points_cost": 750, "stock": 20,
     "stores": ["paris", "lyon"]},
    {"key": "voucher20", "name": "€20 voucher", "name_fr": "Bon d'achat de 20 €",
     "description": "€20 off a purchase, in store or online.",
     "description_fr": "20 € de réduction sur un achat, en boutique ou en ligne.",
     "kind": Reward.Kind.AMOUNT, "value": "20", "points_cost": 900},
    {"key": "evening", "name": "Private shopping evening for two",
     "name_fr": "Soirée shopping privée pour deux",
     "description": "An evening in our Paris shop after closing, with a stylist and a glass "
                    "of champagne.",
     "description_fr": "Une soirée dans notre boutique de Paris après la fermeture, avec une "
                       "styliste et une coupe de champagne.",
     "kind": Reward.Kind.EXPERIENCE, "value": "0", "points_cost": 1200, "tier": "gold",
     "stock": 12, "stores": ["paris"], "voucher_validity_days": 90},
]
# Redemption attempts per year while a member is active, by profile.
REDEMPTIONS_PER_YEAR = {"loyal": 2.5, "regular": 1.0, "occasional": 0.4, "lapsed": 0.5,
                        "new": 0.5}


@dataclass
class Person:
    key: str
    first_name: str
    last_name: str
    joined_at: datetime
    email: str = ""
    phone: str = ""
    birth_date: date | None = None
    language: str = ""
    external_id: str = ""
    enrol_store: str = "paris"
    channel: str = "both"  # in_store, web or both
    home_store: str = "paris"
    profile: str = "regular"
    until: datetime | None = None  # stops buying (lapsed, or merged)
    referred_by: str | None = None
    is_customer_login: bool = False


class DemoLedgerUnsound(RuntimeError):
    """The history played left the ledger inconsistent: a bug in a service. Nothing is kept."""

    def __init__(self, violations: list[str]):
        self.violations = violations
        super().__init__(f"{len(violations)} ledger violations, first: {violations[0]}")


def seed_demo(*, members: int = DEFAULT_MEMBERS, seed: int = DEFAULT_SEED,
              now: datetime | None = None, stdout=None) -> dict:
    """Create the demo programme, or check an existing one's settings and logins.

    The history is kept only if the ledger audit finds nothing wrong with it.
    Raises Invalid if `members` is below MIN_MEMBERS (the demo's scripted
    stories need a few people), DemoLedgerUnsound if the audit fails.
    """
    if members < MIN_MEMBERS:
        raise Invalid(fields={"members": f"at least {MIN_MEMBERS}"})
    now = now or timezone.now()
    started = time.monotonic()
    with transaction.atomic():
        stores = _ensure_stores()
        _ensure_programme()
        promotion = _ensure_scale(now=now, stores=stores)
        _ensure_tiers()
        _ensure_rewards(stores)
        users = _ensure_logins(stores)
        created = not Purchase.objects.filter(order_id__startswith=ORDER_PREFIX).exists()
        if created:
            plan = _Plan(rng=random.Random(seed), now=now, size=members, promotion=promotion)
            _History(plan=plan, stores=stores, admin=users["admin"], customer=users["customer"],
                     stdout=stdout).play()
        report = audit_ledger()
        if created and not report.ok:
            raise DemoLedgerUnsound(report.violations)
    return {**_counts(), "created": created, "seconds": round(time.monotonic() - started, 1),
            "ledger_ok": report.ok, "violations": report.violations,
            "logins": [(_("customer"), CUSTOMER_EMAIL, DEMO_PASSWORD),
                       (_("cashier (%(store)s)") % {"store": "paris"}, CASHIER_EMAIL,
                        DEMO_PASSWORD),
                       (_("programme admin"), ADMIN_EMAIL, DEMO_PASSWORD)]}


# --- The programme's set-up: safe to repeat ----------------------------------------------


def _ensure_stores() -> dict[str, Store]:
    return {code: Store.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})[0]
            for code, name, kind in STORES}


def _ensure_programme() -> None:
    programme = Programme.load()
    # A 0-day return window lets a demo purchase be spent at once.
    wanted = {"name": "Maison Demo Club", "currency": "EUR", "return_window_days": 0,
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


def _ensure_scale(*, now: datetime, stores: dict[str, Store]) -> tuple[datetime, datetime]:
    tz = timezone.get_default_timezone()
    promotion = next(window for year in range(now.year, now.year - 3, -1)
                     if (window := black_friday(year, tz))[1] <= now - timedelta(days=7))
    EarningRule.objects.get_or_create(name="1 point per euro",
                                      defaults={"points_per_unit": Decimal("1")})
    EarningRule.objects.get_or_create(
        name="3 points per euro on shoes",
        defaults={"points_per_unit": Decimal("3"), "category": "shoes", "priority": 10,
                  "stackable": False})
    Multiplier.objects.get_or_create(name="Double points weekend",
                                     defaults={"factor": Decimal("2"), "weekdays": "67",
                                               "channel": Store.Kind.ONLINE})
    existing = Multiplier.objects.filter(name="Black Friday weekend").first()
    if existing is None:
        existing = Multiplier.objects.create(
            name="Black Friday weekend", factor=Decimal("3"), priority=10, stackable=False,
            starts_at=promotion[0], ends_at=promotion[1])
    for event_type, name, points, limit, period in ACTION_RULES:
        ActionRule.objects.get_or_create(event_type=event_type, defaults={
            "name": name, "points": points, "limit_count": limit, "limit_period": period})
    return existing.starts_at, existing.ends_at


def _ensure_tiers() -> None:
    for code, name, rank, threshold, factor, benefits in TIERS:
        Tier.objects.get_or_create(code=code, defaults={
            "name": name, "rank": rank, "threshold": Decimal(threshold),
            "earn_multiplier": Decimal(factor), "benefits": benefits})


def _ensure_rewards(stores: dict[str, Store]) -> dict[str, Reward]:
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


def _ensure_logins(stores: dict[str, Store]) -> dict:
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    from accounts.models import StaffRole

    user_model = get_user_model()
    users = {}
    for name, email, flags, names in [
            ("customer", CUSTOMER_EMAIL, (False, False), ("Marie", "Dupont")),
            ("cashier", CASHIER_EMAIL, (False, False), ("", "")),
            ("admin", ADMIN_EMAIL, (True, True), ("", ""))]:
        user = user_model.objects.filter(email=email).first() or user_model(email=email)
        user.first_name = user.first_name or names[0]
        user.last_name = user.last_name or names[1]
        user.is_staff, user.is_superuser = flags
        user.is_active = True
        if not user.has_usable_password() or not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
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


# --- The plan: who does what, when; drawn from the seed alone ----------------------------


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_DOWN)


class _Plan:
    def __init__(self, *, rng: random.Random, now: datetime, size: int,
                 promotion: tuple[datetime, datetime]):
        self.rng, self.now, self.promotion = rng, now, promotion
        self.tz = timezone.get_default_timezone()
        self.start = now - timedelta(days=HISTORY_DAYS)
        self.events: list[tuple[datetime, int, str, dict]] = []
        self.taken: set[str] = set()
        self.people: list[Person] = []
        for index in range(size):
            self.people.append(self._person(index))
        self._duplicate()
        for person in self.people:
            self._life(person)
        self._adjustments()
        self._redemptions()
        self._ticks()
        self.events.sort(key=lambda event: (event[0], event[1]))
        self._number()

    def add(self, at: datetime, kind: str, **data) -> dict:
        self.events.append((at, len(self.events), kind, data))
        return data

    def _unique(self, draw) -> str:
        while (value := draw()) in self.taken:
            pass
        self.taken.add(value)
        return value

    def _phone(self, region: str) -> str:
        rng = self.rng

        def draw():
            while True:
                if region == "FR":
                    raw = f"+336{rng.randint(0, 99_999_999):08d}"
                else:
                    raw = f"+447{rng.choice('45789')}{rng.randint(0, 99_999_999):08d}"
                number = phonenumbers.parse(raw)
                if (phonenumbers.is_valid_number(number)
                        and phonenumbers.region_code_for_number(number) == region):
                    return raw
        return self._unique(draw)

    def _person(self, index: int) -> Person:
        rng = self.rng
        if index == 0:
            person = Person(key="marie", first_name="Marie", last_name="Dupont",
                            joined_at=self._local(self.start.date() + timedelta(days=3), 11, 20),
                            email=CUSTOMER_EMAIL, phone=self._phone("FR"),
                            birth_date=date(1988, 4, 12), language="fr", profile="loyal",
                            is_customer_login=True)
            self.taken.add(person.email)
            return person
        # The first few stories are always told, whatever the size.
        profile = {1: "lapsed", 2: "regular"}.get(index) or rng.choices(
            list(PROFILES), weights=[weight for weight, _rate in PROFILES.values()])[0]
        french = rng.random() < 0.7
        first_names, last_names = FRENCH if french else ENGLISH
        first, last = rng.choice(first_names), rng.choice(last_names)
        if profile == "new":
            day = HISTORY_DAYS - rng.randint(5, 120)
        elif index in (1, 2) or rng.random() < 0.5:
            day = rng.randint(0, 60)
        else:
            day = rng.randint(0, HISTORY_DAYS - 30)
        channel = rng.choices(["in_store", "web", "both"], weights=[40, 25, 35])[0]
        if index == 2:  # enrolled online with an email only; enrols again at the till later
            channel = "web"
        home = "lyon" if rng.random() < 0.2 else "paris"
        person = Person(key=f"m{index:04d}", first_name=first, last_name=last,
                        joined_at=self._local(self.start.date() + timedelta(days=day),
                                              rng.randint(9, 20), rng.randint(0, 59)),
                        language="fr" if french else "en", channel=channel, home_store=home,
                        enrol_store="web" if channel == "web" else home, profile=profile)
        if rng.random() < 0.85 or channel == "web":
            domain = rng.choice(["example.com", "example.org", "example.net"])
            pattern = rng.choice(["{f}.{l}", "{f}{l}", "{i}.{l}", "{f}_{l}"])
            local = pattern.format(f=_ascii(first), l=_ascii(last), i=_ascii(first)[0])
            person.email = self._unique(
                lambda: f"{local}{rng.choice(['', '', str(rng.randint(1, 99))])}@{domain}")
        if index != 2 and (not person.email or rng.random() < 0.7):
            person.phone = self._phone("FR" if french else "GB")
        if rng.random() < 0.6:
            person.birth_date = date(rng.randint(1950, 2006), rng.randint(1, 12),
                                     rng.randint(1, 28))
        if person.enrol_store == "web" and rng.random() < 0.7:
            person.external_id = self._unique(lambda: f"C{rng.randint(100_000, 999_999)}")
        if profile == "lapsed":
            person.until = person.joined_at + timedelta(days=rng.randint(200, 300))
        if index != 2 and day > 60 and len(self.people) > 3 and rng.random() < 0.12:
            earlier = [p for p in self.people if p.joined_at < person.joined_at]
            if earlier:
                person.referred_by = rng.choice(earlier).key
        return person

    def _duplicate(self) -> None:
        """The same customer, enrolled again at the till with a phone; merged later."""
        original = self.people[2]
        joined = original.joined_at + timedelta(days=self.rng.randint(60, 120))
        merge_at = self.now - timedelta(days=45)
        self.people.append(Person(
            key="duplicate", first_name=original.first_name, last_name=original.last_name,
            joined_at=joined, phone=self._phone("FR"), language=original.language,
            channel="in_store", profile="regular", until=merge_at - timedelta(days=1)))
        self.add(merge_at, "merge", survivor=original.key, duplicate="duplicate")

    def _local(self, day: date, hour: int, minute: int) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.tz)

    def _life(self, person: Person) -> None:
        rng, joined = self.rng, person.joined_at
        self.add(joined, "join", person=person)
        if person.email and (person.is_customer_login or rng.random() < 0.55):
            at = joined + timedelta(minutes=2)
            self.add(at, "consent", key=person.key, channel="email", granted=True,
                     source="sign-up form" if person.enrol_store == "web" else "till")
            self.add(at + timedelta(days=rng.randint(0, 3), minutes=5), "action",
                     key=person.key, event_type="newsletter_signup", store="web",
                     event_id=f"DEMO-NL-{person.key}")
            if not person.is_customer_login and rng.random() < 0.1:
                self.add(joined + timedelta(days=rng.randint(30, 400)), "consent",
                         key=person.key, channel="email", granted=False,
                         source="unsubscribe link")
        if person.phone and rng.random() < 0.25:
            self.add(joined + timedelta(minutes=3), "consent", key=person.key, channel="sms",
                     granted=True, source="till")
        if person.birth_date:
            for year in range(joined.year, self.now.year + 1):
                day = person.birth_date.replace(year=year)
                at = self._local(day, 8, 0)
                if joined < at < self.now:
                    self.add(at, "action", key=person.key, event_type="birthday", store=None,
                             event_id=f"demo-birthday-{person.key}-{year}")
        self._purchases(person)

    def _purchases(self, person: Person) -> None:
        """A first purchase on enrolling, then a seasonal Poisson process (by thinning)."""
        rng = self.rng
        rate = PROFILES[person.profile][1] / 30
        end = min(person.until or self.now, self.now - timedelta(hours=1))
        last = t = person.joined_at + timedelta(minutes=5)
        self._purchase(person, person.enrol_store, last)
        while (t := t + timedelta(days=rng.expovariate(rate * PEAK))) < end:
            if rng.random() > self._season(t) / PEAK:
                continue
            store = self._store(person)
            hour = rng.randint(10, 19) if store != "web" else rng.choice(
                [8, 10, 12, 13, 18, 20, 21, 21, 22, 23])
            at = self._local(timezone.localtime(t, self.tz).date(), hour, rng.randint(0, 59))
            if last < at < end:
                self._purchase(person, store, at)
                last = at
        if person.is_customer_login:  # recent activity to show, in both stores
            today = timezone.localtime(self.now, self.tz).date()
            self._purchase(person, "paris", self._local(today - timedelta(days=6), 15, 30))
            self._purchase(person, "web", self._local(today - timedelta(days=2), 20, 45))

    def _season(self, at: datetime) -> float:
        factor = SEASON[timezone.localtime(at, self.tz).month]
        if self.promotion[0] <= at < self.promotion[1]:
            factor *= PROMOTION_BOOST
        return factor

    def _store(self, person: Person) -> str:
        if person.channel == "web" or (person.channel == "both" and self.rng.random() < 0.45):
            return "web"
        if person.is_customer_login or person.key == "duplicate":
            return "paris"
        return person.home_store if self.rng.random() < 0.9 else "paris"

    def _purchase(self, person: Person, store: str, at: datetime) -> None:
        rng = self.rng
        items = []
        if store == "web" or rng.random() < 0.6:
            for _line in range(rng.choices([1, 2, 3], weights=[60, 30, 10])[0]):
                category = rng.choices(list(CATALOGUE),
                                       weights=[w for w, _p in CATALOGUE.values()])[0]
                sku, price = rng.choice(CATALOGUE[category][1])
                quantity = 1 if Decimal(price) > 40 or rng.random() < 0.8 else 2
                items.append({"sku": sku, "category": category, "quantity": quantity,
                              "unit_price": price})
            while len(items) > 1 and self._total(items) > 250:
                items.pop()
            items[0]["quantity"] = 1 if self._total(items) > 250 else items[0]["quantity"]
            amount = self._total(items)
            if store == "web" and amount < 60:
                amount += Decimal("4.90")  # delivery
            elif rng.random() < 0.1:
                amount = _money(amount * Decimal("0.9"))  # a 10% voucher
        else:
            amount = Decimal(max(5, min(250, rng.lognormvariate(3.7, 0.6))))
            amount = _money(amount).quantize(Decimal("0.1"), rounding=ROUND_DOWN)
            amount = amount.quantize(CENT)
        purchase = self.add(at, "purchase", key=person.key, store=store, amount=amount,
                            items=items)
        refund_at = at + timedelta(days=rng.randint(2, 25))
        if amount >= 20 and refund_at < self.now and rng.random() < 0.04:
            if items and rng.random() < 0.6:
                line = items[-1]
                part = min(amount, Decimal(line["unit_price"]))
                refund_items = [{**line, "quantity": 1}]
            else:
                part, refund_items = amount, []
            self.add(refund_at, "refund", purchase=purchase, amount=part, items=refund_items)
        review_at = at + timedelta(days=rng.randint(3, 14))
        if items and review_at < self.now and rng.random() < 0.12:
            self.add(review_at, "review", key=person.key)

    @staticmethod
    def _total(items) -> Decimal:
        return sum((Decimal(i["unit_price"]) * i["quantity"] for i in items), Decimal(0))

    def _adjustments(self) -> None:
        web = [p for p in self.people if p.channel != "in_store" and p.key != "marie"]
        shop = [p for p in self.people if p.channel != "web" and p.key != "marie"]
        for days, pool, points, store, reason in [
                (400, web, 150, None, "Goodwill gesture: parcel delivered a week late"),
                (200, shop, 80, "paris", "Card not scanned at the till: points added from the "
                                         "receipt")]:
            at = self._office_hours(days)
            candidates = [p for p in pool if p.joined_at < at and p.key != "duplicate"]
            if candidates:
                self.add(at, "adjust", key=self.rng.choice(candidates).key, points=points,
                         store=store, reason=reason)
        # A debit, from whoever has the points by then (decided when it happens).
        self.add(self._office_hours(20), "adjust", key=None, points=-40,
                 store=None, reason="Correction: points credited twice")

    def _redemptions(self) -> None:
        """Members spend points now and then on what they can afford (decided when it
        happens, from their wishes in order), then mostly use the voucher on a later order.
        Drawn after everything else, so the rest of the history does not depend on it."""
        rng = self.rng
        keys = [spec["key"] for spec in REWARDS]
        for person in self.people:
            if person.key in {"duplicate", "marie"}:
                continue  # the duplicate's vouchers would stay behind at the merge
            start = person.joined_at + timedelta(days=45)
            end = min(person.until or self.now, self.now - timedelta(days=1))
            if start >= end:
                continue
            years = (end - start).days / 365
            for _attempt in range(self._poisson(REDEMPTIONS_PER_YEAR[person.profile] * years)):
                at = start + (end - start) * rng.random()
                at = self._local(timezone.localtime(at, self.tz).date(), rng.randint(8, 22),
                                 rng.randint(0, 59))
                wishes = rng.sample(keys, k=rng.randint(1, 3))
                redeem = self.add(at, "redeem", key=person.key, wishes=wishes)
                if rng.random() < 0.8:
                    self._use(person, redeem, at + timedelta(days=rng.randint(1, 45),
                                                             hours=rng.randint(1, 5)))
        # Marie's story: a voucher used last spring, one cancelled, one ready today.
        marie = self.people[0]
        today = timezone.localtime(self.now, self.tz).date()
        earlier = self.add(self._local(today - timedelta(days=150), 19, 5), "redeem",
                           key="marie", wishes=["percent10", "voucher5"])
        self._use(marie, earlier, self._local(today - timedelta(days=141), 16, 40),
                  store="paris")
        changed_mind = self.add(self._local(today - timedelta(days=60), 21, 30), "redeem",
                                key="marie", wishes=["shipping", "voucher5"])
        self.add(self._local(today - timedelta(days=58), 9, 10), "cancel_voucher",
                 redemption=changed_mind)
        self.add(self._local(today - timedelta(days=4), 20, 15), "redeem", key="marie",
                 wishes=["voucher5", "percent10", "shipping"])

    def _poisson(self, mean: float) -> int:
        count, total = 0, self.rng.expovariate(1)
        while total < mean:
            count += 1
            total += self.rng.expovariate(1)
        return count

    def _use(self, person: Person, redeem: dict, at: datetime, store: str | None = None) -> None:
        if at >= self.now:
            return
        amount = max(Decimal(30), _money(self.rng.lognormvariate(4.0, 0.5)))
        online = person.channel == "web" or (person.channel == "both"
                                             and self.rng.random() < 0.45)
        self.add(at, "use_voucher", key=person.key, redemption=redeem, amount=amount,
                 store=store or ("web" if online else person.home_store))

    def _office_hours(self, days_ago: int) -> datetime:
        day = timezone.localtime(self.now, self.tz).date() - timedelta(days=days_ago)
        return self._local(day, 10, 15)

    def _ticks(self) -> None:
        local = timezone.localtime(self.start, self.tz)
        year, month = local.year, local.month
        while True:
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            at = datetime(year, month, 1, 3, 0, tzinfo=self.tz)
            if at >= self.now:
                break
            self.add(at, "tick")
        self.add(self.now, "tick")

    def _number(self) -> None:
        """Order, refund and review numbers follow time, like a real till's."""
        counters = {"purchase": 0, "refund": 0, "review": 0, "redeem": 0}
        for _at, _seq, kind, data in self.events:
            if kind in counters:
                counters[kind] += 1
                data["number"] = counters[kind]


# --- Playing the plan through the services -----------------------------------------------


class _History:
    def __init__(self, *, plan: _Plan, stores: dict[str, Store], admin, customer, stdout):
        self.plan, self.stores, self.admin, self.customer = plan, stores, admin, customer
        self.stdout = stdout
        self.members: dict[str, Member] = {}
        self.merged: set[str] = set()
        catalogue = {reward.name: reward for reward in Reward.objects.filter(
            name__in=[spec["name"] for spec in REWARDS]).select_related("tier_required")
            .prefetch_related("stores")}
        self.rewards = {spec["key"]: catalogue[spec["name"]] for spec in REWARDS}
        self.reward_stores = {reward.pk: {store.code for store in reward.stores.all()}
                              for reward in catalogue.values()}

    def say(self, message: str) -> None:
        if self.stdout is not None:
            self.stdout.write(message + "\n")

    def play(self) -> None:
        self.say(_("Playing %(days)d days of history for %(members)d members…") % {
            "days": HISTORY_DAYS, "members": len(self.plan.people)})
        for at, _seq, kind, data in self.plan.events:
            getattr(self, f"do_{kind}")(at, **data)

    def do_join(self, at, *, person: Person) -> None:
        existing = members.existing_member_for(
            email=members.normalise_email(person.email),
            phone=members.normalise_phone(person.phone), external_id=person.external_id,
            store=self.stores["web"])
        if existing is not None:  # somebody already enrolled with this identity: reuse it
            self.members[person.key] = existing
            return
        referrer = self.members.get(person.referred_by) if person.referred_by else None
        member = members.create_member(
            email=person.email, phone=person.phone, first_name=person.first_name,
            last_name=person.last_name, birth_date=person.birth_date,
            external_id=person.external_id, store=self.stores[person.enrol_store],
            user=self.customer if person.is_customer_login else None,
            language=person.language, referred_by=referrer)
        # create_member takes no `now`: date the enrolment itself, as it happened.
        Member.objects.filter(pk=member.pk).update(created_at=at)
        Card.objects.filter(member=member).update(issued_at=at)
        self.members[person.key] = member
        actions.record_action(member=member, event_type="account_created",
                              event_id=f"demo-account-created-{person.key}",
                              occurred_at=at + timedelta(seconds=1),
                              now=at + timedelta(seconds=1))
        # The referrer earns `referral` on the friend's first purchase (record_purchase).

    def do_consent(self, at, *, key, channel, granted, source) -> None:
        members.set_consent(member_id=self.members[key].pk, channel=channel, granted=granted,
                            source=source, now=at)

    def do_action(self, at, *, key, event_type, store, event_id) -> None:
        actions.record_action(member=self.members[key], event_type=event_type,
                              event_id=event_id,
                              store=self.stores[store] if store else None, occurred_at=at,
                              now=at)

    def do_review(self, at, *, key, number) -> None:
        self.do_action(at, key=key, event_type="review_posted", store="web",
                       event_id=f"DEMO-REV-{number:05d}")

    def do_purchase(self, at, *, key, store, amount, items, number) -> None:
        purchases.record_purchase(store=self.stores[store], order_id=self.order_id(number),
                                  amount=amount, member=self.members[key], items=items,
                                  occurred_at=at, now=at)

    @staticmethod
    def order_id(number: int) -> str:
        return f"{ORDER_PREFIX}{number:06d}"

    def do_refund(self, at, *, purchase, amount, items, number) -> None:
        bought = Purchase.objects.get(store=self.stores[purchase["store"]],
                                      order_id=self.order_id(purchase["number"]))
        purchases.record_refund(purchase=bought, refund_id=f"DEMO-R-{number:05d}",
                                amount=amount, items=items, now=at)

    def do_adjust(self, at, *, key, points, store, reason) -> None:
        if key is not None:
            member = self.members[key]
        else:  # a debit: somebody who has the points by then
            member = (Member.objects.filter(pk__in=[m.pk for m in self.members.values()],
                                            status=Member.Status.ACTIVE,
                                            balance__gte=-points).order_by("pk").first())
            if member is None:
                return
        ledger.adjust_points(member_id=member.pk, points=points, reason=reason, by=self.admin,
                             store=self.stores[store] if store else None, now=at)

    def do_merge(self, at, *, survivor, duplicate) -> None:
        members.merge_members(survivor_id=self.members[survivor].pk,
                              duplicate_id=self.members[duplicate].pk, by=self.admin,
                              reason="Same customer: enrolled online, then again at the till",
                              now=at)
        self.merged.add(duplicate)

    @staticmethod
    def redemption_id(number: int) -> str:
        return f"{ORDER_PREFIX}RD-{number:05d}"

    def do_redeem(self, at, *, key, wishes, number) -> None:
        """The first wish the member can have now, through the portal (no store)."""
        member = Member.objects.select_related("tier").get(pk=self.members[key].pk)
        for wish in wishes:
            reward = self.rewards[wish]
            reward.refresh_from_db(fields=["stock"])
            if rewards.eligibility(member=member, reward=reward, now=at) is not None:
                continue
            try:
                rewards.redeem_reward(member=member, reward_id=reward.pk,
                                      redemption_id=self.redemption_id(number), now=at)
            except tuple(rewards.ERRORS.values()):
                continue  # points that expired since the last tick: the next wish, then
            return

    def _voucher(self, redemption: dict) -> Voucher | None:
        return (Voucher.objects.select_related("reward")
                .filter(redemption__redemption_id=self.redemption_id(redemption["number"]),
                        status=Voucher.Status.ISSUED).first())

    def do_use_voucher(self, at, *, key, redemption, amount, store) -> None:
        """An order paid partly with the voucher: the purchase earns on what was paid."""
        voucher = self._voucher(redemption)
        if voucher is None or voucher.expires_at <= at:
            return
        allowed = self.reward_stores[voucher.reward_id]
        if allowed and store not in allowed:
            store = "paris" if "paris" in allowed else sorted(allowed)[0]
        order_id = f"{ORDER_PREFIX}V{redemption['number']:05d}"
        paid = amount - rewards.discount_for(voucher, amount)
        purchases.record_purchase(store=self.stores[store], order_id=order_id, amount=paid,
                                  member=self.members[key], occurred_at=at, now=at)
        rewards.redeem_voucher(code=voucher.code, order_id=order_id, store=self.stores[store],
                               now=at)

    def do_cancel_voucher(self, at, *, redemption) -> None:
        voucher = self._voucher(redemption)
        if voucher is not None and at < voucher.expires_at:
            rewards.cancel_voucher(voucher_id=voucher.pk, member_id=voucher.member_id,
                                   by=self.customer, now=at)

    def do_tick(self, at) -> None:
        """What the nightly tasks would have done: expire due points, re-evaluate tiers."""
        ids = sorted({m.pk for key, m in self.members.items() if key not in self.merged})
        for member_id in sorted(set(ledger.members_with_due_points(now=at)) & set(ids)):
            ledger.bring_member_up_to_date(member_id=member_id, now=at)
        rewards.expire_vouchers(now=at)
        # Promotions happen on the spot; only a member above the entry tier can move here.
        for member_id in Member.objects.filter(pk__in=ids, tier__threshold__gt=0).values_list(
                "pk", flat=True).order_by("pk"):
            tiers.reevaluate_tier(member_id=member_id, now=at)
        local = timezone.localtime(at, self.plan.tz)
        if local.month % 3 == 1 or at == self.plan.now:
            self.say(_("  %(month)s: %(members)d members, %(purchases)d purchases") % {
                "month": f"{local:%Y-%m}", "members": len(ids),
                "purchases": Purchase.objects.filter(order_id__startswith=ORDER_PREFIX).count()})


def _counts() -> dict:
    entries = dict(PointsEntry.objects.values_list("kind").annotate(n=Count("id")))
    return {
        "stores": Store.objects.count(),
        "members": Member.objects.filter(status=Member.Status.ACTIVE).count(),
        "merged_members": Member.objects.filter(status=Member.Status.MERGED).count(),
        "purchases": Purchase.objects.count(),
        "refunds": Refund.objects.count(),
        "actions": ActionEvent.objects.count(),
        "entries": sum(entries.values()),
        "entries_by_kind": entries,
        "tier_changes": TierChange.objects.count(),
        "merges": MemberMerge.objects.count(),
        "rewards": Reward.objects.count(),
        "redemptions": Redemption.objects.count(),
        "vouchers_by_status": dict(Voucher.objects.values_list("status").annotate(n=Count("id"))
                                   .order_by("status")),
        "members_per_tier": {tier.name: tier.n for tier in Tier.objects.annotate(
            n=Count("members", filter=Q(members__status=Member.Status.ACTIVE)))
            .order_by("rank")},
    }
