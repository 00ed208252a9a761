"""The import pages: a manager uploads a CSV of purchases or members, then follows the job.

Managers (for their stores) and programme admins (every store), never cashiers
(accounts.roles.may_import). Thin: the upload becomes an `ImportJob`
(`services.imports.jobs.create_job`), which a Celery task runs; the job's page
shows its progress (refreshed by static/js/imports.js from the JSON endpoint),
then its summary or its errors, and offers the rejected rows as a CSV to fix
and upload again.
"""

from __future__ import annotations

import functools

from django import forms
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import import_stores, is_programme_admin, may_import
from loyalty.models import ImportJob
from loyalty.services.errors import DomainError
from loyalty.services.imports import jobs
from loyalty.staff.till import forbidden

RECENT_JOBS = 20


def import_page(view):
    """Logged in (else to the login), and a manager or programme admin (else 403)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not may_import(request.user):
            return forbidden(request, _("Imports are for managers and programme admins."))
        return view(request, *args, **kwargs)

    return wrapper


def visible_jobs(user):
    """Every job for programme admins; a manager's stores' jobs for a manager."""
    jobs_ = ImportJob.objects.defer("content").select_related("store", "created_by")
    if is_programme_admin(user):
        return jobs_
    return jobs_.filter(store__in=import_stores(user))


def _job(request, uuid) -> ImportJob:
    job = visible_jobs(request.user).filter(uuid=uuid).first()
    if job is None:
        raise Http404
    return job


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("The file holds"),
                             choices=ImportJob.Kind.choices, widget=forms.RadioSelect,
                             initial=ImportJob.Kind.PURCHASES)
    store = forms.ChoiceField(
        label=gettext_lazy("Store"),
        help_text=gettext_lazy("Purchases: the store they were made in. Members: the store "
                               "their customer_ref belongs to."))
    file = forms.FileField(label=gettext_lazy("CSV file"))
    credit_points = forms.BooleanField(
        label=gettext_lazy("Credit the points these purchases earn"), required=False,
        help_text=gettext_lazy("Usually off for history. On, each purchase goes through the "
                               "points ledger, which is much slower."))

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.stores = {store.code: store for store in stores}
        self.fields["store"].choices = [(code, store.name) for code, store in
                                        self.stores.items()]
        if len(self.stores) == 1:
            self.fields["store"].initial = next(iter(self.stores))
        megabytes = settings.LOYALTY_IMPORT_MAX_BYTES // (1024 * 1024)
        self.fields["file"].help_text = _(
            "UTF-8 text with a header row, comma or semicolon separated; at most "
            "%(size)d MB.") % {"size": megabytes}

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.LOYALTY_IMPORT_MAX_BYTES:
            raise forms.ValidationError(_(
                "This file is %(size)s bytes; the limit is %(max)s bytes. Split it into smaller "
                "files.") % {
                    "size": formats.number_format(upload.size), "max":
                    formats.number_format(settings.LOYALTY_IMPORT_MAX_BYTES)})
        if not upload.size:
            raise forms.ValidationError(_("This file is empty."))
        return upload


@import_page
@require_http_methods(["GET", "POST"])
def imports(request):
    stores = list(import_stores(request.user))
    form = ImportForm(request.POST or None, request.FILES or None, stores=stores)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            upload = data["file"]
            try:
                job = jobs.create_job(
                    kind=data["kind"], store=form.stores[data["store"]], filename=upload.name,
                    content=upload.read(), credit_points=data["credit_points"],
                    by=request.user)
            except DomainError as error:
                form.add_error("file", next(iter(error.fields.values()), error.message))
            else:
                return redirect("staff:import-job", uuid=job.uuid)
        status = 400
    recent = list(visible_jobs(request.user)[:RECENT_JOBS])
    return render(request, "staff/imports.html", {"form": form, "jobs": recent},
                  status=status)


SUMMARY_LABELS = {
    "rows": gettext_lazy("Rows in the file"),
    "orders": gettext_lazy("Orders"),
    "purchases_added": gettext_lazy("Purchases added"),
    "already_present": gettext_lazy("Already present (not added again)"),
    "items_added": gettext_lazy("Purchase lines added"),
    "members_created": gettext_lazy("Members created"),
    "members_matched": gettext_lazy("Customers found among the members"),
    "created": gettext_lazy("Members created"),
    "updated": gettext_lazy("Members completed or updated"),
    "unchanged": gettext_lazy("Members unchanged"),
    "points_credited": gettext_lazy("Points credited"),
}


def progress_text(state: dict) -> str:
    if state["finished"] or not state["rows_total"]:
        return state["status_label"]
    return _("%(status)s: %(done)s of about %(total)s rows") % {
        "status": state["status_label"], "done": formats.number_format(state["rows_done"]),
        "total": formats.number_format(state["rows_total"])}


@import_page
@require_GET
def import_job(request, uuid):
    job = _job(request, uuid)
    state = jobs.job_progress(job)
    summary = [(label, job.summary[key]) for key, label in SUMMARY_LABELS.items()
               if key in (job.summary or {})]
    return render(request, "staff/import_job.html", {
        "job": job, "state": state, "progress_text": progress_text(state), "summary": summary,
        "errors": jobs.job_errors(job),  # rendered now, in the reader's language
        "more_errors": max(job.error_count - len(job.errors or []), 0)})


@import_page
@require_GET
def import_progress(request, uuid):
    job = _job(request, uuid)
    state = jobs.job_progress(job)
    return JsonResponse({**state, "text": progress_text(state)},
                        headers={"Cache-Control": "no-store"})


@import_page
@require_GET
def import_rejected(request, uuid):
    job = _job(request, uuid)
    if job.status != ImportJob.Status.REJECTED:
        raise Http404
    job = ImportJob.objects.get(pk=job.pk)  # with its content, now
    stem = job.filename.rsplit(".", 1)[0] or "import"
    response = StreamingHttpResponse(jobs.rejected_rows_csv(job),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_ascii(stem)}-rejected.csv"'
    return response


def _ascii(name: str) -> str:
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_"
                   for ch in name)[:100] or "import"
