"""The programme's settings: stores, the points scale, action rules, tiers.

Staff edit these directly; each model's `clean()` holds its validation and the
admin form runs it. Texts members read (names, benefits) have a field per language
(TranslationAdmin: English required, French falls back to it).
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from loyalty.admin.base import ReadOnlyModelAdmin, admin_link
from loyalty.models import (
    ActionRule,
    EarningRule,
    Multiplier,
    Programme,
    Store,
    Tier,
    TierChange,
)

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

    @admin.display(description=_("applies to"))
    def scope(self, obj):
        parts = [str(obj.store) if obj.store_id else "", obj.get_channel_display()
                 if obj.channel else "",
                 _("category %(category)s") % {"category": obj.category} if obj.category else "",
                 _("SKU %(sku)s") % {"sku": obj.sku} if obj.sku else "",
                 _("days %(days)s") % {"days": obj.weekdays} if obj.weekdays else ""]
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


@admin.register(Tier)
class TierAdmin(TranslationAdmin):
    list_display = ("rank", "code", "name", "threshold", "earn_multiplier")
    search_fields = ("code", "name")
    ordering = ("rank",)
    fieldsets = (
        (None, {"fields": ("code", "name", "rank")}),
        (_("Qualifying and benefits"), {"fields": ("threshold", "earn_multiplier",
                                                   "benefits")}),
    )


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
class ProgrammeAdmin(admin.ModelAdmin):
    """One row of settings: the list is that row's page."""

    fieldsets = (
        (None, {"fields": ("name", "currency")}),
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
