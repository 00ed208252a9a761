"""Reviews: a member rates one of their purchases, 1 to 5, once; the store's manager sees
the store's figures and follows up the low ratings.

Writes: `post_review` (the member, once per purchase, with the `review_posted` action's
points in the same transaction) and `follow_up_review` (a manager). Reads: the figures
of the staff page, in a fixed number of set-based queries whatever the number of reviews.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncMonth
from django.utils import timezone

from loyalty.models import Purchase, Review, Store
from loyalty.services import actions, ledger
from loyalty.services.earning import current_programme
from loyalty.services.errors import Invalid, NotFound, PurchaseRefunded, ReviewExists
from loyalty.services.recorded import Recorded

EVENT_TYPE = "review_posted"
MAX_COMMENT = 2000
MAX_NOTE = 2000
TREND_MONTHS = 6
TREND_DAYS = 30
LATEST = 10


def event_id_for(purchase: Purchase) -> str:
    return f"review:{purchase.pk}"


def _checked_rating(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise Invalid(fields={"rating": "a whole number from 1 to 5"})
    return value


def _checked_text(value, *, field: str, max_length: int) -> str:
    """Free text: trimmed, line ends made plain, no control characters (PostgreSQL refuses
    some), at most `max_length` characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(fields={field: "text expected"})
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise Invalid(fields={field: "no control characters"})
    if len(value) > max_length:
        raise Invalid(fields={field: f"at most {max_length} characters"})
    return value


def _purchase_id(value) -> int:
    try:
        purchase_id = int(value)
    except (TypeError, ValueError):
        raise NotFound(fields={"purchase_id": str(value)[:20]}) from None
    if isinstance(value, bool) or not 0 < purchase_id < 2**63:
        raise NotFound(fields={"purchase_id": str(value)[:20]})
    return purchase_id


def is_fully_refunded(purchase: Purchase) -> bool:
    return purchase.amount > 0 and purchase.refunded_amount >= purchase.amount


def post_review(*, member, purchase_id, rating, comment: str = "",
                now: datetime | None = None) -> Recorded:
    """Rate one of the member's own purchases, once, and credit the `review_posted` action
    once (its rule's points and limits; nothing if no rule is active).

    The same review posted again (a retry) returns the first with `created=False`; a
    different one raises ReviewExists. Raises NotFound (not the member's purchase, after
    any merge), PurchaseRefunded (refunded in full), Invalid (rating, comment) or
    MemberClosed.
    """
    now = now or timezone.now()
    rating = _checked_rating(rating)
    comment = _checked_text(comment, field="comment", max_length=MAX_COMMENT)
    purchase_id = _purchase_id(purchase_id)
    try:
        with transaction.atomic():
            # The member first (the ledger's lock order): it serialises this member's posts.
            locked = ledger.lock_member(member.pk)
            purchase = (Purchase.objects.select_related("store")
                        .filter(pk=purchase_id, member=locked).first())
            if purchase is None:
                raise NotFound(fields={"purchase_id": purchase_id})
            existing = Review.objects.filter(purchase=purchase).first()
            if existing is not None:
                return Recorded(_same_review(existing, rating, comment), False)
            if is_fully_refunded(purchase):
                raise PurchaseRefunded(fields={"purchase_id": purchase_id})
            threshold = current_programme().review_follow_up_rating
            review = Review.objects.create(
                purchase=purchase, member=locked, store=purchase.store, rating=rating,
                comment=comment, created_at=now, needs_follow_up=rating <= threshold)
            event = actions.award_if_active(member=locked, event_type=EVENT_TYPE,
                                            event_id=event_id_for(purchase), now=now)
            if event is not None:
                review.action_event = event
                review.save(update_fields=["action_event"])
            return Recorded(review, True)
    except IntegrityError:
        # Another request reviewed the same purchase a moment ago (a merge in between).
        existing = Review.objects.filter(purchase_id=purchase_id).first()
        if existing is None:
            raise
        return Recorded(_same_review(existing, rating, comment), False)


def _same_review(existing: Review, rating: int, comment: str) -> Review:
    if existing.rating != rating or existing.comment != comment:
        raise ReviewExists(fields={"purchase_id": existing.purchase_id})
    return existing


def follow_up_review(*, review_id, by, note: str = "", store: Store | None = None,
                     now: datetime | None = None) -> Recorded:
    """A manager records that a review was followed up (a call, an apology, a voucher).

    Once: a review already followed up is returned unchanged with `created=False`. With
    `store`, the review must be of that store. Raises NotFound or Invalid (the note).
    """
    now = now or timezone.now()
    note = _checked_text(note, field="note", max_length=MAX_NOTE)
    try:
        review_id = int(review_id)
    except (TypeError, ValueError):
        raise NotFound(fields={"review_id": str(review_id)[:20]}) from None
    with transaction.atomic():
        reviews = Review.objects.select_for_update().filter(pk=review_id)
        if store is not None:
            reviews = reviews.filter(store=store)
        review = reviews.first() if 0 < review_id < 2**63 else None
        if review is None:
            raise NotFound(fields={"review_id": review_id})
        if review.followed_up_at is not None:
            return Recorded(review, False)
        review.followed_up_at = now
        review.followed_up_by = by if by is not None and by.is_authenticated else None
        review.follow_up_note = note
        review.save(update_fields=["followed_up_at", "followed_up_by", "follow_up_note"])
        return Recorded(review, True)


def anonymise_reviews(*, member_ids) -> int:
    """Within an erasure: the person's words go, the ratings stay for the stores' figures."""
    return Review.objects.filter(member_id__in=member_ids).update(comment="", follow_up_note="")


# --- the staff page's figures ----------------------------------------------------------------


def _rounded(value) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class MonthFigure:
    month: date
    count: int
    average: Decimal | None


@dataclass(frozen=True)
class StoreFigures:
    store: Store
    count: int
    average: Decimal | None
    to_follow_up: int
    recent_count: int  # the last 30 days
    recent_average: Decimal | None
    previous_count: int  # the 30 days before
    previous_average: Decimal | None
    months: list[MonthFigure]

    @property
    def change(self) -> Decimal | None:
        """The last 30 days' average minus the 30 days' before: the trend in one number."""
        if self.recent_average is None or self.previous_average is None:
            return None
        return self.recent_average - self.previous_average


def _month_starts(now: datetime, count: int) -> list[date]:
    first = timezone.localtime(now).date().replace(day=1)
    months = [first]
    while len(months) < count:
        previous = months[-1] - timedelta(days=1)
        months.append(previous.replace(day=1))
    return list(reversed(months))


def store_summaries(*, stores) -> dict[int, dict]:
    """Per store: count, average rating and follow-ups waiting, in one grouped query."""
    rows = (Review.objects.filter(store__in=stores).values("store_id")
            .annotate(count=Count("id"), average=Avg("rating"),
                      to_follow_up=Count("id", filter=Q(needs_follow_up=True,
                                                         followed_up_at__isnull=True))))
    return {row["store_id"]: {"count": row["count"], "average": _rounded(row["average"]),
                              "to_follow_up": row["to_follow_up"]} for row in rows}


def store_figures(*, store: Store, now: datetime | None = None) -> StoreFigures:
    """A store's figures: totals and the 30-day trend in one query, the average per month
    over the last six months in another."""
    now = now or timezone.now()
    recent = now - timedelta(days=TREND_DAYS)
    previous = recent - timedelta(days=TREND_DAYS)
    reviews = Review.objects.filter(store=store)
    in_recent = Q(created_at__gt=recent, created_at__lte=now)
    in_previous = Q(created_at__gt=previous, created_at__lte=recent)
    totals = reviews.aggregate(
        count=Count("id"), average=Avg("rating"),
        to_follow_up=Count("id", filter=Q(needs_follow_up=True, followed_up_at__isnull=True)),
        recent_count=Count("id", filter=in_recent),
        recent_average=Avg("rating", filter=in_recent),
        previous_count=Count("id", filter=in_previous),
        previous_average=Avg("rating", filter=in_previous))
    starts = _month_starts(now, TREND_MONTHS)
    since = timezone.make_aware(datetime.combine(starts[0], datetime.min.time()))
    by_month = {
        (row["month"].date() if isinstance(row["month"], datetime) else row["month"]): row
        for row in (reviews.filter(created_at__gte=since, created_at__lte=now)
                    .annotate(month=TruncMonth("created_at")).values("month")
                    .annotate(count=Count("id"), average=Avg("rating")).order_by("month"))}
    months = [MonthFigure(month=start, count=by_month[start]["count"] if start in by_month
                          else 0,
                          average=_rounded(by_month[start]["average"]) if start in by_month
                          else None)
              for start in starts]
    return StoreFigures(
        store=store, count=totals["count"], average=_rounded(totals["average"]),
        to_follow_up=totals["to_follow_up"], recent_count=totals["recent_count"],
        recent_average=_rounded(totals["recent_average"]),
        previous_count=totals["previous_count"],
        previous_average=_rounded(totals["previous_average"]), months=months)


def latest_reviews(*, store: Store, limit: int = LATEST) -> list[Review]:
    return list(Review.objects.filter(store=store)
                .select_related("purchase", "member", "followed_up_by")
                .order_by("-created_at", "-id")[:limit])


def reviews_to_follow_up(*, store: Store, limit: int = 50) -> list[Review]:
    """The low ratings not yet followed up, oldest first: they have waited longest."""
    return list(Review.objects.filter(store=store, needs_follow_up=True,
                                      followed_up_at__isnull=True)
                .select_related("purchase", "member").order_by("created_at", "id")[:limit])


def count_to_follow_up(*, stores) -> int:
    return Review.objects.filter(store__in=stores, needs_follow_up=True,
                                 followed_up_at__isnull=True).count()
