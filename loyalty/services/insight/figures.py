"""What the insight page, the member pages and the API read: selectors, never writers.

Everything here is an aggregate over the tables the nightly insight run writes
(MemberInsight, InsightSnapshot, ClvFit, InsightRun), over the members' balances
and over the points ledger: a fixed number of queries whatever the number of
members. Only active members count (merged and erased ones are records).

Definitions (the README repeats them):
- Points liability: what members hold and may still spend, spendable (balances
  above zero; a balance below zero after a refund owes, it is not a credit) plus
  pending (inside the return window), valued at Programme.point_value.
- Points per month (the programme's time zone): *issued* are new points, earned
  (`earn`), opening balances migrated from a previous programme (`migration`) and
  positive adjustments; *redeemed* are points spent on rewards (`redeem`) less
  redemptions cancelled (`cancel` gives them back); *expired* are points lapsed
  (`expire`); *taken back* are refund reversals and negative adjustments. Merges
  move points between two members and are left out.
- Breakage rate: of the points that left balances by being used or by lapsing,
  the share that lapsed: expired / (expired + redeemed). Points issued in the same
  month are not the denominator: they expire a validity period later, so such a
  ratio would compare points of different years; points still held are not settled.
  Shown per month and over the last twelve months.
- Active members: a purchase within the programme's RFM window (recency_days at
  most rfm_window_days, as of the last insight run). Repeat-purchase rate:
  customers (members with a purchase) with two purchases or more, all time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Avg,
    Count,
    F,
    Max,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncMonth
from django.utils import timezone

from loyalty.models import (
    ClvFit,
    InsightRun,
    InsightSnapshot,
    Member,
    MemberInsight,
    PointsEntry,
    Programme,
    Segment,
    Stage,
)

CENT = Decimal("0.01")
ACTIVE = Q(member__status=Member.Status.ACTIVE)
Kind = PointsEntry.Kind
ISSUED = Q(kind__in=[Kind.EARN, Kind.MIGRATION]) | Q(kind=Kind.ADJUST, points__gt=0)
REDEEMED = Q(kind__in=[Kind.REDEEM, Kind.CANCEL])
EXPIRED = Q(kind=Kind.EXPIRE)
TAKEN_BACK = Q(kind=Kind.REFUND) | Q(kind=Kind.ADJUST, points__lt=0)
SHADES = 5
CALL_STAGES = (Stage.AT_RISK, Stage.LAPSED)


def money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def ratio(part: int, whole: int) -> Decimal | None:
    """part / whole as a percentage with one decimal, None when whole is 0."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


# --- points ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Liability:
    spendable: int
    pending: int
    point_value: Decimal
    currency: str
    members: int

    @property
    def points(self) -> int:
        return self.spendable + self.pending

    @property
    def value(self) -> Decimal:
        return money(Decimal(self.points) * self.point_value)


def points_liability(*, programme: Programme) -> Liability:
    """Spendable and pending points of the active members, and their value. One query."""
    totals = Member.objects.filter(status=Member.Status.ACTIVE).aggregate(
        spendable=Sum("balance", filter=Q(balance__gt=0)), pending=Sum("pending"),
        members=Count("pk"))
    return Liability(spendable=totals["spendable"] or 0, pending=totals["pending"] or 0,
                     point_value=programme.point_value, currency=programme.currency,
                     members=totals["members"])


@dataclass(frozen=True)
class PointsMonth:
    month: date
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    taken_back: int = 0

    @property
    def breakage(self) -> Decimal | None:
        return ratio(self.expired, self.expired + self.redeemed)


def month_starts(*, months: int, now: datetime) -> list[date]:
    """The first days of the last `months` months, oldest first, this month included."""
    today = timezone.localdate(now)
    year, month = today.year, today.month
    starts = []
    for _ in range(months):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def points_by_month(*, months: int = 24, now: datetime | None = None) -> list[PointsMonth]:
    """Points issued, redeemed, expired and taken back per month; months without any
    movement are there with zeros. One query (a range of the created_at index)."""
    now = now or timezone.now()
    starts = month_starts(months=months, now=now)
    first = timezone.make_aware(datetime.combine(starts[0], datetime.min.time()))
    rows = (PointsEntry.objects.filter(created_at__gte=first)
            .annotate(month=TruncMonth("created_at")).values("month")
            .annotate(issued=Sum("points", filter=ISSUED), redeemed=Sum("points", filter=REDEEMED),
                      expired=Sum("points", filter=EXPIRED),
                      taken_back=Sum("points", filter=TAKEN_BACK))
            .order_by("month"))
    found = {}
    for row in rows:
        month = row["month"]
        if isinstance(month, datetime):
            month = timezone.localdate(month) if timezone.is_aware(month) else month.date()
        found[month] = PointsMonth(month=month, issued=row["issued"] or 0,
                                   redeemed=-(row["redeemed"] or 0),
                                   expired=-(row["expired"] or 0),
                                   taken_back=-(row["taken_back"] or 0))
    return [found.get(start, PointsMonth(month=start)) for start in starts]


def breakage_over(rows: list[PointsMonth]) -> Decimal | None:
    """The breakage rate over several months (the definition above)."""
    expired = sum(row.expired for row in rows)
    return ratio(expired, expired + sum(row.redeemed for row in rows))


# --- customers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    scored: int  # members the last run looked at
    customers: int  # with at least one purchase
    active: int  # a purchase within the RFM window
    repeat_customers: int  # two purchases or more
    window_days: int

    @property
    def repeat_rate(self) -> Decimal | None:
        return ratio(self.repeat_customers, self.customers)


def activity(*, programme: Programme) -> Activity:
    """Active members and repeat customers, as of the last insight run. One query."""
    window = programme.rfm_window_days
    totals = MemberInsight.objects.filter(ACTIVE).aggregate(
        scored=Count("pk"), customers=Count("pk", filter=Q(purchases__gte=1)),
        active=Count("pk", filter=Q(recency_days__lte=window)),
        repeat=Count("pk", filter=Q(purchases__gte=2)))
    return Activity(scored=totals["scored"], customers=totals["customers"],
                    active=totals["active"], repeat_customers=totals["repeat"],
                    window_days=window)


@dataclass(frozen=True)
class Cell:
    r: int
    f: int
    members: int = 0
    average_spend: Decimal | None = None
    shade: int = 0  # 0 empty, 1..5 from the lowest to the highest average spend


@dataclass(frozen=True)
class RfmGrid:
    rows: list[list[Cell]]  # frequency 5 (top) to 1, each recency 1 (left) to 5
    scored: int
    top_spend: Decimal | None

    @property
    def cells(self) -> list[Cell]:
        return [cell for row in self.rows for cell in row]


def shade_for(average: Decimal | None, top: Decimal | None) -> int:
    if average is None:
        return 0
    if not top or top <= 0 or average <= 0:
        return 1
    return max(1, min(SHADES, math.ceil(SHADES * average / top)))


def rfm_grid() -> RfmGrid:
    """Members per (R, F) cell with their average spend in the RFM window. One query."""
    rows = (MemberInsight.objects.filter(ACTIVE, r__isnull=False, f__isnull=False)
            .values("r", "f").annotate(members=Count("pk"), average=Avg("monetary"))
            .order_by())
    found = {(row["r"], row["f"]): row for row in rows}
    averages = [money(row["average"]) for row in found.values() if row["average"] is not None]
    top = max(averages) if averages else None
    grid = []
    for f in range(5, 0, -1):
        line = []
        for r in range(1, 6):
            row = found.get((r, f))
            if row is None:
                line.append(Cell(r=r, f=f))
                continue
            average = money(row["average"]) if row["average"] is not None else None
            line.append(Cell(r=r, f=f, members=row["members"], average_spend=average,
                             shade=shade_for(average, top)))
        grid.append(line)
    return RfmGrid(rows=grid, scored=sum(row["members"] for row in found.values()),
                   top_spend=top)


@dataclass(frozen=True)
class SegmentSize:
    code: str
    name: str
    members: int
    previous: int | None  # None: no earlier snapshot to compare with
    segment: Segment | None = None

    @property
    def change(self) -> int | None:
        return None if self.previous is None else self.members - self.previous

    @property
    def change_size(self) -> int | None:
        return None if self.change is None else abs(self.change)


@dataclass(frozen=True)
class SegmentSizes:
    segments: list[SegmentSize]
    baseline: date | None  # the month of the snapshot compared with
    unsegmented: int = 0
    total: int = 0


def segment_sizes(*, now: datetime | None = None) -> SegmentSizes:
    """Members per segment now, and in the latest monthly snapshot before this month.
    Three queries: the segments, the counts now, the counts then."""
    now = now or timezone.now()
    this_month = timezone.localdate(now).replace(day=1)
    segments = list(Segment.objects.order_by("pk"))
    counts = dict(MemberInsight.objects.filter(ACTIVE).values("segment_id")
                  .annotate(n=Count("pk")).order_by().values_list("segment_id", "n"))
    latest = (InsightSnapshot.objects.filter(month__lt=this_month).order_by("-month")
              .values("month")[:1])
    then = list(InsightSnapshot.objects.filter(month=Subquery(latest))
                .values("month", "segment_code").annotate(n=Sum("members"))
                .order_by().values_list("month", "segment_code", "n"))
    baseline = then[0][0] if then else None
    before = {code: n for _month, code, n in then}
    sizes = []
    for segment in segments:
        members = counts.get(segment.pk, 0)
        if not segment.active and not members and not before.get(segment.code):
            continue
        sizes.append(SegmentSize(code=segment.code, name=segment.name, members=members,
                                 previous=before.get(segment.code, 0) if then else None,
                                 segment=segment))
    sizes.sort(key=lambda size: (-size.members, size.code))
    return SegmentSizes(segments=sizes, baseline=baseline,
                        unsegmented=counts.get(None, 0), total=sum(counts.values()))


# --- lifetime value -------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    low: Decimal
    high: Decimal
    members: int


@dataclass(frozen=True)
class ValueDistribution:
    fit: ClvFit | None
    buckets: list[Bucket] = field(default_factory=list)
    members: int = 0
    total: Decimal = Decimal("0.00")
    needed: int = 0  # repeat customers the programme asks for before predicting

    @property
    def available(self) -> bool:
        return self.fit is not None and self.fit.status == ClvFit.Status.OK


def latest_fit() -> ClvFit | None:
    return ClvFit.objects.order_by("-fitted_at", "-id").first()


def value_edges(top: Decimal, *, most: int = 10) -> list[Decimal]:
    """Bucket edges 0, then 1-2-5 steps up to the first at or above `top`, at most
    `most` buckets (the smallest steps merge into the first bucket). Lifetime
    values are heavy-tailed: equal widths would put nearly everyone in the first bar."""
    if top <= 0:
        return [Decimal(0), Decimal(1)]
    steps = []
    exponent = 0
    while not steps or steps[-1] < top:
        for digit in (1, 2, 5):
            steps.append(Decimal(digit) * Decimal(10) ** exponent)
            if steps[-1] >= top:
                break
        exponent += 1
    return [Decimal(0), *steps[-most:]]


def value_distribution(*, programme: Programme, fit: ClvFit | None = None) -> ValueDistribution:
    """How many members fall in each band of predicted value. Nothing when the latest fit
    is not usable: the page says why, from the fit's counts. Two queries (three when the
    fit is not given)."""
    fit = fit if fit is not None else latest_fit()
    needed = programme.clv_min_repeat_customers
    if fit is None or fit.status != ClvFit.Status.OK:
        return ValueDistribution(fit=fit, needed=needed)
    valued = MemberInsight.objects.filter(ACTIVE, predicted_value__isnull=False)
    totals = valued.aggregate(members=Count("pk"), top=Max("predicted_value"),
                              total=Sum("predicted_value"))
    if not totals["members"]:
        return ValueDistribution(fit=fit, needed=needed)
    edges = value_edges(money(totals["top"]))
    bands = {}
    for index, (low, high) in enumerate(zip(edges, edges[1:], strict=False)):
        last = index == len(edges) - 2
        bands[f"b{index}"] = Count("pk", filter=Q(predicted_value__gte=low) & (
            Q(predicted_value__lte=high) if last else Q(predicted_value__lt=high)))
    counts = valued.aggregate(**bands)
    buckets = [Bucket(low=low, high=high, members=counts[f"b{index}"])
               for index, (low, high) in enumerate(zip(edges, edges[1:], strict=False))]
    return ValueDistribution(fit=fit, buckets=buckets, members=totals["members"],
                             total=money(totals["total"]), needed=needed)


def members_to_call(*, by_prediction: bool, limit: int = 20) -> list[MemberInsight]:
    """At-risk and lapsed members worth the most: by predicted value when the model could
    be fitted, else by what they spent. One query."""
    order = ([F("predicted_value").desc(nulls_last=True), "-historic_value"] if by_prediction
             else ["-historic_value"])
    return list(MemberInsight.objects.filter(ACTIVE, stage__in=CALL_STAGES)
                .select_related("member", "segment").order_by(*order, "member_id")[:limit])


def latest_run() -> InsightRun | None:
    """The last finished insight run: when the figures were computed."""
    return (InsightRun.objects.filter(finished_at__isnull=False)
            .order_by("-finished_at", "-id").first())


# --- member lists ---------------------------------------------------------------------------


def insight_members(*, r: int | None = None, f: int | None = None,
                    segment: Segment | None = None, stage: str | None = None,
                    m: int | None = None) -> QuerySet:
    """Active members' insight rows matching every filter given, most valuable first."""
    rows = MemberInsight.objects.filter(ACTIVE).select_related("member", "segment")
    if r is not None:
        rows = rows.filter(r=r)
    if f is not None:
        rows = rows.filter(f=f)
    if m is not None:
        rows = rows.filter(m=m)
    if segment is not None:
        rows = rows.filter(segment=segment)
    if stage is not None:
        rows = rows.filter(stage=stage)
    return rows.order_by(F("predicted_value").desc(nulls_last=True), "-historic_value",
                         "member_id")


def segment_counts() -> dict[int, int]:
    """Active members per segment id. One query."""
    return dict(MemberInsight.objects.filter(ACTIVE, segment__isnull=False)
                .values("segment_id").annotate(n=Count("pk")).order_by()
                .values_list("segment_id", "n"))


def members_in_segment(segment: Segment) -> QuerySet:
    """Active members of a segment, by id, ready for the API's member payload."""
    return (Member.objects.filter(status=Member.Status.ACTIVE, insight__segment=segment)
            .select_related("tier", "insight__segment").order_by("pk"))


# --- the page -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    run: InsightRun | None
    liability: Liability
    months: list[PointsMonth]
    breakage_12: Decimal | None
    activity: Activity
    grid: RfmGrid
    segments: SegmentSizes
    value: ValueDistribution
    to_call: list[MemberInsight]
    programme: Programme


def overview(*, programme: Programme, now: datetime | None = None) -> Overview:
    """Every figure of the insight page, in a fixed number of queries (about a dozen)."""
    now = now or timezone.now()
    months = points_by_month(months=24, now=now)
    value = value_distribution(programme=programme)
    return Overview(
        run=latest_run(), liability=points_liability(programme=programme), months=months,
        breakage_12=breakage_over(months[-12:]), activity=activity(programme=programme),
        grid=rfm_grid(), segments=segment_sizes(now=now), value=value,
        to_call=members_to_call(by_prediction=value.available), programme=programme)

