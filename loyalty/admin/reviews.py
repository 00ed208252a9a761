"""Reviews: posted by members through the portal, shown here as they were posted.

Read-only: a follow-up is recorded on the manager's reviews page (the service), not here.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from loyalty.admin.base import ReadOnlyModelAdmin, admin_link
from loyalty.models import Review


class FollowUpFilter(admin.SimpleListFilter):
    title = _("follow-up")
    parameter_name = "follow_up"

    def lookups(self, request, model_admin):
        return [("waiting", _("Waiting")), ("done", _("Done")), ("none", _("Not needed"))]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "waiting":
            return queryset.filter(needs_follow_up=True, followed_up_at__isnull=True)
        if value == "done":
            return queryset.filter(followed_up_at__isnull=False)
        if value == "none":
            return queryset.filter(needs_follow_up=False)
        return queryset


@admin.register(Review)
class ReviewAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "store", "order", "member_link", "rating", "needs_follow_up",
                    "followed_up_at")
    list_filter = ("store", "rating", FollowUpFilter)
    list_select_related = ("store", "member", "purchase")
    search_fields = ("=purchase__order_id", "=member__card_number")
    search_help_text = _("Order id or member card number (exact).")
    date_hierarchy = "created_at"
    fields = ("store", "purchase", "member", "rating", "comment", "created_at", "action_event",
              "needs_follow_up", "followed_up_at", "followed_up_by", "follow_up_note")
    readonly_fields = fields

    @admin.display(description=_("order id"), ordering="purchase__order_id")
    def order(self, obj):
        return admin_link(obj.purchase, obj.purchase.order_id)

    @admin.display(description=_("member"), ordering="member")
    def member_link(self, obj):
        return admin_link(obj.member)
