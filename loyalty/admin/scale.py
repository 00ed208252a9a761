"""The programme's settings: stores, the points scale, action rules, tiers.

Staff edit these directly; each model's `clean()` holds its validation and the
admin form runs it. Texts members read (names, benefits) have a field per language
(TranslationAdmin: English required, French falls back to it).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from modeltranslation.admin import TranslationAdmin

from loyalty.admin.base import (
    IntermediateActionMixin,
    ReadOnlyModelAdmin,
    add_domain_error,
    admin_link,
)
from loyalty.admin.forms import WeekdaysField
from loyalty.models import (
    ActionRule,
    EarningRule,
    Member,
    Multiplier,
    Programme,
    Store,
    Tier,
    TierChange,
)
from loyalty.services import tier_settings
from loyalty.services.errors import DomainError

RULE_FILTER_FIELDSET = (_("Where it applies"), {
    "fields": ("store", "channel", "category", "sku"),
    "description": _("Empty filters apply everywhere. Filter on a category or a SKU, not "
                     "both."),
})
RULE_DATES_FIELDSET = (_("When it applies"), {
    "fields": ("starts_at", "ends_at", "weekdays"),
    "description": _("Empty dates: always. The end is excluded."),
})


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "active")
    list_filter = ("kind", "active")
    search_fields = ("code", "name")


class ScaleRuleAdmin(TranslationAdmin):
    list_filter = ("active", "channel", "store")
    list_select_related = ("store",)
    search_fields = ("name", "category", "sku")
    ordering = ("-priority", "id")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "weekdays":
            return WeekdaysField(label=db_field.verbose_name,
                                 help_text=_("None ticked: every day."))
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=_("applies to"))
    def scope(self, obj):
        parts = [str(obj.store) if obj.store_id else "", obj.get_channel_display()
                 if obj.channel else "",
                 _("category %(category)s") % {"category": obj.category} if obj.category else "",
                 _("SKU %(sku)s") % {"sku": obj.sku} if obj.sku else "",
                 _("on %(days)s") % {"days": ", ".join(
                     str(WEEKDAYS_ABBR[int(day) - 1]) for day in obj.weekdays)}
                 if obj.weekdays else ""]
        return ", ".join(str(part) for part in parts if part) or _("everything")


@admin.register(EarningRule)
class EarningRuleAdmin(ScaleRuleAdmin):
    list_display = ("name", "points_per_unit", "min_basket", "max_points", "priority",
                    "stackable", "active", "scope", "starts_at", "ends_at")
    fieldsets = (
        (None, {"fields": ("name", "active", "priority", "stackable")}),
        (_("Points"), {"fields": ("points_per_unit", "min_basket", "max_points")}),
        RULE_FILTER_FIELDSET,
        RULE_DATES_FIELDSET,
    )


@admin.register(Multiplier)
class MultiplierAdmin(ScaleRuleAdmin):
    list_display = ("name", "factor", "tier", "priority", "stackable", "active", "scope",
                    "starts_at", "ends_at")
    list_filter = ("active", "tier", "channel", "store")
    list_select_related = ("store", "tier")
    fieldsets = (
        (None, {"fields": ("name", "active", "priority", "stackable")}),
        (_("Bonus"), {"fields": ("factor", "tier")}),
        RULE_FILTER_FIELDSET,
        RULE_DATES_FIELDSET,
    )


@admin.register(ActionRule)
class ActionRuleAdmin(TranslationAdmin):
    list_display = ("event_type", "name", "points", "limit_count", "limit_period", "active")
    list_filter = ("active", "limit_period")
    search_fields = ("event_type", "name")
    fieldsets = (
        (None, {"fields": ("event_type", "name", "points", "active")}),
        (_("Limit"), {"fields": ("limit_count", "limit_period")}),
    )


class MoveMembersForm(forms.Form):
    move_to = forms.ModelChoiceField(
        label=_("Move its members to"), queryset=Tier.objects.none(), empty_label=None,
        help_text=_("Each member moved gets a line in their tier history; the rewards that "
                    "required the deleted tier require this one instead."))

    def __init__(self, *args, tier, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["move_to"].queryset = Tier.objects.exclude(pk=tier.pk).order_by("rank")


@admin.register(Tier)
class TierAdmin(IntermediateActionMixin, TranslationAdmin):
    list_display = ("rank", "code", "name", "threshold", "earn_multiplier")
    list_display_links = ("name",)
    search_fields = ("code", "name")
    ordering = ("rank",)
    actions = ("delete_moving_members",)
    fieldsets = (
        (None, {"fields": ("code", "name", "rank", "colour")}),
        (_("Qualifying and benefits"), {"fields": ("threshold", "earn_multiplier",
                                                   "benefits")}),
    )

    def get_actions(self, request):
        # The bulk delete would stop at the members' protected tier: deleting goes through
        # the page that moves them first.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        tier_settings.save_tier(tier=obj)

    def delete_view(self, request, object_id, extra_context=None):
        tier = get_object_or_404(Tier, pk=object_id)
        if not self.has_delete_permission(request, tier):
            raise PermissionDenied
        if not _is_held(tier):
            return super().delete_view(request, object_id, extra_context)
        return self._delete_moving_members(request, tier) or HttpResponseRedirect(
            reverse("admin:loyalty_tier_changelist", current_app=self.admin_site.name))

    @admin.action(description=_("Delete, moving its members to another tier…"),
                  permissions=["delete"])
    def delete_moving_members(self, request, queryset):
        tiers = list(queryset[:2])
        if len(tiers) != 1:
            self.message_user(request, _("Select one tier to delete."), messages.ERROR)
            return None
        return self._delete_moving_members(request, tiers[0])

    def _delete_moving_members(self, request, tier):
        form = MoveMembersForm(request.POST if "apply" in request.POST else None, tier=tier)
        if form.is_valid():
            target = form.cleaned_data["move_to"]
            try:
                moved = tier_settings.delete_tier(tier_id=tier.pk, move_to_id=target.pk,
                                                  by=request.user)
            except DomainError as error:
                add_domain_error(form, error)
            else:
                self.log_deletions(request, [tier])
                self.message_user(request, ngettext(
                    "Tier %(tier)s deleted; %(count)d member moved to %(target)s.",
                    "Tier %(tier)s deleted; %(count)d members moved to %(target)s.", moved)
                    % {"tier": tier, "count": moved, "target": target}, messages.SUCCESS)
                return None
        return self.render_action_page(
            request, action="delete_moving_members",
            title=_("Delete the tier %(tier)s") % {"tier": tier},
            template="admin/loyalty/tier/delete_moving_members.html", form=form,
            objects=[tier], tier=tier, members=Member.objects.filter(tier=tier).count())


def _is_held(tier: Tier) -> bool:
    from rewards.models import Reward

    return (Member.objects.filter(tier=tier).exists()
            or Reward.objects.filter(tier_required=tier).exists())


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyModelAdmin):
    list_display = ("at", "member_link", "from_tier", "to_tier", "reason", "qualifying_value",
                    "by")
    list_filter = ("reason", "to_tier")
    list_select_related = ("member", "from_tier", "to_tier", "by")
    search_fields = ("=member__card_number", "member__email")
    date_hierarchy = "at"

    @admin.display(description=_("member"), ordering="member")
    def member_link(self, obj):
        return admin_link(obj.member)


@admin.register(Programme)
class ProgrammeAdmin(TranslationAdmin):
    """One row of settings: the list is that row's page."""

    fieldsets = (
        (None, {"fields": ("name", "currency")}),
        (_("Brand"), {"fields": ("logo", "primary_colour", "point_name", "point_name_plural"),
                      "description": _("What customers see: the site, the card, the "
                                       "installed app and the emails.")}),
        (_("Points"), {"fields": ("points_validity_days", "return_window_days",
                                  "max_points_per_purchase", "max_points_per_day")}),
        (_("Tiers"), {"fields": ("tier_basis", "tier_window_days",
                                 "actions_qualify_for_tiers")}),
        (_("Reviews"), {"fields": ("review_follow_up_rating",)}),
        (_("Insight"), {
            "fields": ("point_value", "rfm_window_days", "new_customer_days",
                       "lapsed_after_days", "at_risk_gap_factor", "at_risk_p_alive"),
            "description": _("How the nightly insight run scores customers and finds their "
                             "lifecycle stage. Changes apply from the next run."),
        }),
        (_("Lifetime value"), {"fields": ("clv_horizon_months", "clv_monthly_discount",
                                          "clv_min_repeat_customers")}),
    )

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        programme = Programme.load()
        return HttpResponseRedirect(reverse("admin:loyalty_programme_change",
                                            args=[programme.pk],
                                            current_app=self.admin_site.name))

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not Programme.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
