"""Insight: who the customers are. RFM scores, segments, lifecycle stages, lifetime value.

Everything here is *derived* from purchases (and refunds) by the nightly insight
run (`services/insight/`), which rewrites these tables with set-based SQL. None
of it is a source of truth: dropping the rows and running `segment` and `clv`
again gives them back. The histories (segment and stage periods) are kept,
because messages trigger on *entering* a segment or stage.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

SCORE = [MinValueValidator(1), MaxValueValidator(5)]


class Stage(models.TextChoices):
    """Where a customer is in their life with the shop."""

    PROSPECT = "prospect", _("Prospect")
    NEW = "new", _("New")
    ACTIVE = "active", pgettext_lazy("lifecycle stage", "Active")
    LOYAL = "loyal", _("Loyal")
    AT_RISK = "at_risk", _("At risk")
    LAPSED = "lapsed", _("Lapsed")


class Segment(models.Model):
    """A named group of customers (champions, at risk...), defined by its rules.

    A member belongs to the segment of the first rule (by priority, over all
    segments) that matches them, or to none.
    """

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=60)
    description = models.TextField(_("description"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self):
        return self.name


class SegmentRule(models.Model):
    """One way into a segment: every condition given must hold (empty means any)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="rules",
                                verbose_name=_("segment"))
    priority = models.PositiveIntegerField(
        _("priority"), help_text=_("Rules are tried from the lowest number up; the first "
                                   "that matches gives the member's segment."))
    r_min = models.PositiveSmallIntegerField(_("R from"), null=True, blank=True,
                                             validators=SCORE)
    r_max = models.PositiveSmallIntegerField(_("R to"), null=True, blank=True,
                                             validators=SCORE)
    f_min = models.PositiveSmallIntegerField(_("F from"), null=True, blank=True,
                                             validators=SCORE)
    f_max = models.PositiveSmallIntegerField(_("F to"), null=True, blank=True,
                                             validators=SCORE)
    m_min = models.PositiveSmallIntegerField(_("M from"), null=True, blank=True,
                                             validators=SCORE)
    m_max = models.PositiveSmallIntegerField(_("M to"), null=True, blank=True,
                                             validators=SCORE)
    stages = models.JSONField(_("lifecycle stages"), default=list, blank=True,
                              help_text=_("Empty: any stage."))
    tiers = models.ManyToManyField("loyalty.Tier", blank=True, related_name="+",
                                   verbose_name=_("tiers"), help_text=_("Empty: any tier."))
    predicted_value_min = models.DecimalField(_("predicted value from"), max_digits=12,
                                              decimal_places=2, null=True, blank=True)
    predicted_value_max = models.DecimalField(_("predicted value to"), max_digits=12,
                                              decimal_places=2, null=True, blank=True)
    joined_days_min = models.PositiveIntegerField(_("days since joining, from"), null=True,
                                                  blank=True)
    joined_days_max = models.PositiveIntegerField(_("days since joining, to"), null=True,
                                                  blank=True)

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = _("segment rule")
        verbose_name_plural = _("segment rules")
        constraints = [models.UniqueConstraint(fields=["priority"],
                                               name="unique_segment_rule_priority")]

    def __str__(self):
        return f"{self.segment.code} #{self.priority}"

    def clean(self):
        errors = {}
        for low, high in (("r_min", "r_max"), ("f_min", "f_max"), ("m_min", "m_max"),
                          ("predicted_value_min", "predicted_value_max"),
                          ("joined_days_min", "joined_days_max")):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                errors[high] = _("Must not be below the lower bound.")
        if not isinstance(self.stages, list) or any(s not in Stage.values for s in self.stages):
            errors["stages"] = _("A list of stage codes: %(codes)s") % {
                "codes": ", ".join(Stage.values)}
        if errors:
            raise ValidationError(errors)


class MemberInsight(models.Model):
    """What the insight run knows of one member, rewritten by each run (one row a member).

    RFM: `recency_days` since the last purchase, `frequency` purchases and
    `monetary` net spend (after refunds) within the programme's RFM window; the
    scores 1-5 are null for a member with no purchase (not a 1).
    """

    member = models.OneToOneField("loyalty.Member", on_delete=models.CASCADE,
                                  primary_key=True, related_name="insight",
                                  verbose_name=_("member"))
    first_purchase_at = models.DateTimeField(_("first purchase"), null=True, blank=True)
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True, blank=True)
    purchases = models.PositiveIntegerField(_("purchases (all time)"), default=0)
    historic_value = models.DecimalField(_("historic value (net spend)"), max_digits=14,
                                         decimal_places=2, default=0)
    recency_days = models.PositiveIntegerField(_("days since last purchase"), null=True,
                                               blank=True)
    frequency = models.PositiveIntegerField(_("purchases in the RFM window"), null=True,
                                            blank=True)
    monetary = models.DecimalField(_("net spend in the RFM window"), max_digits=14,
                                   decimal_places=2, null=True, blank=True)
    r = models.PositiveSmallIntegerField("R", null=True, blank=True, validators=SCORE)
    f = models.PositiveSmallIntegerField("F", null=True, blank=True, validators=SCORE)
    m = models.PositiveSmallIntegerField("M", null=True, blank=True, validators=SCORE)
    segment = models.ForeignKey(Segment, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+", verbose_name=_("segment"))
    segment_since = models.DateTimeField(_("in this segment since"), null=True, blank=True)
    stage = models.CharField(_("lifecycle stage"), max_length=16, choices=Stage.choices,
                             default=Stage.PROSPECT)
    stage_since = models.DateTimeField(_("at this stage since"), null=True, blank=True)
    p_alive = models.FloatField(_("probability still active"), null=True, blank=True)
    expected_purchases = models.FloatField(_("expected purchases over the horizon"),
                                           null=True, blank=True)
    expected_spend = models.DecimalField(_("expected spend per purchase"), max_digits=12,
                                         decimal_places=2, null=True, blank=True)
    predicted_value = models.DecimalField(_("predicted value"), max_digits=14,
                                          decimal_places=2, null=True, blank=True)
    clv_at = models.DateTimeField(_("value predicted at"), null=True, blank=True)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("member insight")
        verbose_name_plural = _("member insights")
        indexes = [
            models.Index(fields=["r", "f"], name="insight_rf"),
            models.Index(fields=["segment"], name="insight_segment"),
            models.Index(fields=["stage"], name="insight_stage"),
            models.Index(fields=["-predicted_value"], name="insight_value"),
        ]

    def __str__(self):
        return f"{self.member_id}: {self.rfm_code or '-'}"

    @property
    def rfm_code(self) -> str:
        if self.r is None:
            return ""
        return f"{self.r}{self.f}{self.m}"


class SegmentPeriod(models.Model):
    """A member's time in a segment: entered, and left (null while still in it)."""

    member = models.ForeignKey("loyalty.Member", on_delete=models.CASCADE,
                               related_name="segment_periods")
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="periods")
    entered_at = models.DateTimeField(_("entered"))
    left_at = models.DateTimeField(_("left"), null=True, blank=True)

    class Meta:
        ordering = ["-entered_at", "-id"]
        verbose_name = _("segment period")
        verbose_name_plural = _("segment history")
        constraints = [models.UniqueConstraint(fields=["member"], name="one_open_segment",
                                               condition=models.Q(left_at__isnull=True))]
        indexes = [models.Index(fields=["member", "entered_at"], name="segment_period_member")]

    def __str__(self):
        return f"{self.member_id}: {self.segment_id} from {self.entered_at:%Y-%m-%d}"


class StagePeriod(models.Model):
    """A member's time at a lifecycle stage: entered, and left (null while still at it)."""

    member = models.ForeignKey("loyalty.Member", on_delete=models.CASCADE,
                               related_name="stage_periods")
    stage = models.CharField(_("stage"), max_length=16, choices=Stage.choices)
    entered_at = models.DateTimeField(_("entered"))
    left_at = models.DateTimeField(_("left"), null=True, blank=True)

    class Meta:
        ordering = ["-entered_at", "-id"]
        verbose_name = _("stage period")
        verbose_name_plural = _("stage history")
        constraints = [models.UniqueConstraint(fields=["member"], name="one_open_stage",
                                               condition=models.Q(left_at__isnull=True))]
        indexes = [models.Index(fields=["member", "entered_at"], name="stage_period_member")]

    def __str__(self):
        return f"{self.member_id}: {self.stage} from {self.entered_at:%Y-%m-%d}"


class InsightSnapshot(models.Model):
    """Month by month, how many members sat in each (segment, stage, R, F) cell.

    Written by the first insight run of a month; enough for the trend charts and
    "how segments moved since last month" without a copy of every member.
    `segment_code` is '' and `r`, `f` are 0 where a member had none.
    """

    month = models.DateField(_("month"))
    segment_code = models.CharField(max_length=32, blank=True)
    stage = models.CharField(max_length=16, choices=Stage.choices)
    r = models.PositiveSmallIntegerField(default=0)
    f = models.PositiveSmallIntegerField(default=0)
    members = models.PositiveIntegerField()
    monetary = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    predicted_value = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        ordering = ["-month"]
        verbose_name = _("monthly insight snapshot")
        verbose_name_plural = _("monthly insight snapshots")
        constraints = [models.UniqueConstraint(fields=["month", "segment_code", "stage", "r", "f"],
                                               name="unique_snapshot_cell")]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.segment_code or '-'} {self.stage} R{self.r}F{self.f}"


class ClvFit(models.Model):
    """One fit of the BG/NBD and Gamma-Gamma models on the programme's own history."""

    class Status(models.TextChoices):
        OK = "ok", _("Fitted")
        INSUFFICIENT = "insufficient_data", _("Too little history to fit")
        FAILED = "failed", _("The fit did not converge")

    fitted_at = models.DateTimeField(_("fitted at"))
    calibration_end = models.DateField(_("calibration end"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    customers = models.PositiveIntegerField(_("customers"), default=0)
    repeat_customers = models.PositiveIntegerField(_("repeat customers"), default=0)
    sample_size = models.PositiveIntegerField(_("customers in the fit"), default=0)
    r = models.FloatField(null=True, blank=True)
    alpha = models.FloatField(null=True, blank=True)
    a = models.FloatField(null=True, blank=True)
    b = models.FloatField(null=True, blank=True)
    p = models.FloatField(null=True, blank=True)
    q = models.FloatField(null=True, blank=True)
    v = models.FloatField(null=True, blank=True)
    horizon_months = models.PositiveSmallIntegerField(_("horizon (months)"))
    monthly_discount = models.DecimalField(_("monthly discount rate"), max_digits=5,
                                           decimal_places=4)
    members_scored = models.PositiveIntegerField(_("members scored"), default=0)

    class Meta:
        ordering = ["-fitted_at", "-id"]
        get_latest_by = "fitted_at"
        verbose_name = _("lifetime value fit")
        verbose_name_plural = _("lifetime value fits")

    def __str__(self):
        return f"{self.fitted_at:%Y-%m-%d} ({self.get_status_display()})"


class InsightRun(models.Model):
    """One run of the insight computation (nightly, `segment`, or `seed_demo`)."""

    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    members = models.PositiveIntegerField(_("members scored"), default=0)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"
        verbose_name = _("insight run")
        verbose_name_plural = _("insight runs")

    def __str__(self):
        return f"{self.started_at:%Y-%m-%d %H:%M}"
