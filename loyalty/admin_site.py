"""The admin site: the programme's sections first, the technical models under one "System".

Rate-limit records (axes), the Celery beat schedule, idempotency records, the API key
library's own rows and the webhook outbox are what operators look at when something
breaks, not what runs the programme. They are listed together at the end of the index and
the sidebar; their pages keep their URLs. (A module of its own, outside loyalty.admin: the
app registry loads it before any model exists.)
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

SYSTEM_APPS = frozenset({"axes", "django_celery_beat", "rest_framework_api_key"})
SYSTEM_MODELS = frozenset({("loyalty", "IdempotencyRecord"), ("loyalty", "WebhookDelivery")})
SYSTEM_LABEL = "system"


def is_system(app_label: str, object_name: str) -> bool:
    return app_label in SYSTEM_APPS or (app_label, object_name) in SYSTEM_MODELS


class LoyaltyAdminSite(admin.AdminSite):
    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        if app_label is not None:
            return app_list  # an app's own page lists all its models, as before
        kept, system = [], []
        for app in app_list:
            models = []
            for model in app["models"]:
                (system if is_system(app["app_label"], model["object_name"]) else models
                 ).append(model)
            if models:
                kept.append({**app, "models": models})
        if system:
            kept.append(self._system_section(system))
        return kept

    def _system_section(self, models) -> dict:
        return {"name": _("System"), "app_label": SYSTEM_LABEL,
                "app_url": reverse("admin:system", current_app=self.name),
                "has_module_perms": True,
                "models": sorted(models, key=lambda model: str(model["name"]))}

    def get_urls(self):
        return [path("system/", self.admin_view(self.system_index), name="system"),
                *super().get_urls()]

    def system_index(self, request):
        sections = [app for app in self.get_app_list(request)
                    if app["app_label"] == SYSTEM_LABEL]
        request.current_app = self.name
        return TemplateResponse(request, self.app_index_template or "admin/app_index.html", {
            **self.each_context(request),
            "title": _("System"),
            "subtitle": None,
            "app_list": sections,
            "app_label": SYSTEM_LABEL,
        })


class LoyaltyAdminConfig(AdminConfig):
    default_site = "loyalty.admin_site.LoyaltyAdminSite"
