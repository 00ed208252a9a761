"""Journeys (switched on and tuned by managers) and the log of messages sent."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from loyalty.admin.base import ReadOnlyModelAdmin
from loyalty.models import EmailBounce, Journey, Message, PurchaseBonus
from loyalty.services.messaging.journey_settings import OFFER_FIELDS


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    list_display = ("kind", "active", "channel", "purpose", "priority", "days", "staff_page")
    list_editable = ("active",)
    list_filter = ("active", "channel", "purpose")
    fieldsets = (
        (None, {"fields": ("kind", "active", "channel", "purpose", "priority", "days",
                           "points_within")}),
        (_("Win-back: a voucher with the message"),
         {"fields": ("voucher_reward", "voucher_days")}),
        (_("Second purchase: a bonus on the next purchase"),
         {"fields": ("bonus_factor", "bonus_points", "bonus_days")}),
        (_("Text"), {"fields": ("subject", "body", "subject_fr", "body_fr"),
                     "description": _("Leave empty to send the built-in text, translated.")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return ("kind", "staff_page") if obj is not None else ("staff_page",)

    def get_fieldsets(self, request, obj=None):
        first, *rest = super().get_fieldsets(request, obj)
        # A journey shows its own offer only (the win-back's voucher, the second purchase's
        # bonus).
        offers = {name for names in OFFER_FIELDS.values() for name in names}
        own = set(OFFER_FIELDS.get(obj.kind, ())) if obj is not None else set()
        rest = [(name, options) for name, options in rest
                if not (set(options["fields"]) & offers) or set(options["fields"]) <= own]
        return ((first[0], {**first[1], "fields": (*first[1]["fields"], "staff_page")}), *rest)

    @admin.display(description=_("preview and test"))
    def staff_page(self, obj):
        # The preview on a member and the test send live on the managers' page.
        return format_html('<a href="{}">{}</a>', reverse("staff:journey", args=[obj.kind]),
                           _("Preview on a member, send me a test"))

    def has_add_permission(self, request):
        return False  # every journey exists (switched off until a manager turns it on)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "kind", "member", "channel", "purpose", "status", "reason",
                    "sent_at")
    list_filter = ("status", "reason", "kind", "channel", "purpose")
    list_select_related = ("member",)
    search_fields = ("=occasion", "=member__card_number", "member__email")
    raw_id_fields = ("member", "journey")


@admin.register(EmailBounce)
class EmailBounceAdmin(ReadOnlyModelAdmin):
    """What the email provider reported (django-anymail's tracking webhooks)."""

    list_display = ("at", "address", "event", "member", "provider", "description")
    list_filter = ("event", "provider")
    search_fields = ("address", "=member__card_number")
    raw_id_fields = ("member",)
    actions = ("clear_addresses",)

    def has_clear_permission(self, request) -> bool:
        return request.user.has_perm("loyalty.delete_emailbounce")

    @admin.action(description=_("Deliverable again: clear the selected addresses"),
                  permissions=["clear"])
    def clear_addresses(self, request, queryset):
        from loyalty.services.messaging.bounces import clear_address

        addresses = sorted(set(queryset.values_list("address", flat=True)))
        for address in addresses:
            clear_address(address=address)
        self.message_user(request, ngettext(
            "%(count)s address is deliverable again.",
            "%(count)s addresses are deliverable again.", len(addresses)) % {
                "count": len(addresses)})


@admin.register(PurchaseBonus)
class PurchaseBonusAdmin(ReadOnlyModelAdmin):
    """Next-purchase bonuses given by the second-purchase journey, and the purchase that
    used each."""

    list_display = ("starts_at", "member", "factor", "points", "expires_at", "used_at",
                    "purchase")
    list_filter = ("used_at",)
    search_fields = ("=occasion_key", "=member__card_number")
    raw_id_fields = ("member", "purchase")
