"""Purchases, refunds and actions: recorded by services, shown here as they were earned."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from loyalty.admin.base import ReadOnlyModelAdmin, ReadOnlyTabularInline, admin_link, json_table
from loyalty.models import ActionEvent, Purchase, PurchaseItem, ReceiptClaim, Refund

BREAKDOWN_COLUMNS = [("rule", _("rule")), ("source", _("from")), ("points", _("points"))]
BREAKDOWN_SOURCES = {"rule": _("spend rule"), "multiplier": _("multiplier"),
                     "tier": _("tier bonus"), "cap": _("cap")}
REFUND_ITEM_COLUMNS = [("sku", _("SKU")), ("category", _("category")),
                       ("quantity", _("quantity")), ("unit_price", _("unit price"))]


class PurchaseItemInline(ReadOnlyTabularInline):
    model = PurchaseItem
    fields = ("sku", "category", "quantity", "unit_price", "line_total")
    readonly_fields = fields
    show_change_link = False

    @admin.display(description=_("total"))
    def line_total(self, obj):
        return obj.total


class RefundInline(ReadOnlyTabularInline):
    model = Refund
    fk_name = "purchase"
    fields = ("refund_id", "created_at", "amount", "points_reversed", "balance_after")
    readonly_fields = fields


class ReceiptClaimInline(ReadOnlyTabularInline):
    """The claim code of a sale recorded without a member, and who claimed it."""

    model = ReceiptClaim
    fields = ("__str__", "created_at", "expires_at", "claimed_by", "claimed_at")
    readonly_fields = fields
    show_change_link = False
    verbose_name = _("receipt claim")


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyModelAdmin):
    list_display = ("occurred_at", "store", "order_id", "member_link", "amount",
                    "points_earned", "refunded_amount", "points_reversed")
    list_filter = ("store", "store__kind", ("member", admin.EmptyFieldListFilter))
    list_select_related = ("store", "member")
    search_fields = ("=order_id", "=member__card_number", "member__email")
    search_help_text = _("Order id or member card number (exact), or member email.")
    date_hierarchy = "occurred_at"
    inlines = (PurchaseItemInline, RefundInline, ReceiptClaimInline)
    fieldsets = (
        (None, {"fields": ("store", "order_id", "member", "occurred_at", "created_at",
                           "cashier")}),
        (_("Amounts"), {"fields": ("amount", "refunded_amount")}),
        (_("Points"), {"fields": ("points_earned", "breakdown", "points_reversed",
                                  "balance_after", "entry")}),
    )
    readonly_fields = ("store", "order_id", "member", "occurred_at", "created_at", "amount",
                       "refunded_amount", "points_earned", "breakdown", "points_reversed",
                       "balance_after", "entry", "cashier")

    @admin.display(description=_("member"), ordering="member")
    def member_link(self, obj):
        return admin_link(obj.member)

    @admin.display(description=_("points breakdown"))
    def breakdown(self, obj):
        lines = [{**line, "source": BREAKDOWN_SOURCES.get(line.get("source"), line.get("source"))}
                 for line in obj.points_breakdown or [] if isinstance(line, dict)]
        return json_table(lines, BREAKDOWN_COLUMNS)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("entry")


@admin.register(ReceiptClaim)
class ReceiptClaimAdmin(ReadOnlyModelAdmin):
    list_display = ("__str__", "purchase", "created_at", "expires_at", "claimed_by",
                    "claimed_at")
    list_select_related = ("purchase__store", "claimed_by")
    search_fields = ("=code", "=purchase__order_id")
    search_help_text = _("Short code without dashes, or order id (exact).")


@admin.register(PurchaseItem)
class PurchaseItemAdmin(ReadOnlyModelAdmin):
    list_display = ("purchase", "sku", "category", "quantity", "unit_price")
    list_select_related = ("purchase__store",)
    search_fields = ("=sku", "=purchase__order_id", "category")


@admin.register(Refund)
class RefundAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "refund_id", "store", "purchase", "amount",
                    "points_reversed", "balance_after")
    list_filter = ("store",)
    list_select_related = ("store", "purchase__store")
    search_fields = ("=refund_id", "=purchase__order_id")
    date_hierarchy = "created_at"
    fields = ("refund_id", "store", "purchase", "created_at", "amount", "refunded_items",
              "points_reversed", "balance_after", "entry")
    readonly_fields = fields

    @admin.display(description=_("items"))
    def refunded_items(self, obj):
        return json_table(obj.items, REFUND_ITEM_COLUMNS)


@admin.register(ActionEvent)
class ActionEventAdmin(ReadOnlyModelAdmin):
    list_display = ("occurred_at", "rule", "member_link", "store", "event_id", "points_earned",
                    "limited")
    list_filter = ("rule", "limited", "store")
    list_select_related = ("rule", "member", "store")
    search_fields = ("=event_id", "=member__card_number", "member__email")
    date_hierarchy = "occurred_at"
    fields = ("rule", "member", "store", "event_id", "occurred_at", "created_at",
              "points_earned", "limited", "balance_after", "entry")
    readonly_fields = fields

    @admin.display(description=_("member"), ordering="member")
    def member_link(self, obj):
        return admin_link(obj.member)
