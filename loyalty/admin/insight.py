"""Insight: the segments managers define, and what the nightly insight run wrote (read-only).

Segments are edited with their rules inline, in priority order; the rules' own
`clean()` checks them. Everything else here is written by the insight run and
only shown. "Recompute now" (on the segments and on the runs) queues the same
task the nightly schedule runs.
"""

from __future__ import annotations

import logging

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from loyalty.admin.base import ReadOnlyModelAdmin, admin_link, changelist_link, json_pairs
from loyalty.models import (
    ClvFit,
    InsightRun,
    InsightSnapshot,
    MemberInsight,
    Segment,
    SegmentPeriod,
    SegmentRule,
    Stage,
    StagePeriod,
)

RULE_FIELDSETS = (
    (None, {"fields": ("priority",)}),
    (_("Scores (1 to 5, bounds included)"), {
        "fields": (("r_min", "r_max"), ("f_min", "f_max"), ("m_min", "m_max"))}),
    (_("Who"), {"fields": ("stages", "tiers", ("joined_days_min", "joined_days_max"))}),
    (_("Predicted value"), {"fields": (("predicted_value_min", "predicted_value_max"),)}),
)

logger = logging.getLogger(__name__)


def describe_rule(rule: SegmentRule) -> str:
    """A rule in one line: "R 4–5 · F 4–5 · stages: new", or "anyone"."""
    def bounds(label, low, high, unit=""):
        if low is None and high is None:
            return None
        if high is None:
            return f"{label} ≥ {low}{unit}"
        if low is None:
            return f"{label} ≤ {high}{unit}"
        return f"{label} {low}–{high}{unit}"

    stages = dict(Stage.choices)
    parts = [bounds("R", rule.r_min, rule.r_max), bounds("F", rule.f_min, rule.f_max),
             bounds("M", rule.m_min, rule.m_max),
             bounds(gettext("predicted value"), rule.predicted_value_min,
                    rule.predicted_value_max),
             bounds(gettext("days since joining"), rule.joined_days_min, rule.joined_days_max)]
    if rule.stages:
        parts.append(gettext("stages: %(stages)s") % {
            "stages": ", ".join(str(stages.get(stage, stage)) for stage in rule.stages)})
    tiers = [tier.name for tier in rule.tiers.all()]
    if tiers:
        parts.append(gettext("tiers: %(tiers)s") % {"tiers": ", ".join(tiers)})
    return " · ".join(part for part in parts if part) or gettext("anyone")


class SegmentRuleForm(forms.ModelForm):
    stages = forms.MultipleChoiceField(
        label=_("lifecycle stages"), choices=Stage.choices, required=False,
        widget=forms.CheckboxSelectMultiple, help_text=_("None ticked: any stage."))

    class Meta:
        model = SegmentRule
        fields = ("priority", "r_min", "r_max", "f_min", "f_max", "m_min", "m_max", "stages",
                  "tiers", "predicted_value_min", "predicted_value_max", "joined_days_min",
                  "joined_days_max")
        widgets = {"tiers": forms.CheckboxSelectMultiple}


class SegmentRuleInline(admin.StackedInline):
    model = SegmentRule
    form = SegmentRuleForm
    fieldsets = RULE_FIELDSETS
    extra = 0
    ordering = ("priority", "id")
    verbose_name_plural = _("rules (a member matching any of them is in the segment, unless a "
                            "rule with a lower priority number matched first)")


class RecomputeMixin:
    """A "Recompute now" button on the change list: queues the nightly task at once."""

    change_list_template = "admin/loyalty/insight_change_list.html"

    def has_recompute_permission(self, request) -> bool:
        return request.user.has_perm("loyalty.change_segment")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}),
                         "may_recompute": self.has_recompute_permission(request),
                         "recompute_url": reverse("admin:loyalty_insight_recompute")}
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(Segment)
class SegmentAdmin(RecomputeMixin, TranslationAdmin):
    list_display = ("code", "name", "active", "rule_list", "member_count")
    list_filter = ("active",)
    search_fields = ("code", "name_en", "name_fr")
    inlines = (SegmentRuleInline,)
    fieldsets = (
        (None, {"fields": ("code", "name", "active")}),
        (_("Description"), {"fields": ("description",)}),
    )

    def get_queryset(self, request):
        members = (MemberInsight.objects.filter(segment=OuterRef("pk")).order_by()
                   .values("segment").annotate(n=Count("pk")).values("n"))
        return (super().get_queryset(request).prefetch_related("rules__tiers")
                .annotate(members=Subquery(members, output_field=IntegerField())))

    @admin.display(description=_("rules"))
    def rule_list(self, obj):
        rules = sorted(obj.rules.all(), key=lambda rule: (rule.priority, rule.pk))
        return " | ".join(f"#{rule.priority}: {describe_rule(rule)}" for rule in rules) or "-"

    @admin.display(description=_("members"), ordering="members")
    def member_count(self, obj):
        count = getattr(obj, "members", None) or 0
        return changelist_link(MemberInsight, count, segment__id__exact=obj.pk)

    def get_urls(self):
        return [path("recompute/", self.admin_site.admin_view(self.recompute_view),
                     name="loyalty_insight_recompute"), *super().get_urls()]

    def recompute_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_recompute_permission(request):
            raise PermissionDenied
        from loyalty.tasks import compute_insight

        try:
            result = compute_insight.delay(triggered_by_id=request.user.pk)
        except Exception:  # the broker (Redis) is down: nothing is lost, the nightly run is
            logger.warning("insight: could not queue the recomputation", exc_info=True)
            result = None
        if result is None:
            self.message_user(request, gettext(
                "The task queue did not answer, so the insight was not recomputed now; the "
                "nightly run will recompute it, or try again in a moment."), messages.WARNING)
        elif not result.ready():
            self.message_user(request, gettext(
                "The insight is being recomputed; the new run appears in the list of runs "
                "when it has finished."), messages.SUCCESS)
        elif result.successful() and result.result is not None:
            self.message_user(request, ngettext(
                "Insight recomputed: %(count)d member scored.",
                "Insight recomputed: %(count)d members scored.", result.result)
                % {"count": result.result}, messages.SUCCESS)
        elif result.successful():
            self.message_user(request, gettext(
                "Another insight run is in progress; try again when it has finished."),
                messages.WARNING)
        else:
            self.message_user(request, gettext("The insight could not be recomputed."),
                              messages.ERROR)
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
            target = reverse("admin:loyalty_insightrun_changelist")
        return HttpResponseRedirect(target)


@admin.register(SegmentRule)
class SegmentRuleAdmin(admin.ModelAdmin):
    """Every segment's rules in the one order they are tried."""

    form = SegmentRuleForm
    list_display = ("priority", "segment", "description")
    list_select_related = ("segment",)
    list_filter = ("segment",)
    ordering = ("priority", "id")
    fieldsets = ((None, {"fields": ("segment",)}), *RULE_FIELDSETS)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tiers")

    @admin.display(description=_("conditions"))
    def description(self, obj):
        return describe_rule(obj)


@admin.register(MemberInsight)
class MemberInsightAdmin(ReadOnlyModelAdmin):
    list_display = ("member_link", "rfm", "recency_days", "frequency", "monetary", "segment",
                    "stage", "historic_value", "predicted_value", "computed_at")
    list_filter = ("segment", "stage", "r", "f", "m")
    list_select_related = ("member", "segment")
    search_fields = ("=member__card_number", "member__email", "member__last_name")
    search_help_text = _("Card number (exact), email or last name.")
    ordering = ("-predicted_value", "member")

    @admin.display(description=_("member"), ordering="member")
    def member_link(self, obj):
        return admin_link(obj.member)

    @admin.display(description=_("RFM"))
    def rfm(self, obj):
        return obj.rfm_code or "-"


class PeriodAdmin(ReadOnlyModelAdmin):
    list_select_related = ("member",)
    search_fields = ("=member__card_number", "member__email")
    date_hierarchy = "entered_at"

    @admin.display(description=_("member"), ordering="member")
    def member_link(self, obj):
        return admin_link(obj.member)


@admin.register(SegmentPeriod)
class SegmentPeriodAdmin(PeriodAdmin):
    list_display = ("entered_at", "left_at", "segment", "member_link")
    list_filter = ("segment",)
    list_select_related = ("member", "segment")


@admin.register(StagePeriod)
class StagePeriodAdmin(PeriodAdmin):
    list_display = ("entered_at", "left_at", "stage", "member_link")
    list_filter = ("stage",)


@admin.register(InsightSnapshot)
class InsightSnapshotAdmin(ReadOnlyModelAdmin):
    list_display = ("month", "segment_code", "stage", "r", "f", "members", "monetary",
                    "predicted_value")
    list_filter = ("month", "segment_code", "stage")
    ordering = ("-month", "segment_code", "stage", "r", "f")


@admin.register(ClvFit)
class ClvFitAdmin(ReadOnlyModelAdmin):
    list_display = ("fitted_at", "calibration_end", "status", "customers", "repeat_customers",
                    "sample_size", "bgnbd", "gamma_gamma", "members_scored")
    list_filter = ("status",)

    @admin.display(description=_("BG/NBD r, α, a, b"))
    def bgnbd(self, obj):
        return _parameters(obj.r, obj.alpha, obj.a, obj.b)

    @admin.display(description=_("Gamma-Gamma p, q, v"))
    def gamma_gamma(self, obj):
        return _parameters(obj.p, obj.q, obj.v)


def _parameters(*values) -> str:
    if any(value is None for value in values):
        return "-"
    return ", ".join(f"{value:.4g}" for value in values)


@admin.register(InsightRun)
class InsightRunAdmin(RecomputeMixin, ReadOnlyModelAdmin):
    list_display = ("started_at", "finished_at", "seconds", "members", "triggered_by",
                    "segment_sizes")
    list_select_related = ("triggered_by",)
    fields = ("started_at", "finished_at", "members", "triggered_by", "segments", "stages")
    readonly_fields = fields

    @admin.display(description=_("seconds"))
    def seconds(self, obj):
        if obj.finished_at is None:
            return "-"
        return f"{(obj.finished_at - obj.started_at).total_seconds():.1f}"

    @admin.display(description=_("segments"))
    def segment_sizes(self, obj):
        segments = (obj.summary or {}).get("segments") or {}
        return ", ".join(f"{code} {count}" for code, count in segments.items()) or "-"

    @admin.display(description=_("segments"))
    def segments(self, obj):
        return json_pairs((obj.summary or {}).get("segments"))

    @admin.display(description=_("lifecycle stages"))
    def stages(self, obj):
        return json_pairs((obj.summary or {}).get("stages"))
