"""What every action of the till shares: the staff-page guard, the member panel, the
answer (the panel alone under htmx, the whole page without JavaScript), the skeletons of
member and manager actions, and the cashier's words for domain errors."""

from __future__ import annotations

import functools
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import StaffRole
from accounts.roles import (
    can_act_for,
    may_see_insight,
)
from loyalty import selectors
from loyalty.models import Card, Member, Programme, Store
from loyalty.services import purchases
from loyalty.services.errors import (
    DomainError,
    Invalid,
    NotFound,
    OrderConflict,
    RefundConflict,
    RefundExceedsPurchase,
    UndoWindowPassed,
    VoucherNotUsed,
)
from loyalty.staff import forms
from loyalty.staff.access import (
    StoreForbidden,
    acting_store,
    may_open,
    remember_member,
    staff_stores,
)
from rewards import services as rewards
from rewards.models import Voucher

# Messages for the till where the service's own words are meant for a programmer.
FIELD_MESSAGES = {
    ("number", "not a valid card number"): gettext_lazy(
        "This card number is mistyped: check its digits."),
    ("number", "this card is already in use"): gettext_lazy(
        "This card is already linked to a member."),
}


def field_messages():
    # Built per call, so that each is in the language of the request.
    return {
        "amount": _("Check the amount."),
        "order_id": _("Check the receipt number."),
        "email": _("This email address is not valid."),
        "phone": _("This phone number is not valid, or belongs to another member."),
        "number": _("Check the card number."),
    }


def error_message(error: DomainError) -> str:
    """What the cashier reads: plain words, in their language."""
    if isinstance(error, OrderConflict):
        return _("This receipt number was already recorded with another amount or customer.")
    if isinstance(error, RefundExceedsPurchase):
        return _("This is more than what is left to refund of this purchase (%(left)s).") % {
            "left": str(error.fields.get("amount", "")).removeprefix("at most ")}
    if isinstance(error, RefundConflict):
        return _("This refund was already recorded with another amount.")
    if isinstance(error, UndoWindowPassed):
        return _("Too late to undo: a voucher can be put back within %(minutes)s minutes "
                 "of its use.") % {"minutes": settings.LOYALTY_VOUCHER_UNDO_MINUTES}
    if isinstance(error, VoucherNotUsed):
        return _("This voucher is not used: there is nothing to undo.")
    if isinstance(error, Invalid) and error.fields:
        field, text = next(iter(error.fields.items()))
        known = {key: str(value) for key, value in FIELD_MESSAGES.items()}
        return known.get((field, str(text))) or field_messages().get(field, error.message)
    return error.message


def masked_code(voucher: Voucher) -> str:
    """The code as the till shows it until it is used: its last four symbols, so that the
    cashier can match it with the customer's, not enough to spend it elsewhere."""
    hidden = "\u2022" * (len(voucher.code) - 4) + voucher.code[-4:]
    return "-".join(hidden[i:i + 4] for i in range(0, len(hidden), 4))


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def forbidden(request, message: str) -> HttpResponse:
    if is_htmx(request):
        return render(request, "staff/includes/panel_response.html",
                      {"status": {"kind": "error", "message": message}}, status=403)
    return render(request, "staff/forbidden.html", {"message": message}, status=403)


def staff_page(view):
    """Logged-in staff of at least one open store; a store named that is not theirs: 403."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if is_htmx(request):
                # Logged out mid-shift: the whole page goes to the login, not the panel.
                response = HttpResponse(status=204)
                response["HX-Redirect"] = (f"{resolve_url(settings.LOGIN_URL)}?"
                                           f"{urlencode({'next': reverse('staff:scan')})}")
                return response
            return redirect_to_login(request.get_full_path())
        if not staff_stores(request.user).exists():
            return forbidden(request, _("This page is for the staff of a store."))
        try:
            return view(request, *args, **kwargs)
        except StoreForbidden:
            return forbidden(request, _("You do not act for this store."))

    return wrapper


def posted_store(request) -> Store | None:
    return acting_store(request, request.POST.get("store"))


# --- the scan page -----------------------------------------------------------------------


def is_manager(user, store: Store) -> bool:
    """Refunds and undoing a voucher's use: the store's managers (and programme admins)."""
    return can_act_for(user, store, role=StaffRole.Role.MANAGER)


def panel_context(*, member: Member, store: Store, currency: str,
                  highlight: Voucher | None = None,
                  purchase_form: forms.PurchaseForm | None = None,
                  confirm: dict | None = None, manager: bool = False,
                  refund_purchase=None) -> dict:
    """Everything the member panel shows, read fresh: balances move with every action."""
    now = timezone.now()
    member = selectors.active_member(member.pk) or member
    vouchers = list(Voucher.objects.filter(member=member, status=Voucher.Status.ISSUED,
                                           expires_at__gt=now)
                    .select_related("reward").prefetch_related("reward__stores")
                    .order_by("expires_at", "pk"))
    ready = []
    for voucher in vouchers:
        stores = list(voucher.reward.stores.all())
        ready.append({"voucher": voucher, "usable": not stores or store in stores,
                      "shown_code": masked_code(voucher),
                      "highlight": highlight is not None and highlight.pk == voucher.pk,
                      "order_id": forms.new_reference("voucher")})
    offers = [{"reward": reward, "reason": reason,
               "missing": max(reward.points_cost - member.balance, 0),
               "redemption_id": forms.new_reference("till")}
              for reward, reason in rewards.catalogue_for(member=member, store=store, now=now)]
    return {
        "member": member,
        "purchase_form": purchase_form or forms.PurchaseForm(currency=currency, initial={
            "member": member.pk, "order_id": forms.new_reference("till")}),
        "vouchers": ready,
        "offers": [offer for offer in offers if offer["reason"] is None],
        "unavailable": [offer for offer in offers if offer["reason"] is not None],
        "cards": list(Card.objects.filter(member=member).order_by("-status", "-issued_at")),
        "link_form": forms.LinkCardForm(initial={"member": member.pk}),
        "highlight": highlight,
        "confirm": confirm,
        "manager": manager,
        **(manager_context(member=member, store=store, now=now,
                           refund_purchase=refund_purchase) if manager else {}),
    }


def manager_context(*, member: Member, store: Store, now, refund_purchase=None) -> dict:
    """What a manager sees more: the purchases to refund, the vouchers to put back."""
    recent = purchases.recent_purchases(member=member, store=store)
    if refund_purchase is not None:
        recent = [refund_purchase, *[p for p in recent if p.pk != refund_purchase.pk]]
    return {
        "refunds": [{"purchase": bought, "refund_id": forms.new_reference("refund"),
                     "highlight": refund_purchase is not None and bought.pk == refund_purchase.pk,
                     "left": bought.refundable_amount} for bought in recent],
        "used_vouchers": [{"voucher": voucher, "shown_code": voucher.formatted_code}
                          for voucher in rewards.recently_used_vouchers(
                              member=member, store=store, now=now)],
    }


def scan_texts() -> dict:
    """What scan.js may say, translated here (JavaScript carries no strings of its own)."""
    return {
        "problem": _("Problem:"),
        "camera_start": _("Scan with the camera"),
        "camera_stop": _("Stop the camera"),
        "camera_on": _("Camera on: hold the card's code in front of it."),
        "camera_denied": _("The camera was not allowed. Type the card number or code instead."),
        "camera_unavailable": _("No camera can be used here. Type the card number or code "
                                "instead."),
        "found": _("Code read: looking it up."),
        "network": _("No answer from the server. Check the connection and try again."),
    }


def respond(request, store: Store, *, member: Member | None = None, message: str = "",
            kind: str = "ok", status: int = 200, result: dict | None = None,
            lookup_form: forms.LookupForm | None = None, **panel) -> HttpResponse:
    currency = Programme.load().currency
    manager = is_manager(request.user, store)
    context = {
        "store": store, "currency": currency, "result": result,
        "status": {"kind": kind, "message": message} if message else None,
        "panel": (panel_context(member=member, store=store, currency=currency,
                                manager=manager,
                                **{k: v for k, v in panel.items() if k != "candidates"})
                  if member else None),
        "manager": manager,
    }
    if context["panel"] is None and panel.get("candidates") is not None:
        context["candidates"] = panel["candidates"]
    if context["panel"] and may_see_insight(request.user):
        # Scores, segment, stage and value: for managers and admins, never cashiers.
        shown = context["panel"]["member"]
        context["panel"]["insight"] = selectors.insight_rows([shown])[shown.pk]
        context["panel"]["show_insight"] = True
    if is_htmx(request):
        return render(request, "staff/includes/panel_response.html", context, status=status)
    context.update(lookup_form=lookup_form or forms.LookupForm(),
                   stores=staff_stores(request.user), scan_texts=scan_texts())
    return render(request, "staff/scan.html", context, status=status)


def find_first_message() -> str:
    return _("Find the customer first: scan their card, or type their card number, email "
             "or phone.")


def form_member(form) -> Member:
    member = selectors.active_member(form.cleaned_data["member"])
    if member is None:
        raise NotFound(_("This customer's membership is closed."))
    return member


def invalid_form(request, store, form, member_id=None, **panel):
    member = selectors.active_member(member_id) if may_open(request, member_id) else None
    errors = [str(error) for field_errors in form.errors.values() for error in field_errors]
    return respond(request, store, member=member, kind="error", status=400,
                   message=" ".join(errors) or _("Check the form."), **panel)


def posted_member_id(request) -> int | None:
    value = request.POST.get("member", "")
    return int(value) if value.isascii() and value.isdigit() else None


def needs_store(request):
    messages.info(request, _("Choose the store you act for."))
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("staff:dashboard")
        return response
    return redirect("staff:dashboard")


def member_action(request, form_class, act, *, form_kwargs=None, panel=None):
    """The skeleton of the scan page's actions on a member.

    The store posted (one the person acts for), the form checked, then
    `act(store, form, member)` calls the service and answers; a domain error
    is shown on the member's panel with its status. `panel(form)` gives what
    the panel shows again (the purchase form, with what was typed).
    """
    store = posted_store(request)
    if store is None:
        return needs_store(request)
    form = form_class(request.POST, **(form_kwargs or {}))
    shown = panel(form) if panel else {}
    member_id = posted_member_id(request)
    if not may_open(request, member_id):
        return respond(request, store, kind="error", status=403, message=find_first_message())
    if not form.is_valid():
        return invalid_form(request, store, form, member_id, **shown)
    remember_member(request, member_id)  # still serving them
    try:
        return act(store, form, form_member(form))
    except DomainError as error:
        return respond(request, store, member=selectors.active_member(
            form.cleaned_data["member"]), kind="error", message=error_message(error),
            status=error.status, **shown)


def confirm_above() -> Decimal | None:
    """LOYALTY_TILL_CONFIRM_ABOVE: the amount above which the till asks to confirm."""
    value = str(getattr(settings, "LOYALTY_TILL_CONFIRM_ABOVE", "") or "").strip()
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None


def manager_action(request, form_class, act):
    """A member action for the store's managers only (a cashier gets a 403 and nothing)."""
    store = posted_store(request)
    if store is not None and not is_manager(request.user, store):
        return respond(request, store, kind="error", status=403, message=_(
            "Only a manager of this store may do this."))
    return member_action(request, form_class, act)
