"""Imports uploaded by staff: shown, never written (the staff page and the task do that)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from loyalty.admin.base import ReadOnlyModelAdmin, json_pairs, json_table
from loyalty.models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "filename", "kind", "store", "status", "rows_total",
                    "error_count", "attempts", "created_by", "finished_at")
    list_filter = ("kind", "status", "store")
    list_select_related = ("store", "created_by")
    search_fields = ("filename", "=uuid", "=sha256")
    date_hierarchy = "created_at"
    # The file itself stays out of the admin: it can be 25 MB, and it is the customer data.
    exclude = ("content",)
    fields = ("uuid", "kind", "store", "credit_points", "filename", "sha256", "status",
              "rows_total", "rows_done", "summary_table", "error_count", "error_table",
              "attempts", "next_attempt_at", "created_by", "created_at", "started_at",
              "finished_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")

    @admin.display(description=_("summary"))
    def summary_table(self, obj):
        return json_pairs(obj.summary)

    @admin.display(description=_("errors"))
    def error_table(self, obj):
        return json_table(obj.errors, [("line", _("line")), ("column", _("column")),
                                       ("code", _("code")), ("message", _("message"))])
