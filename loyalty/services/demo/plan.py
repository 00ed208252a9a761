"""The plan: who does what, when; drawn from the seeded random generator alone.

Nothing here touches the database: `Plan` lays out the people and a time-ordered
list of events that `History` then plays through the services. The order of the
random draws is the demo: changing it changes every member and every purchase.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import phonenumbers
from django.utils import timezone

from loyalty.services.demo.data import (
    CATALOGUE,
    CENT,
    CUSTOMER_EMAIL,
    ENGLISH,
    FRENCH,
    HISTORY_DAYS,
    PEAK,
    PROFILES,
    PROMOTION_BOOST,
    REDEMPTIONS_PER_YEAR,
    REWARDS,
    SEASON,
)


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


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_DOWN)


class Plan:
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
            self.add(review_at, "review", key=person.key, purchase=purchase)

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
