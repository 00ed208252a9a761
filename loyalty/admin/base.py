"""Shared pieces of the loyalty admin: read-only admins, short inlines, readable JSON.

The admin is a front door like the others: it shows what the core stored and
calls the services to change it; it never writes points or business rules itself.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from loyalty.services.errors import DomainError

# An action on more members than this belongs in a task, not in one request.
MAX_MEMBERS_PER_ACTION = 500


def describe_error(error: DomainError) -> str:
    """A domain error as one line for a message: its text, then its details."""
    if not error.fields:
        return error.message
    details = "; ".join(f"{name}: {value}" for name, value in error.fields.items())
    return f"{error.message} ({details})"


def add_domain_error(form, error: DomainError) -> None:
    """Put a domain error on the form fields it names, the rest above the form."""
    unplaced = {}
    for name, detail in error.fields.items():
        if name in form.fields:
            form.add_error(name, str(detail))
        else:
            unplaced[name] = detail
    if unplaced or not error.fields:
        form.add_error(None, describe_error(DomainError(error.message, fields=unplaced)))


def admin_link(obj, text=None):
    """A link to an object's change page, or its text when there is none."""
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else obj)


def changelist_link(model, text, **filters):
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, urlencode(filters), text)


def json_table(rows, columns):
    """A list of dicts as an escaped HTML table; `columns` is [(key, heading), ...]."""
    if not rows:
        return "-"
    rows = [row for row in rows if isinstance(row, dict)]
    head = format_html_join("", "<th>{}</th>", ((heading,) for _key, heading in columns))
    body = format_html_join(
        "", "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((_text(row.get(key)),) for key, _h in columns)),)
         for row in rows))
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def json_pairs(mapping):
    """A dict (one level of nesting) as an escaped definition table."""
    if not mapping:
        return "-"
    if not isinstance(mapping, dict):
        return _text(mapping)
    return format_html(
        "<table><tbody>{}</tbody></table>",
        format_html_join("", "<tr><th>{}</th><td>{}</td></tr>",
                         ((key, _text(value)) for key, value in mapping.items())))


def _text(value) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_text(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value)
    return str(value)


class ReadOnlyAdminMixin:
    """Shown, never written: the records only services create."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyModelAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    show_full_result_count = False


class ReadOnlyTabularInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True


class RecentInlineFormSet(BaseInlineFormSet):
    """Only the most recent rows: a member's history can be long; the full list is a link."""

    limit = 20

    def get_queryset(self):
        if not hasattr(self, "_queryset"):
            self._queryset = super().get_queryset()[: self.limit]
        return self._queryset


class RecentTabularInline(ReadOnlyTabularInline):
    formset = RecentInlineFormSet


class IntermediateActionMixin:
    """Admin actions that ask for details on a page of their own before they run."""

    def render_action_page(self, request, *, action: str, title, template: str, form,
                           objects, **context):
        request.current_app = self.admin_site.name
        return TemplateResponse(request, template, {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "objects": objects,
            "form": form,
            "media": self.media + form.media,
            **context,
        })

    def too_many(self, request, queryset) -> bool:
        count = queryset.count()
        if count > MAX_MEMBERS_PER_ACTION:
            self.message_user(
                request,
                _("%(count)d members selected; an action works on at most %(max)d at once.")
                % {"count": count, "max": MAX_MEMBERS_PER_ACTION},
                messages.ERROR)
            return True
        return False
