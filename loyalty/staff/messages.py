"""The managers' messages pages: what each journey did lately, and a journey's settings and
texts with a preview on a real member and a test sent to themselves.

Managers and programme admins only, never cashiers (accounts.roles.may_manage_messages).
Journeys belong to the programme, not to a store. Thin: the figures come from
`loyalty.services.messaging.figures`, the changes, previews and tests from
`loyalty.services.messaging.journey_settings`.
"""

from __future__ import annotations

import functools

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import may_manage_messages
from loyalty.models import Journey
from loyalty.services.errors import DomainError
from loyalty.services.messaging import figures, journey_settings
from loyalty.services.messaging import render as rendering
from loyalty.staff.till import forbidden

ACTIONS = ("save", "preview", "test")


def messages_page(view):
    """Logged in (else to the login), and a manager or programme admin (else 403)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not may_manage_messages(request.user):
            return forbidden(request, _("The messages pages are for managers and programme "
                                        "admins."))
        return view(request, *args, **kwargs)

    return wrapper


def campaigns_url() -> str | None:
    """The campaigns page, once the programme has one."""
    try:
        return reverse("staff:campaigns")
    except NoReverseMatch:
        return None


@messages_page
@require_GET
def messages_overview(request):
    return render(request, "staff/messages.html", {
        "journeys": figures.journey_figures(), "days": figures.WINDOW_DAYS,
        "conversion_days": figures.CONVERSION_DAYS, "campaigns_url": campaigns_url()})


class JourneyForm(forms.ModelForm):
    """The shape of a journey's settings; the rules (the variables) are the service's."""

    class Meta:
        model = Journey
        fields = journey_settings.EDITABLE
        widgets = {"body": forms.Textarea(attrs={"rows": 6}),
                   "body_fr": forms.Textarea(attrs={"rows": 6})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only this journey's own offer: the voucher for win-back, the bonus for the second
        # purchase.
        allowed = set(journey_settings.editable_fields(self.instance.kind))
        for name in [name for name in self.fields if name not in allowed]:
            del self.fields[name]

    def offer_fields(self):
        return [self[name] for name in journey_settings.OFFER_FIELDS.get(self.instance.kind, ())]


class PreviewForm(forms.Form):
    card_number = forms.CharField(
        label=gettext_lazy("Preview for the member with card number"), max_length=32,
        required=False,
        help_text=gettext_lazy("Empty: a sample member, in English and in French. A member: "
                               "in their language, with their first name and balance."))

    def clean_card_number(self):
        number = self.cleaned_data["card_number"].strip()
        if not number:
            return None
        member = journey_settings.member_by_card(number)
        if member is None:
            raise forms.ValidationError(gettext_lazy("No active member holds this card number."))
        return member


def _journey(kind: str) -> Journey:
    journey = Journey.objects.filter(kind=kind).first()
    if journey is None:
        raise Http404
    return journey


def _add_errors(form: forms.Form, error: DomainError) -> None:
    fields = error.fields or {}
    if not fields:
        form.add_error(None, error.message)
    for field, message in fields.items():
        form.add_error(field if field in form.fields else None, str(message))


def _previews(*, kind: str, member, draft: dict | None) -> list[rendering.Rendered]:
    if member is not None:
        return [journey_settings.preview(kind=kind, member=member, draft=draft)]
    return [journey_settings.preview(kind=kind, draft=draft, language=language)
            for language in ("en", "fr")]


@messages_page
@require_http_methods(["GET", "POST"])
def journey_page(request, kind: str):
    journey = _journey(kind)
    status = 200
    if request.method != "POST":
        form, preview_form = JourneyForm(instance=journey), PreviewForm()
        member, draft = None, None
    else:
        action = request.POST.get("action")
        form = JourneyForm(request.POST, instance=_journey(kind))
        preview_form = PreviewForm(request.POST)
        member = preview_form.cleaned_data["card_number"] if preview_form.is_valid() else None
        draft = ({name: form.cleaned_data.get(name, "")
                  for name in journey_settings.TEXT_FIELDS} if form.is_valid() else None)
        if action not in ACTIONS or not form.is_valid() or not preview_form.is_valid():
            status = 400
        elif action == "save":
            try:
                journey_settings.update_journey(
                    kind=kind, by=request.user,
                    **{name: form.cleaned_data[name] for name in form.fields})
            except DomainError as error:
                _add_errors(form, error)
                status = 400
            else:
                messages.success(request, _("The journey “%(journey)s” is saved.") % {
                    "journey": journey})
                return redirect("staff:journey", kind=kind)
        elif action == "preview":
            try:
                journey_settings.check_texts(draft)
            except DomainError as error:
                _add_errors(form, error)  # shown with the preview: unknown names stay empty
        else:
            try:
                journey_settings.send_test(kind=kind, to_user=request.user, member=member,
                                           draft=draft)
            except DomainError as error:
                _add_errors(form, error)
                status = 400
            else:
                messages.success(request, _("A test message was sent to %(email)s.") % {
                    "email": request.user.email})
    previews = (_previews(kind=kind, member=member, draft=draft)
                if preview_form.is_bound is False or preview_form.is_valid() else [])
    return render(request, "staff/journey.html", {
        "journey": journey, "form": form, "preview_form": preview_form, "member": member,
        "previews": previews, "variables": rendering.VARIABLES}, status=status)
