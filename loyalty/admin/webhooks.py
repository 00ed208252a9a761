"""Webhooks: the endpoints each store configures, and the log of what was sent to them."""

from __future__ import annotations

import json
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty.admin.base import ReadOnlyModelAdmin, admin_link, changelist_link
from loyalty.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from loyalty.services import webhook_delivery


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        label=_("events"), choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple,
        help_text=_("Points earned and vouchers go to the endpoints of the store where they "
                    "happened; tier, segment and stage changes and expiring points go to "
                    "every store's."))

    class Meta:
        model = WebhookEndpoint
        fields = ("store", "url", "description", "events", "active")
        field_classes = {"url": partial(forms.URLField, assume_scheme="https")}


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "store", "event_list", "active", "created_at", "delivery_log")
    list_filter = ("active", "store")
    list_select_related = ("store",)
    search_fields = ("url", "description")
    actions = ("rotate_secret",)
    fieldsets = (
        (None, {"fields": ("store", "url", "description", "events", "active")}),
        (_("Signing"), {
            "fields": ("secret", "created_at", "delivery_log"),
            "description": _("Give the secret to the receiving system: it checks the "
                             "X-Loyalty-Signature header of each request with it."),
        }),
    )
    readonly_fields = ("secret", "created_at", "delivery_log")

    @admin.display(description=_("events"))
    def event_list(self, obj):
        labels = dict(WebhookEvent.choices)
        return ", ".join(str(labels.get(event, event)) for event in obj.events or []) or "-"

    @admin.display(description=_("deliveries"))
    def delivery_log(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return changelist_link(WebhookDelivery, gettext("Delivery log"),
                               endpoint__id__exact=obj.pk)

    @admin.action(description=_("Rotate the signing secret of the selected endpoints"),
                  permissions=("change",))
    def rotate_secret(self, request, queryset):
        endpoints = list(queryset)
        for endpoint in endpoints:
            webhook_delivery.rotate_secret(endpoint_id=endpoint.pk)
            self.log_change(request, endpoint, gettext("Rotated the signing secret."))
        self.message_user(request, ngettext(
            "New secret for %(count)d endpoint: give it to the receiving system.",
            "New secrets for %(count)d endpoints: give them to the receiving systems.",
            len(endpoints)) % {"count": len(endpoints)}, messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "event", "endpoint", "event_key", "status", "attempts",
                    "last_status_code", "short_error", "next_attempt_at", "delivered_at")
    list_filter = ("status", "event", "endpoint")
    list_select_related = ("endpoint__store",)
    search_fields = ("=event_key", "=uuid")
    search_help_text = _("Cause, e.g. purchase:42, or delivery id (exact).")
    actions = ("retry_now",)
    fieldsets = (
        (None, {"fields": ("event", "event_key", "endpoint_link", "uuid", "created_at")}),
        (_("Sending"), {"fields": ("status", "attempts", "last_status_code", "last_error",
                                   "last_attempt_at", "next_attempt_at", "delivered_at")}),
        (_("Body"), {"fields": ("pretty_body",)}),
    )
    readonly_fields = ("event", "event_key", "endpoint_link", "uuid", "created_at", "status",
                       "attempts", "last_status_code", "last_error", "last_attempt_at",
                       "next_attempt_at", "delivered_at", "pretty_body")

    @admin.display(description=_("last error"))
    def short_error(self, obj):
        error = obj.last_error or ""
        return error if len(error) <= 60 else error[:59] + "…"

    @admin.display(description=_("endpoint"))
    def endpoint_link(self, obj):
        return admin_link(obj.endpoint)

    @admin.display(description=_("body"))
    def pretty_body(self, obj):
        try:
            text = json.dumps(json.loads(obj.body), indent=2, ensure_ascii=False)
        except ValueError:
            text = obj.body
        return format_html("<pre>{}</pre>", text)

    def has_retry_permission(self, request):
        return request.user.has_perm("loyalty.change_webhookendpoint")

    @admin.action(description=_("Retry now (failed deliveries)"), permissions=("retry",))
    def retry_now(self, request, queryset):
        selected = list(queryset.values_list("pk", flat=True))
        queued = webhook_delivery.requeue(delivery_ids=selected)
        skipped = len(selected) - queued
        if queued:
            self.message_user(request, ngettext(
                "%(count)d delivery queued again.", "%(count)d deliveries queued again.",
                queued) % {"count": queued}, messages.SUCCESS)
        if skipped:
            self.message_user(request, ngettext(
                "%(count)d delivery skipped: only failed deliveries are sent again.",
                "%(count)d deliveries skipped: only failed deliveries are sent again.",
                skipped) % {"count": skipped}, messages.WARNING)
