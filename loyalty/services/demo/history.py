"""Playing the plan through the services, event by event, at the simulated time.

Nothing writes points or ledger rows here except the services themselves.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.models import Card, Member, Purchase, Store
from loyalty.services import actions, ledger, members, purchases, reviews, tiers
from loyalty.services.demo.data import HISTORY_DAYS, ORDER_PREFIX, REVIEWS, REWARDS
from loyalty.services.demo.plan import Person, Plan
from loyalty.services.demo.progress import say
from loyalty.services.errors import MemberClosed, PurchaseRefunded
from rewards import services as rewards
from rewards.models import Reward, Voucher


class History:
    def __init__(self, *, plan: Plan, stores: dict[str, Store], admin, customer, stdout):
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
        say(self.stdout, message)

    def play(self) -> None:
        self.say(_("Playing %(days)d days of history for %(members)d members…") % {
            "days": HISTORY_DAYS, "members": len(self.plan.people)})
        self.total = Counter(kind for _at, _seq, kind, _data in self.plan.events)
        self.done: Counter[str] = Counter()
        for at, _seq, kind, data in self.plan.events:
            getattr(self, f"do_{kind}")(at, **data)
            self.done[kind] += 1

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

    def do_review(self, at, *, key, purchase, number) -> None:
        # The rating follows the review's number, not a new draw: the plan stays the same.
        rating, comment = REVIEWS[number % len(REVIEWS)]
        bought = Purchase.objects.get(store=self.stores[purchase["store"]],
                                      order_id=self.order_id(purchase["number"]))
        # Skipped if refunded in full, or if the person left the programme since.
        with contextlib.suppress(PurchaseRefunded, MemberClosed):
            reviews.post_review(member=self.members[key], purchase_id=bought.pk,
                                rating=rating, comment=comment, now=at)

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
        """What the nightly tasks would have done, for the demo's members, through the batch
        services the tasks call: expire due points, re-evaluate tiers."""
        ids = sorted({m.pk for key, m in self.members.items() if key not in self.merged})
        due = sorted(set(ledger.members_with_due_points(now=at)) & set(ids))
        ledger.bring_members_up_to_date(member_ids=due, now=at)
        rewards.expire_vouchers(now=at)
        # Promotions happen on the spot; only a member above the entry tier can move here.
        tiers.reevaluate_tiers_of(member_ids=list(Member.objects.filter(
            pk__in=ids, tier__threshold__gt=0).values_list("pk", flat=True)), now=at)
        local = timezone.localtime(at, self.plan.tz)
        if local.month % 3 == 1 or at == self.plan.now:  # progress, a line a quarter
            self.say(_("  %(month)s: members %(members)d/%(members_total)d, purchases "
                       "%(purchases)d/%(purchases_total)d") % {
                "month": f"{local:%Y-%m}", "members": self.done["join"],
                "members_total": self.total["join"], "purchases": self.done["purchase"],
                "purchases_total": self.total["purchase"]})
