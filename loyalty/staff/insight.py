"""The manager's insight pages: the figures, the members behind each of them, CSV downloads.

Managers and programme admins only, never cashiers (accounts.roles.may_see_insight).
Customers belong to the programme, not to a store, so a manager sees the figures of
the whole programme. Thin: the figures come from `loyalty.services.insight.figures`,
a fixed number of queries whatever the number of members. Charts get their data
through `json_script` and are drawn by static/js/insight.js (no inline script or style).
"""

from __future__ import annotations

import csv
import functools

from django import forms
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from accounts.roles import may_see_insight
from loyalty.models import Segment, Stage
from loyalty.services.earning import current_programme
from loyalty.services.insight import figures
from loyalty.staff.till import forbidden

MEMBERS_PER_PAGE = 50
SCORES = [(score, str(score)) for score in range(1, 6)]


def insight_page(view):
    """Logged in (else to the login), and a manager or programme admin (else 403)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not may_see_insight(request.user):
            return forbidden(request, _("The insight pages are for managers and programme "
                                        "admins."))
        return view(request, *args, **kwargs)

    return wrapper


# --- the page ---------------------------------------------------------------------------------


def month_label(month) -> str:
    return formats.date_format(month, "YEAR_MONTH_FORMAT")


def money_label(value) -> str:
    return formats.number_format(value, 0, use_l10n=True, force_grouping=True)


def points_chart(months) -> dict:
    """What insight.js draws: labels and series, every word translated here."""
    return {
        "labels": [month_label(row.month) for row in months],
        "series": [
            {"key": "issued", "label": _("Issued"), "data": [row.issued for row in months]},
            {"key": "redeemed", "label": _("Redeemed"),
             "data": [row.redeemed for row in months]},
            {"key": "expired", "label": _("Expired"), "data": [row.expired for row in months]},
        ],
        "rate": {"label": _("Breakage rate (%)"),
                 "data": [float(row.breakage) if row.breakage is not None else None
                          for row in months]},
        "axes": {"points": _("Points"), "rate": _("Breakage rate (%)")},
    }


def bucket_label(bucket, currency: str) -> str:
    return _("%(low)s to %(high)s %(currency)s") % {
        "low": money_label(bucket.low), "high": money_label(bucket.high), "currency": currency}


def value_chart(value, currency: str) -> dict:
    return {
        "labels": [bucket_label(bucket, currency) for bucket in value.buckets],
        "series": [{"key": "members", "label": _("Members"),
                    "data": [bucket.members for bucket in value.buckets]}],
        "axes": {"members": _("Members"), "value": _("Predicted value (%(currency)s)") % {
            "currency": currency}},
    }


@insight_page
@require_GET
def insight(request):
    programme = current_programme()
    overview = figures.overview(programme=programme)
    return render(request, "staff/insight.html", {
        "overview": overview,
        "currency": programme.currency,
        "points_chart": points_chart(overview.months),
        "value_chart": value_chart(overview.value, programme.currency),
        "months_shown": list(reversed(overview.months)),
        "scores": range(1, 6),
        "stages": Stage.choices,
    })


# --- the members behind a figure ---------------------------------------------------------------


class MemberFilterForm(forms.Form):
    """Which members: a cell of the RFM grid, a segment, a lifecycle stage (together, if
    several are given)."""

    r = forms.TypedChoiceField(choices=SCORES, coerce=int, required=False, empty_value=None)
    f = forms.TypedChoiceField(choices=SCORES, coerce=int, required=False, empty_value=None)
    m = forms.TypedChoiceField(choices=SCORES, coerce=int, required=False, empty_value=None)
    segment = forms.SlugField(max_length=32, required=False)
    stage = forms.ChoiceField(choices=Stage.choices, required=False)

    def clean_segment(self):
        code = self.cleaned_data["segment"]
        if not code:
            return None
        segment = Segment.objects.filter(code=code).first()
        if segment is None:
            raise forms.ValidationError(gettext_lazy("No segment has this code."))
        return segment

    def clean_stage(self):
        return self.cleaned_data["stage"] or None

    def describe(self) -> str:
        data = self.cleaned_data
        parts = []
        for score in ("r", "f", "m"):
            if data.get(score) is not None:
                parts.append(f"{score.upper()} {data[score]}")
        if data.get("segment") is not None:
            parts.append(data["segment"].name)
        if data.get("stage"):
            parts.append(str(Stage(data["stage"]).label))
        return " · ".join(parts) or _("All members")


@insight_page
@require_GET
def members(request):
    form = MemberFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "staff/insight_members.html", {"form": form, "page": None},
                      status=400)
    filters = {key: form.cleaned_data.get(key) for key in ("r", "f", "m", "segment", "stage")}
    page = Paginator(figures.insight_members(**filters), MEMBERS_PER_PAGE).get_page(
        request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "staff/insight_members.html", {
        "form": form, "page": page, "title": form.describe(), "query": query.urlencode(),
        "currency": current_programme().currency, "csv_query": query.urlencode()})


# --- CSV downloads ------------------------------------------------------------------------------


def cell(value) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(text):
        return f"'{text}"
    return text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_response(name: str, header: list[str], rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="insight-{name}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return response


def _points_rows(programme):
    for row in figures.points_by_month(months=24):
        yield (row.month.strftime("%Y-%m"), row.issued, row.redeemed, row.expired,
               row.taken_back, "" if row.breakage is None else row.breakage)


def _rfm_rows(programme):
    for grid_cell in sorted(figures.rfm_grid().cells, key=lambda c: (c.r, c.f)):
        yield (grid_cell.r, grid_cell.f, grid_cell.members,
               "" if grid_cell.average_spend is None else grid_cell.average_spend)


def _segment_rows(programme):
    sizes = figures.segment_sizes()
    for size in sizes.segments:
        yield (size.code, size.name, size.members,
               "" if size.previous is None else size.previous,
               "" if size.change is None else size.change)
    if sizes.unsegmented:
        yield ("", _("No segment"), sizes.unsegmented, "", "")


def _value_rows(programme):
    for bucket in figures.value_distribution(programme=programme).buckets:
        yield bucket.low, bucket.high, bucket.members


def _member_row(row):
    member = row.member
    return (member.card_number, member.full_name, row.rfm_code, row.segment.code
            if row.segment else "", row.stage, row.historic_value,
            "" if row.predicted_value is None else row.predicted_value,
            "" if row.p_alive is None else round(row.p_alive, 4),
            row.last_purchase_at.isoformat() if row.last_purchase_at else "")


MEMBER_HEADER = ["card_number", "name", "rfm", "segment", "stage", "historic_value",
                 "predicted_value", "p_alive", "last_purchase_at"]


def _call_rows(programme):
    fit = figures.latest_fit()
    by_prediction = fit is not None and fit.status == fit.Status.OK
    for row in figures.members_to_call(by_prediction=by_prediction):
        yield _member_row(row)


CSV_FIGURES = {
    "points": (["month", "issued", "redeemed", "expired", "taken_back", "breakage_rate_percent"],
               _points_rows),
    "rfm": (["r", "f", "members", "average_spend"], _rfm_rows),
    "segments": (["code", "name", "members", "previous", "change"], _segment_rows),
    "value": (["from", "to", "members"], _value_rows),
    "call": (MEMBER_HEADER, _call_rows),
}


@insight_page
@require_GET
def figure_csv(request, figure: str):
    """One figure of the page as CSV: plain numbers (a dot for decimals), for a spreadsheet
    or a script, whatever the page's language."""
    if figure not in CSV_FIGURES:
        raise Http404
    header, rows = CSV_FIGURES[figure]
    return csv_response(figure, header, rows(current_programme()))


@insight_page
@require_GET
def members_csv(request):
    """The members of a figure (a cell, a segment, a stage) as CSV, all of them."""
    form = MemberFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponse(_("Check the filters."), status=400, content_type="text/plain")
    filters = {key: form.cleaned_data.get(key) for key in ("r", "f", "m", "segment", "stage")}
    rows = figures.insight_members(**filters).iterator(chunk_size=2000)
    return csv_response("members", MEMBER_HEADER, (_member_row(row) for row in rows))
