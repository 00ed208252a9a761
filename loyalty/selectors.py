"""Read-side queries shared by the pages, the API and the admin."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, F, Max, Sum
from django.utils import timezone

from loyalty.models import Member, PointsEntry, PointsLot, Purchase, Tier


def member_for_user(user) -> Member | None:
    if not user.is_authenticated:
        return None
    return Member.objects.select_related("tier").filter(user=user, status="active").first()


def expiring_points(*, member: Member, within_days: int | None = None) -> list[dict]:
    """Spendable points grouped by expiry date, soonest first."""
    lots = PointsLot.objects.filter(member=member, remaining__gt=0)
    if within_days is not None:
        lots = lots.filter(expires_at__lte=timezone.now() + timedelta(days=within_days))
    rows = (lots.values("expires_at").annotate(points=Sum("remaining")).order_by("expires_at"))
    return [{"points": row["points"], "expires_at": row["expires_at"]} for row in rows]


@dataclass(frozen=True)
class PurchaseFigures:
    spend: Decimal  # net of refunds
    visits: int  # purchases, refunded or not
    average_basket: Decimal | None
    last_purchase_at: datetime | None


def purchase_figures(*, member_id: int) -> PurchaseFigures:
    """A member's spend, visits, average basket and last purchase: one aggregate."""
    row = Purchase.objects.filter(member_id=member_id).aggregate(
        spend=Sum(F("amount") - F("refunded_amount")), visits=Count("id"),
        last=Max("occurred_at"))
    spend = Decimal(row["spend"] or 0).quantize(Decimal("0.01"))
    visits = row["visits"] or 0
    average = (spend / visits).quantize(Decimal("0.01")) if visits else None
    return PurchaseFigures(spend=spend, visits=visits, average_basket=average,
                           last_purchase_at=row["last"])


def recent_entries(*, member: Member, limit: int = 10):
    return PointsEntry.objects.filter(member=member).order_by("-id")[:limit]


def next_tier(*, member: Member) -> Tier | None:
    rank = member.tier.rank if member.tier else -1
    return Tier.objects.filter(rank__gt=rank).order_by("rank").first()


# --- What the API and the pages show of members ------------------------------------------


def member_payloads(members: list[Member], *, store=None, insight: bool = False) -> list[dict]:
    """Members as the contract shows them, in two queries for any number of members (their
    insight rows come with them: `select_related("insight__segment")`, as active_member and
    find_members do; one more query for those that came without).

    `insight`: add each member's scores, segment, stage and value (the `insight:read` scope).
    """
    from loyalty.models import ExternalId

    ids = [member.pk for member in members]
    insights = insight_rows(members)
    expiring: dict[int, list[dict]] = {pk: [] for pk in ids}
    rows = (PointsLot.objects.filter(member_id__in=ids, remaining__gt=0, released=True)
            .values_list("member_id", "expires_at").annotate(points=Sum("remaining"))
            .order_by())
    for member_id, expires_at, points in sorted(rows):  # sorted here: cheaper than ORDER BY
        expiring[member_id].append({"points": points, "expires_at": expires_at})
    external = {}
    if store is not None and ids:
        external = dict(ExternalId.objects.filter(member_id__in=ids, store=store)
                        .values_list("member_id", "value"))
    horizon = _horizon(insights.values()) if insight else None
    return [_payload(member, row=insights[member.pk], expiring=expiring[member.pk],
                     external_id=external.get(member.pk), insight=insight, horizon=horizon)
            for member in members]


def member_payload(member_id, *, store, insight: bool = False) -> dict | None:
    """One active member as member_payloads shows it (following merges, as active_member
    does), or None: what GET /members/{id}/ answers.

    On PostgreSQL, one statement (member, insight and segment, external id, expiring
    points) whose SQL is built once per process from the models' metadata: compiling the
    ORM's three queries cost about five times what PostgreSQL takes to run them, and the
    member read is the API's most frequent call. Elsewhere (SQLite), the ORM path; the
    tests hold both to the same answer.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        member = active_member(member_id)
        return None if member is None else member_payloads(
            [member], store=store, insight=insight)[0]
    try:
        member_id = int(member_id)
    except (TypeError, ValueError):
        return None
    statement, splits = _member_statement()
    for _hop in range(10):
        with connection.cursor() as cursor:
            cursor.execute(statement, [store.pk if store is not None else None, member_id])
            found = cursor.fetchone()
        if found is None:
            return None
        member, row, external_id, dates, points = _from_row(found, splits)
        if member.status != Member.Status.MERGED:
            break
        member_id = member.merged_into_id
    else:
        return None
    if not member.is_active:
        return None
    expiring = [{"points": p, "expires_at": d} for d, p in zip(dates or (), points or (),
                                                                strict=True)]
    return _payload(member, row=row, expiring=expiring, external_id=external_id,
                    insight=insight, horizon=_horizon([row]) if insight else None)


def _payload(member: Member, *, row, expiring: list[dict], external_id, insight: bool,
             horizon: int | None) -> dict:
    payload = {
        "id": member.pk,
        "card_number": member.card_number,
        "email": member.email,
        "phone": member.phone,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "external_id": external_id,
        "tier": {"code": member.tier.code, "name": member.tier.name} if member.tier else None,
        "points": {"balance": member.balance, "pending": member.pending,
                   "lifetime_earned": member.lifetime_earned,
                   "expiring": expiring},
        "segment": segment_ref(row),
        "created_at": member.created_at,
    }
    if insight:
        payload["insight"] = insight_payload(row, horizon=horizon)
    return payload


def _horizon(rows) -> int | None:
    return clv_horizon_months() if any(
        row is not None and row.predicted_value is not None for row in rows) else None


@functools.cache
def _member_statement() -> tuple[str, tuple[int, int, int]]:
    """The SQL of member_payload, and where the member's, insight's and segment's columns
    end in its rows (the last three columns: external id, expiry dates, their points)."""
    from loyalty.models import ExternalId, MemberInsight, Segment

    def columns(model, alias):
        return [f'{alias}."{field.column}"' for field in model._meta.concrete_fields]

    member, insight, segment = (columns(Member, "m"), columns(MemberInsight, "i"),
                                columns(Segment, "s"))
    lot, external = PointsLot._meta, ExternalId._meta
    # Table and column names from the models; values are parameters.
    sql = f"""
        SELECT {", ".join(member + insight + segment)},
          (SELECT e."value" FROM "{external.db_table}" e
            WHERE e."member_id" = m."id" AND e."store_id" = %s ORDER BY e."id" DESC LIMIT 1),
          x.dates, x.points
        FROM "{Member._meta.db_table}" m
        LEFT JOIN "{MemberInsight._meta.db_table}" i ON i."member_id" = m."id"
        LEFT JOIN "{Segment._meta.db_table}" s ON s."id" = i."segment_id"
        LEFT JOIN LATERAL (
          SELECT array_agg(g.expires_at ORDER BY g.expires_at) AS dates,
                 array_agg(g.points ORDER BY g.expires_at) AS points
          FROM (SELECT l."expires_at", SUM(l."remaining") AS points FROM "{lot.db_table}" l
                WHERE l."member_id" = m."id" AND l."remaining" > 0 AND l."released"
                GROUP BY l."expires_at") g) x ON true
        WHERE m."id" = %s"""  # noqa: S608
    ends = (len(member), len(member) + len(insight), len(member) + len(insight) + len(segment))
    return sql, ends


def _from_row(found, ends):
    """Model instances from a row of _member_statement, as the ORM would build them."""
    from django.db import connection

    from loyalty.models import MemberInsight, Segment
    from loyalty.services.earning import all_tiers

    def build(model, values):
        names = [field.attname for field in model._meta.concrete_fields]
        return model.from_db(connection.alias, names, list(values))

    member_end, insight_end, segment_end = ends
    member = build(Member, found[:member_end])
    row = None
    if found[member_end] is not None:  # the insight row's id
        row = build(MemberInsight, found[member_end:insight_end])
        segment = (build(Segment, found[insight_end:segment_end])
                   if found[insight_end] is not None else None)
        MemberInsight.segment.field.set_cached_value(row, segment)
    if member.tier_id is not None:
        # From the configuration cache, as the ledger does; a tier missing from it loads
        # lazily as usual.
        tier = next((tier for tier in all_tiers() if tier.pk == member.tier_id), None)
        if tier is not None:
            Member.tier.field.set_cached_value(member, tier)
    external_id, dates, points = found[segment_end:]
    return member, row, external_id, dates, points


# --- What the API shows of a member's insight (scores, segment, stage, value) ---------------


def insight_rows(members: list[Member]) -> dict:
    """{member id: MemberInsight or None}, from what the members came with; one query for
    those fetched without `select_related("insight")`."""
    from loyalty.models import MemberInsight

    rows, missing = {}, []
    for member in members:
        if Member.insight.is_cached(member):
            rows[member.pk] = getattr(member, "insight", None)
        else:
            missing.append(member.pk)
    if missing:
        rows.update(dict.fromkeys(missing))
        for row in MemberInsight.objects.filter(member_id__in=missing).select_related("segment"):
            rows[row.member_id] = row
    return rows


def clv_horizon_months() -> int | None:
    """The horizon of the latest usable lifetime value fit (cached like the configuration)."""
    from loyalty.models import ClvFit
    from loyalty.services import settings_cache

    horizon = settings_cache.cached(settings_cache.CLV_HORIZON, lambda: ClvFit.objects.filter(
        status=ClvFit.Status.OK).order_by("-fitted_at", "-id").values_list(
        "horizon_months", flat=True).first() or 0)
    return horizon or None


def segment_ref(row) -> dict | None:
    """The contract v1 `segment`: {rfm, name} where `name` is the segment's code (stable, as
    the contract's "champions" shows) and `rfm` its RFM code."""
    if row is None or row.segment is None or not row.rfm_code:
        # v1 promises a string `rfm`: a member in a segment without a score (a rule on the
        # stage alone) shows no v1 segment; `insight.segment` (insight:read) has it.
        return None
    return {"rfm": row.rfm_code, "name": row.segment.code}


def insight_payload(row, *, horizon: int | None) -> dict:
    """`insight` of the member resource; null parts where nothing could be computed."""
    from loyalty.models import Stage

    if row is None:  # never computed for this member (joined since the last run)
        return {"rfm": None, "segment": None, "stage": {"code": Stage.PROSPECT, "since": None},
                "clv": None}
    rfm = None
    if row.r is not None:
        rfm = {"r": row.r, "f": row.f, "m": row.m, "code": row.rfm_code,
               "recency_days": row.recency_days, "frequency": row.frequency,
               "monetary": row.monetary, "computed_at": row.computed_at}
    segment = None
    if row.segment is not None:
        segment = {"code": row.segment.code, "name": row.segment.name,
                   "since": row.segment_since}
    predicted = row.predicted_value is not None
    return {
        "rfm": rfm,
        "segment": segment,
        "stage": {"code": row.stage, "since": row.stage_since},
        "clv": {"historic": row.historic_value,
                "predicted": row.predicted_value,
                "horizon_months": horizon if predicted else None,
                "p_alive": row.p_alive,
                "expected_purchases": row.expected_purchases,
                "computed_at": row.clv_at if predicted and row.clv_at else row.computed_at},
    }


def active_member(member_id) -> Member | None:
    """An active member by id, following merges to the survivor."""
    seen = 0
    while member_id is not None and seen < 10:
        try:
            member = Member.objects.select_related("tier", "insight__segment").get(pk=member_id)
        except (Member.DoesNotExist, ValueError, TypeError):
            return None
        if member.status != Member.Status.MERGED:
            return member if member.is_active else None
        member_id, seen = member.merged_into_id, seen + 1
    return None


def transactions(*, member: Member):
    return (PointsEntry.objects.filter(member=member).select_related("lot")
            .order_by("-created_at", "-id"))


def describe_scale() -> list[str]:
    """The live points scale in words, for the e-shop and the public page: sentences
    generated from the rules' numbers (see loyalty.ways_to_earn)."""
    from loyalty.ways_to_earn import describe_scale as sentences

    return sentences()


def find_members(*, store=None, email: str = "", phone: str = "", card_number: str = "",
                 external_id: str = ""):
    """Active members holding all the given identities (normalised as the services store
    them). A merged duplicate's identities still find the person: its survivor.
    Raises Invalid for a malformed email or phone."""
    from loyalty.models import ExternalId
    from loyalty.services.cards import normalise_card_number
    from loyalty.services.members import follow_merges, normalise_email, normalise_phone

    holders = Member.objects.exclude(status=Member.Status.DELETED)
    if email:
        holders = holders.filter(email=normalise_email(email))
    if phone:
        holders = holders.filter(phone=normalise_phone(phone))
    if card_number:
        holders = holders.filter(cards__number=normalise_card_number(card_number))
    if external_id:
        holders = holders.filter(pk__in=ExternalId.objects.filter(
            store=store, value=external_id).values("member_id"))
    ids = {follow_merges(holder).pk for holder in holders.distinct()[:50]}
    return Member.objects.select_related("tier", "insight__segment").filter(
        pk__in=ids, status=Member.Status.ACTIVE)


def action_points(*, event_type: str) -> int:
    """The points an action earns now (its active rule's), 0 when no rule is active."""
    from loyalty.models import ActionRule

    rule = ActionRule.objects.filter(event_type=event_type, active=True).only("points").first()
    return rule.points if rule is not None else 0
