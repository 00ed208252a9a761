"""Campaigns with a control group: who they reach, sending them once, and what they caused.

The audience is the active members matching every filter given (segments, stages,
tiers, RFM scores) who consented to marketing on the campaign's channel: a
campaign is always marketing. `send_campaign` freezes it once, under the
campaign's row lock, into `CampaignMember` rows: a member is in the holdout when
the first 32 bits of md5("<salt>:<campaign id>:<member id>") fall below the
holdout share, so the split is reproducible and anyone can check it. Then one
message per member of the sent group is queued through `delivery.queue`
(occasion `campaign:<campaign>:<member>`), sent within consent, caps and quiet
hours like every marketing message. A member of the sent group whose message the
caps held back still counts as sent: the comparison is of the groups as drawn
(intention to treat), the only one the random draw makes honest.

`results` compares the groups over the window after sending: purchase rate and
spend per member, the difference and its 95 % confidence interval, in two
aggregate queries whatever the audience's size.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from statistics import NormalDist

from django.db import connection, transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import Campaign, CampaignMember, Channel, Member, Message, Multiplier, Purpose
from loyalty.models.campaigns import SCORE_RANGES
from loyalty.models.insight import Stage
from loyalty.models.messaging import CAMPAIGN_KIND
from loyalty.services.errors import Conflict, NotFound
from loyalty.services.handoff import run_task
from loyalty.services.messaging import delivery

Status = Campaign.Status
Group = CampaignMember.Group
CHUNK = 1000
CONFIDENCE = 0.95
CENT = Decimal("0.01")


class CampaignNotEditable(Conflict):
    code = "campaign_not_editable"
    default_message = _("This campaign was already sent or cancelled.")


class CampaignNotScheduled(Conflict):
    code = "campaign_needs_a_date"
    default_message = _("Give the date and time to send it at.")


# --- the audience ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudienceFilter:
    """Who a campaign is for: every filter given must hold; within one, any value chosen."""

    channel: str = Channel.EMAIL
    segment_ids: tuple[int, ...] = ()
    stages: tuple[str, ...] = ()
    tier_ids: tuple[int, ...] = ()
    scores: dict[str, int | None] = field(default_factory=dict)  # r_min, r_max, f_min...

    @classmethod
    def of(cls, campaign: Campaign) -> AudienceFilter:
        """A saved campaign's filters (two queries for its segments and tiers)."""
        return cls(channel=campaign.channel,
                   segment_ids=tuple(campaign.segments.values_list("pk", flat=True)),
                   stages=tuple(campaign.stages or ()),
                   tier_ids=tuple(campaign.tiers.values_list("pk", flat=True)),
                   scores={name: getattr(campaign, name)
                           for pair in SCORE_RANGES for name in pair})


@dataclass(frozen=True)
class AudienceSize:
    matching: int   # active members matching the filters
    consented: int  # of whom consented to the channel: the campaign's audience


def consent(channel: str) -> Q:
    """Members the messaging rules would let a marketing message reach on this channel."""
    if channel == Channel.SMS:
        return Q(sms_marketing=True) & ~Q(phone="")
    if channel == Channel.EMAIL:
        return Q(email_marketing=True) & ~Q(email="")
    return Q(email_marketing=True)  # the shop's own tool: the rules ask the email consent


def matching(filters: AudienceFilter) -> QuerySet[Member]:
    """Active members matching the filters, consent aside."""
    members = Member.objects.filter(status=Member.Status.ACTIVE)
    if filters.segment_ids:
        members = members.filter(insight__segment_id__in=filters.segment_ids)
    if filters.stages:
        at_stage = Q(insight__stage__in=filters.stages)
        if Stage.PROSPECT in filters.stages:  # not scored yet: a prospect
            at_stage |= Q(insight__isnull=True)
        members = members.filter(at_stage)
    if filters.tier_ids:
        members = members.filter(tier_id__in=filters.tier_ids)
    for low, high in SCORE_RANGES:
        score = low[0]
        if filters.scores.get(low) is not None:
            members = members.filter(**{f"insight__{score}__gte": filters.scores[low]})
        if filters.scores.get(high) is not None:
            members = members.filter(**{f"insight__{score}__lte": filters.scores[high]})
    return members


def audience(campaign: Campaign | AudienceFilter) -> QuerySet[Member]:
    """The members a campaign is for: matching its filters, consenting to its channel."""
    filters = campaign if isinstance(campaign, AudienceFilter) else AudienceFilter.of(campaign)
    return matching(filters).filter(consent(filters.channel))


def audience_size(campaign: Campaign | AudienceFilter) -> AudienceSize:
    """How many members match, and how many of them consented: one query."""
    filters = campaign if isinstance(campaign, AudienceFilter) else AudienceFilter.of(campaign)
    counts = matching(filters).aggregate(
        matching=Count("pk"), consented=Count("pk", filter=consent(filters.channel)))
    return AudienceSize(matching=counts["matching"], consented=counts["consented"])


# --- the draw ---------------------------------------------------------------------------------


def draw_prefix(campaign: Campaign) -> str:
    return f"{campaign.salt}:{campaign.pk}:"


def in_holdout(campaign: Campaign, member_id: int) -> bool:
    """The draw, for one member: the first 32 bits of the hash against the holdout share.
    The SQL of `_freeze_postgresql` computes the same."""
    digest = hashlib.md5(f"{draw_prefix(campaign)}{member_id}".encode(),
                         usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) * 100 < campaign.holdout_percent * 2 ** 32


def _freeze_postgresql(campaign: Campaign, members: QuerySet[Member]) -> None:
    subquery, params = members.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {CampaignMember._meta.db_table} (campaign_id, member_id, "group")
                SELECT %s, audience.id,
                       CASE WHEN ('x' || substr(md5(%s || audience.id::text), 1, 8))
                                 ::bit(32)::bigint * 100 < %s
                            THEN %s ELSE %s END
                FROM ({subquery}) AS audience (id)
                ON CONFLICT (campaign_id, member_id) DO NOTHING""",  # noqa: S608 - ORM SQL
            [campaign.pk, draw_prefix(campaign), campaign.holdout_percent * 2 ** 32,
             Group.HOLDOUT, Group.SENT, *params])


def _freeze_portable(campaign: Campaign, members: QuerySet[Member]) -> None:
    ids = members.order_by().values_list("pk", flat=True).iterator(chunk_size=CHUNK)
    batch: list[CampaignMember] = []
    for member_id in ids:
        group = Group.HOLDOUT if in_holdout(campaign, member_id) else Group.SENT
        batch.append(CampaignMember(campaign=campaign, member_id=member_id, group=group))
        if len(batch) >= CHUNK:
            CampaignMember.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    CampaignMember.objects.bulk_create(batch, ignore_conflicts=True)


# --- sending --------------------------------------------------------------------------------


def _message(campaign: Campaign, member_id: int, context: dict) -> Message:
    return Message(member_id=member_id, campaign=campaign, kind=CAMPAIGN_KIND,
                   occasion=f"campaign:{campaign.pk}:{member_id}", channel=campaign.channel,
                   purpose=Purpose.MARKETING, context=context)


def _offer(campaign: Campaign) -> None:
    """Double points for the sent group, between the offer's dates (never the holdout)."""
    if campaign.offer != Campaign.Offer.DOUBLE_POINTS:
        return
    Multiplier.objects.get_or_create(campaign=campaign, defaults={
        "name": campaign.name, "factor": Decimal("2.00"), "active": True,
        "starts_at": campaign.offer_starts_at, "ends_at": campaign.offer_ends_at})


def _queue(campaign: Campaign, batch: list[Message], *, now: datetime) -> int:
    """Queue a batch of the sent group's messages and give each member its voucher (the
    voucher offer), keyed by the message's occasion: given once, however often this runs.
    Every member of the sent group gets one, whether the rules later let the message go
    or not: the comparison with the holdout is of the groups as drawn."""
    queued = delivery.queue(batch, now=now)
    if campaign.offer == Campaign.Offer.VOUCHER and batch:
        from rewards.models import Voucher
        from rewards.services import grant_vouchers

        grant_vouchers(member_keys=[(m.member_id, m.occasion) for m in batch],
                       reward=campaign.offer_reward, expires_at=campaign.offer_ends_at,
                       source=Voucher.Source.CAMPAIGN, now=now)
    return queued


def send_campaign(*, campaign_id: int, now: datetime | None = None) -> int:
    """Freeze the audience into the sent group and the holdout, attach the offer, and queue
    one message per member of the sent group (with its voucher, for the voucher offer);
    returns how many were queued.

    Only a campaign being sent, or scheduled for `now` or earlier, is sent; a campaign
    sent already (by a rerun, another worker) or cancelled sends nothing. All in one
    transaction under the campaign's row lock, so nothing is half sent.
    """
    now = now or timezone.now()
    with transaction.atomic():
        campaign = (Campaign.objects.select_for_update(of=("self",))
                    .select_related("offer_reward").filter(pk=campaign_id).first())
        if campaign is None:
            return 0
        # Sent once means never again, whatever its status says since.
        due = campaign.sent_at is None and campaign.status == Status.SENDING or (
            campaign.sent_at is None and campaign.status == Status.SCHEDULED
            and campaign.scheduled_at is not None and campaign.scheduled_at <= now)
        if not due:
            return 0
        members = audience(campaign)
        if connection.vendor == "postgresql":
            _freeze_postgresql(campaign, members)
        else:
            _freeze_portable(campaign, members)
        _offer(campaign)
        context = {"path": reverse("home")}
        if campaign.offer in (Campaign.Offer.DOUBLE_POINTS, Campaign.Offer.VOUCHER):
            last = campaign.offer_ends_at - timedelta(microseconds=1)
            context["date"] = timezone.localdate(last).isoformat()
        if campaign.offer == Campaign.Offer.VOUCHER:
            context.update(voucher=True, path=reverse("rewards:vouchers"))
        sent_group = (CampaignMember.objects.filter(campaign=campaign, group=Group.SENT)
                      .order_by("member_id").values_list("member_id", flat=True))
        queued, batch = 0, []
        for member_id in sent_group.iterator(chunk_size=CHUNK):
            batch.append(_message(campaign, member_id, context))
            if len(batch) >= CHUNK:
                queued += _queue(campaign, batch, now=now)
                batch = []
        queued += _queue(campaign, batch, now=now)
        campaign.status, campaign.sent_at = Status.SENT, now
        campaign.save(update_fields=["status", "sent_at"])
    return queued


def vouchers_given(campaign: Campaign) -> int:
    """How many vouchers the campaign's voucher offer gave (0 for another offer)."""
    if campaign.offer != Campaign.Offer.VOUCHER or campaign.sent_at is None:
        return 0
    from rewards.models import Voucher

    return Voucher.objects.filter(source=Voucher.Source.CAMPAIGN,
                                  occasion_key__startswith=f"campaign:{campaign.pk}:").count()


def send_due(*, now: datetime | None = None) -> int:
    """Send every campaign whose time has come (beat, every few minutes); how many went."""
    now = now or timezone.now()
    due = (Campaign.objects.filter(Q(status=Status.SENDING)
                                   | Q(status=Status.SCHEDULED, scheduled_at__lte=now))
           .order_by("scheduled_at", "pk").values_list("pk", flat=True))
    sent = 0
    for campaign_id in list(due):
        before = Campaign.objects.filter(pk=campaign_id, status=Status.SENT).exists()
        send_campaign(campaign_id=campaign_id, now=now)
        sent += int(not before and Campaign.objects.filter(pk=campaign_id,
                                                             status=Status.SENT).exists())
    return sent


def _locked_editable(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound(fields={"campaign_id": campaign_id})
    if not campaign.editable:
        raise CampaignNotEditable(fields={"status": campaign.status})
    return campaign


def schedule_campaign(*, campaign_id: int) -> Campaign:
    """A draft (or a scheduled campaign) to be sent at its date. Raises NotFound,
    CampaignNotEditable, or CampaignNotScheduled without a date."""
    with transaction.atomic():
        campaign = _locked_editable(campaign_id)
        if campaign.scheduled_at is None:
            raise CampaignNotScheduled(fields={"scheduled_at": None})
        campaign.status = Status.SCHEDULED
        campaign.save(update_fields=["status"])
    return campaign


def send_now(*, campaign_id: int) -> Campaign:
    """Send it as soon as a worker can: marked sending, handed to a worker when this
    commits (and picked up by the beat's sweep if the broker refused it)."""
    with transaction.atomic():
        campaign = _locked_editable(campaign_id)
        campaign.status = Status.SENDING
        campaign.save(update_fields=["status"])
        transaction.on_commit(lambda: run_task("loyalty.tasks.send_campaign", campaign.pk))
    return campaign


def cancel_campaign(*, campaign_id: int) -> Campaign:
    """Cancel a campaign not sent yet. A worker that locks it after this sends nothing."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None:
            raise NotFound(fields={"campaign_id": campaign_id})
        if campaign.status not in (Status.DRAFT, Status.SCHEDULED, Status.SENDING):
            raise CampaignNotEditable(fields={"status": campaign.status})
        campaign.status = Status.CANCELLED
        campaign.save(update_fields=["status"])
    return campaign


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupResult:
    members: int
    purchasers: int
    spend: Decimal           # net spend of the group in the window
    spend_squares: Decimal   # the sum over members of their spend squared (for the variance)

    @property
    def purchase_rate(self) -> float | None:
        return self.purchasers / self.members if self.members else None

    @property
    def spend_per_member(self) -> Decimal | None:
        if not self.members:
            return None
        return (self.spend / self.members).quantize(CENT, ROUND_HALF_UP)

    @property
    def spend_variance(self) -> float | None:
        """The sample variance of spend per member (members who bought nothing count 0)."""
        if self.members < 2:
            return None
        mean = float(self.spend) / self.members
        return max(float(self.spend_squares) - self.members * mean * mean, 0.0) / (
            self.members - 1)


@dataclass(frozen=True)
class Difference:
    value: float
    low: float
    high: float

    @property
    def distinguishable(self) -> bool:
        """The interval leaves zero out: unlikely to be chance alone."""
        return self.low > 0 or self.high < 0


def rate_difference(sent: GroupResult, holdout: GroupResult,
                    confidence: float = CONFIDENCE) -> Difference | None:
    """Sent − holdout purchase rate, with the normal (Wald) two-proportion interval."""
    if sent.members == 0 or holdout.members == 0:
        return None
    p1, p2 = sent.purchase_rate, holdout.purchase_rate
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    error = z * math.sqrt(p1 * (1 - p1) / sent.members + p2 * (1 - p2) / holdout.members)
    return Difference(value=p1 - p2, low=p1 - p2 - error, high=p1 - p2 + error)


def spend_difference(sent: GroupResult, holdout: GroupResult,
                     confidence: float = CONFIDENCE) -> Difference | None:
    """Sent − holdout spend per member, with Welch's interval (unequal variances)."""
    from scipy import stats

    v1, v2 = sent.spend_variance, holdout.spend_variance
    if v1 is None or v2 is None:
        return None
    n1, n2 = sent.members, holdout.members
    difference = float(sent.spend) / n1 - float(holdout.spend) / n2
    a, b = v1 / n1, v2 / n2
    if a + b == 0:
        return Difference(value=difference, low=difference, high=difference)
    freedom = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
    error = float(stats.t.ppf(0.5 + confidence / 2, freedom)) * math.sqrt(a + b)
    return Difference(value=difference, low=difference - error, high=difference + error)


@dataclass(frozen=True)
class Results:
    starts_at: datetime
    ends_at: datetime
    complete: bool  # the window is over
    sent: GroupResult
    holdout: GroupResult
    rate: Difference | None
    spend: Difference | None


def group_results(*, campaign: Campaign, starts_at: datetime, ends_at: datetime
                  ) -> dict[str, GroupResult]:
    """Per group: members, purchasers and net spend in [starts_at, ends_at). Two queries."""
    sizes = dict(CampaignMember.objects.filter(campaign=campaign).values("group")
                 .annotate(n=Count("pk")).order_by().values_list("group", "n"))
    net = F("member__purchases__amount") - F("member__purchases__refunded_amount")
    money = DecimalField(max_digits=16, decimal_places=2)
    per_member = (CampaignMember.objects
                  .filter(campaign=campaign, member__purchases__occurred_at__gte=starts_at,
                          member__purchases__occurred_at__lt=ends_at)
                  .values("member_id", "group").order_by()
                  .annotate(spend=Sum(net, output_field=money),
                            squares=ExpressionWrapper(Sum(net) * Sum(net), output_field=money)))
    totals = per_member.aggregate(**{
        f"{name}_{group}": aggregate(column, filter=Q(group=group))
        for group in Group.values
        for name, aggregate, column in (("buyers", Count, "member_id"), ("spend", Sum, "spend"),
                                        ("squares", Sum, "squares"))})
    return {group: GroupResult(
        members=sizes.get(group, 0), purchasers=totals[f"buyers_{group}"] or 0,
        spend=Decimal(totals[f"spend_{group}"] or 0),
        spend_squares=Decimal(totals[f"squares_{group}"] or 0)) for group in Group.values}


def results(campaign: Campaign, *, now: datetime | None = None) -> Results | None:
    """The sent group against the holdout over the window after sending (so far, while it
    runs); None for a campaign not sent."""
    if campaign.sent_at is None:
        return None
    now = now or timezone.now()
    starts_at = campaign.sent_at
    ends_at = starts_at + timedelta(days=campaign.window_days)
    groups = group_results(campaign=campaign, starts_at=starts_at, ends_at=min(ends_at, now))
    sent, holdout = groups[Group.SENT], groups[Group.HOLDOUT]
    return Results(starts_at=starts_at, ends_at=ends_at, complete=now >= ends_at, sent=sent,
                   holdout=holdout, rate=rate_difference(sent, holdout),
                   spend=spend_difference(sent, holdout))
