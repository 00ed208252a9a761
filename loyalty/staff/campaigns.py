"""The manager's campaign pages: the list, the form (with the audience counted before
sending), the results against the holdout, and the actions (schedule, send now, cancel).

Managers and programme admins only, like the insight pages (accounts.roles.may_see_insight).
Thin: the audience, the sending and the figures come from `loyalty.services.campaigns`.
The form's "Count" button posts the form and shows it again with the audience's size,
without saving (no script needed).
"""

from __future__ import annotations

import functools
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import may_see_insight
from loyalty.models import Campaign, Segment, Stage, Tier
from loyalty.models.campaigns import SCORE_RANGES
from loyalty.money import format_money
from loyalty.services import campaigns
from loyalty.services.earning import current_programme
from loyalty.services.errors import DomainError
from loyalty.staff.till import forbidden

PER_PAGE = 20
SCORES = [("", "—"), *[(score, str(score)) for score in range(1, 6)]]
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def campaign_page(view):
    """Logged in (else to the login), and a manager or programme admin (else 403)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not may_see_insight(request.user):
            return forbidden(request, _("The campaign pages are for managers and programme "
                                        "admins."))
        return view(request, *args, **kwargs)

    return wrapper


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format=LOCAL_INPUT, **kwargs)


class CampaignForm(forms.ModelForm):
    stages = forms.MultipleChoiceField(label=gettext_lazy("Lifecycle stages"),
                                       choices=Stage.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple,
                                       help_text=gettext_lazy("None ticked: any stage."))

    class Meta:
        model = Campaign
        fields = ["name", "channel", "segments", "stages", "tiers",
                  *[name for pair in SCORE_RANGES for name in pair],
                  "subject", "body", "subject_fr", "body_fr", "holdout_percent", "window_days",
                  "offer", "offer_reward", "offer_starts_at", "offer_ends_at", "scheduled_at"]
        widgets = {
            "segments": forms.CheckboxSelectMultiple, "tiers": forms.CheckboxSelectMultiple,
            "offer_starts_at": LocalDateTimeInput(), "offer_ends_at": LocalDateTimeInput(),
            "scheduled_at": LocalDateTimeInput(),
            "body": forms.Textarea(attrs={"rows": 5}), "body_fr": forms.Textarea(attrs={"rows": 5}),
        }

    AUDIENCE = ("segments", "stages", "tiers", *[name for pair in SCORE_RANGES for name in pair])
    MESSAGE = ("channel", "subject", "body", "subject_fr", "body_fr")
    OFFER = ("offer", "offer_reward", "offer_starts_at", "offer_ends_at")
    SENDING = ("holdout_percent", "window_days", "scheduled_at")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segments"].queryset = Segment.objects.filter(active=True)
        self.fields["tiers"].queryset = Tier.objects.all()
        for pair in SCORE_RANGES:
            for name in pair:
                self.fields[name] = forms.TypedChoiceField(
                    label=self.fields[name].label, choices=SCORES, coerce=int, required=False,
                    empty_value=None)
        for name in ("offer_starts_at", "offer_ends_at", "scheduled_at"):
            self.fields[name].input_formats = [LOCAL_INPUT, "%Y-%m-%d %H:%M",
                                               "%Y-%m-%dT%H:%M:%S"]

    def group(self, names):
        return [self[name] for name in names]

    def fieldsets(self):
        return [(_("Audience"), _("Every filter given must hold; within one, any value "
                                  "ticked. Marketing consent to the channel is always "
                                  "required."), self.group(self.AUDIENCE)),
                (_("Message"), _("Variables: {{ first_name }}, {{ balance }}, {{ date }} "
                                 "(the offer's last day), {{ card_link }}, {{ link }}."),
                 self.group(self.MESSAGE)),
                (_("Offer"), _("Double points, or a voucher for the reward chosen (given without "
                               "points, expiring at the offer's end), go to the sent group "
                               "only, never the holdout."),
                 self.group(self.OFFER)),
                (_("Sending and results"), "", self.group(self.SENDING))]

    def audience_filter(self) -> campaigns.AudienceFilter:
        data = self.cleaned_data
        return campaigns.AudienceFilter(
            channel=data["channel"],
            segment_ids=tuple(segment.pk for segment in data.get("segments") or ()),
            stages=tuple(data.get("stages") or ()),
            tier_ids=tuple(tier.pk for tier in data.get("tiers") or ()),
            scores={name: data.get(name) for pair in SCORE_RANGES for name in pair})


def describe(campaign: Campaign) -> str:
    """The audience in a few words, for the list (segments and tiers prefetched)."""
    parts = [segment.name for segment in campaign.segments.all()]
    parts += [str(Stage(stage).label) for stage in campaign.stages or () if stage in Stage.values]
    parts += [tier.name for tier in campaign.tiers.all()]
    for low, high in SCORE_RANGES:
        a, b = getattr(campaign, low), getattr(campaign, high)
        if a is not None or b is not None:
            parts.append(f"{low[0].upper()} {a or 1}–{b or 5}")
    return " · ".join(parts) or _("All members")


def percent(value: float) -> str:
    return formats.number_format(value * 100, 1, use_l10n=True)


def money(value: float, currency: str) -> str:
    return format_money(Decimal(str(value)).quantize(Decimal("0.01")), currency)


def verdict(results: campaigns.Results, currency: str) -> list[str]:
    """Plain sentences saying what the numbers allow one to say."""
    if results.rate is None or results.spend is None:
        return [_("The holdout is empty (or too small): there is nothing to compare the sent "
                  "group with, so these figures cannot tell what the campaign caused.")]
    sentences = []
    rate, spend = results.rate, results.spend
    values = {"low": percent(rate.low), "high": percent(rate.high)}
    if rate.distinguishable:
        sentences.append((_("The campaign raised the purchase rate: with 95 %% confidence, by "
                            "between %(low)s and %(high)s percentage points.") if rate.low > 0
                          else _("The campaign lowered the purchase rate: with 95 %% confidence, "
                                 "by between %(low)s and %(high)s percentage points."))
                         % values)
    else:
        sentences.append(_("The difference in purchase rate is not distinguishable from zero: "
                           "anywhere between %(low)s and %(high)s percentage points is "
                           "plausible, chance alone included.") % values)
    values = {"low": money(spend.low, currency), "high": money(spend.high, currency)}
    if spend.distinguishable:
        sentences.append(_("Spend per member differs from the holdout's: with 95 %% confidence, "
                           "by between %(low)s and %(high)s.") % values)
    else:
        sentences.append(_("The difference in spend per member is not distinguishable from "
                           "zero (between %(low)s and %(high)s, chance alone included).")
                         % values)
    if not results.complete:
        sentences.append(_("The window is not over yet: these are the figures so far."))
    return sentences


@campaign_page
@require_http_methods(["GET"])
def campaign_list(request):
    page = Paginator(Campaign.objects.prefetch_related("segments", "tiers"),
                     PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"campaign": campaign, "audience": describe(campaign),
             "results": campaigns.results(campaign)} for campaign in page.object_list]
    return render(request, "staff/campaigns.html", {
        "page": page, "rows": rows, "currency": current_programme().currency})


def _form_page(request, form, campaign, *, size=None, status=200):
    return render(request, "staff/campaign_form.html", {
        "form": form, "campaign": campaign, "size": size}, status=status)


@campaign_page
@require_http_methods(["GET", "POST"])
def campaign_form(request, pk=None):
    campaign = get_object_or_404(Campaign, pk=pk) if pk is not None else None
    if campaign is not None and not campaign.editable:
        messages.error(request, str(campaigns.CampaignNotEditable.default_message))
        return redirect("staff:campaign", pk=campaign.pk)
    if request.method == "GET":
        form = CampaignForm(instance=campaign)
        size = campaigns.audience_size(campaign) if campaign is not None else None
        return _form_page(request, form, campaign, size=size)
    form = CampaignForm(request.POST, instance=campaign)
    if not form.is_valid():
        return _form_page(request, form, campaign, status=400)
    if "count" in request.POST:
        return _form_page(request, form, campaign,
                          size=campaigns.audience_size(form.audience_filter()))
    saved = form.save(commit=False)
    if saved.pk is None:
        saved.created_by = request.user
    saved.save()
    form.save_m2m()
    messages.success(request, _("Campaign saved."))
    return redirect("staff:campaign", pk=saved.pk)


@campaign_page
@require_http_methods(["GET"])
def campaign_detail(request, pk):
    campaign = get_object_or_404(Campaign.objects.prefetch_related("segments", "tiers"), pk=pk)
    currency = current_programme().currency
    results = campaigns.results(campaign)
    context = {
        "campaign": campaign, "audience": describe(campaign), "currency": currency,
        "size": campaigns.audience_size(campaign) if campaign.editable else None,
        "results": results, "verdict": verdict(results, currency) if results else [],
        "given_vouchers": campaigns.vouchers_given(campaign)}
    if results is not None:
        context["groups"] = [
            (label, group, None if group.purchase_rate is None else group.purchase_rate * 100)
            for label, group in ((_("Sent group"), results.sent),
                                 (_("Holdout"), results.holdout))]
        if results.rate is not None:
            context.update(rate_points=results.rate.value * 100,
                           rate_low=results.rate.low * 100, rate_high=results.rate.high * 100)
    return render(request, "staff/campaign.html", context)


ACTIONS = {
    "schedule": (campaigns.schedule_campaign, gettext_lazy("Campaign scheduled.")),
    "send": (campaigns.send_now, gettext_lazy("Campaign handed over for sending.")),
    "cancel": (campaigns.cancel_campaign, gettext_lazy("Campaign cancelled.")),
}


@campaign_page
@require_POST
def campaign_action(request, pk, action):
    if action not in ACTIONS:
        return redirect("staff:campaign", pk=pk)
    service, done = ACTIONS[action]
    try:
        service(campaign_id=pk)
    except DomainError as error:
        if error.status == 404:
            get_object_or_404(Campaign, pk=pk)
        messages.error(request, error.message)
    else:
        messages.success(request, str(done))
    return redirect("staff:campaign", pk=pk)
