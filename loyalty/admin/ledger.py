"""The points ledger, shown and never touched: only the ledger service writes it."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from loyalty.admin.base import ReadOnlyModelAdmin, admin_link
from loyalty.models import PointsEntry, PointsLot
from loyalty.services import history


@admin.register(PointsEntry)
class PointsEntryAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "member_link", "kind", "points", "balance_after",
                    "description", "reference", "store", "created_by")
    list_filter = ("kind", "store")
    list_select_related = ("member", "store", "created_by")
    search_fields = ("=member__card_number", "member__email", "=reference")
    search_help_text = _("Member card number (exact) or email, or reference (exact).")
    date_hierarchy = "created_at"
    fields = ("created_at", "member", "kind", "points", "balance_after", "lifetime_delta",
              "description", "reason", "details", "reference", "store", "created_by",
              "lot_link")
    readonly_fields = fields

    def get_queryset(self, request):
        return history.history_queryset(super().get_queryset(request))

    @admin.display(description=_("description"))
    def description(self, obj):
        """The line in the reader's language (loyalty/services/history.py)."""
        return history.describe_entry(obj)

    @admin.display(description=_("member"), ordering="member")
    def member_link(self, obj):
        return admin_link(obj.member)

    @admin.display(description=_("points lot"))
    def lot_link(self, obj):
        lot = PointsLot.objects.filter(entry=obj).first()
        return admin_link(lot)


@admin.register(PointsLot)
class PointsLotAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "member_link", "points", "remaining", "spent", "expired", "reversed",
                    "released", "qualifying", "earned_at", "available_at", "expires_at")
    list_filter = ("released", "qualifying")
    list_select_related = ("member",)
    search_fields = ("=member__card_number", "member__email")
    date_hierarchy = "earned_at"
    fieldsets = (
        (None, {"fields": ("member", "entry", "qualifying")}),
        (_("Points"), {"fields": ("points", "remaining", "spent", "expired", "reversed",
                                  "clawed_back")}),
        (_("Dates"), {"fields": ("earned_at", "available_at", "released", "expires_at")}),
    )
    readonly_fields = ("member", "entry", "qualifying", "points", "remaining", "spent",
                       "expired", "reversed", "clawed_back", "earned_at", "available_at",
                       "released", "expires_at")

    @admin.display(description=_("member"), ordering="member")
    def member_link(self, obj):
        return admin_link(obj.member)
