"""The staff front door: the dashboard, the scan page and its actions, cards at the till.

Thin: each view finds the store the person acts for (checked against their
roles every time), checks the form's shape, calls a service and shows what came
back. Domain errors become a plain message in the cashier's language, never a
server error. Under htmx an action answers with the member panel and the status
line alone; without JavaScript, with the whole page.
"""

from __future__ import annotations

import functools
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
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import may_import, may_manage_messages, may_see_insight, review_stores
from loyalty import selectors
from loyalty.models import Card, Member, Programme, Store
from loyalty.services import cards, members, purchases, reviews
from loyalty.services.errors import DomainError, Invalid, NotFound, OrderConflict
from loyalty.staff import forms
from loyalty.staff.access import (
    StoreForbidden,
    acting_store,
    choose_store,
    may_open,
    remember_member,
    staff_stores,
)
from loyalty.staff.lookup import find_at_till
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


def _posted_store(request) -> Store | None:
    return acting_store(request, request.POST.get("store"))


# --- dashboard ---------------------------------------------------------------------------


@staff_page
@require_GET
def dashboard(request):
    show_insight = may_see_insight(request.user)
    return render(request, "staff/dashboard.html", {
        "stores": staff_stores(request.user), "store": acting_store(request),
        "show_insight": show_insight,
        "show_imports": may_import(request.user),
        # Managers and admins: the low ratings of their stores waiting for a follow-up.
        "reviews_to_follow_up": (reviews.count_to_follow_up(
            stores=review_stores(request.user)) if show_insight else None),
        "show_messages": may_manage_messages(request.user)})


@staff_page
@require_POST
def store(request):
    chosen = choose_store(request, request.POST.get("store", ""))
    messages.success(request, _("You now act for %(store)s.") % {"store": chosen.name})
    return redirect("staff:scan")


# --- the scan page -----------------------------------------------------------------------


def panel_context(*, member: Member, store: Store, currency: str,
                  highlight: Voucher | None = None,
                  purchase_form: forms.PurchaseForm | None = None) -> dict:
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
    context = {
        "store": store, "currency": currency, "result": result,
        "status": {"kind": kind, "message": message} if message else None,
        "panel": (panel_context(member=member, store=store, currency=currency, **panel)
                  if member else None),
    }
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


@staff_page
@require_GET
def scan(request):
    store = acting_store(request, request.GET.get("store"))
    if store is None:
        messages.info(request, _("Choose the store you act for."))
        return redirect("staff:dashboard")
    member_id = request.GET.get("member", "")
    if not member_id.isdigit():
        return respond(request, store)
    if not may_open(request, int(member_id)):
        # A bare id opens nobody's panel: the customer is found at the till first.
        return respond(request, store, kind="error", message=find_first_message())
    return respond(request, store, member=selectors.active_member(int(member_id)))


def find_first_message() -> str:
    return _("Find the customer first: scan their card, or type their card number, email "
             "or phone.")


def _member(form) -> Member:
    member = selectors.active_member(form.cleaned_data["member"])
    if member is None:
        raise NotFound(_("This customer's membership is closed."))
    return member


def _invalid_form(request, store, form, member_id=None, **panel):
    member = selectors.active_member(member_id) if may_open(request, member_id) else None
    errors = [str(error) for field_errors in form.errors.values() for error in field_errors]
    return respond(request, store, member=member, kind="error", status=400,
                   message=" ".join(errors) or _("Check the form."), **panel)


def _posted_member_id(request) -> int | None:
    value = request.POST.get("member", "")
    return int(value) if value.isdigit() else None


def _needs_store(request):
    messages.info(request, _("Choose the store you act for."))
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("staff:dashboard")
        return response
    return redirect("staff:dashboard")


@staff_page
@require_POST
def lookup(request):
    store = _posted_store(request)
    if store is None:
        return _needs_store(request)
    form = forms.LookupForm(request.POST)
    if not form.is_valid():
        return _invalid_form(request, store, form)
    try:
        match = find_at_till(form.cleaned_data["code"])
    except DomainError as error:
        return respond(request, store, kind="error", message=error_message(error),
                       status=error.status, lookup_form=form)
    remember_member(request, match.member.pk)
    message = _("%(name)s: %(points)s points.") % {
        "name": match.member.full_name or match.member.card_number,
        "points": match.member.balance}
    kind = "ok"
    if match.voucher is not None:
        try:
            rewards.validate_voucher(code=match.voucher.code, store=store)
        except DomainError as error:
            kind, message = "error", _("Voucher %(code)s: %(error)s") % {
                "code": match.voucher.formatted_code, "error": error_message(error)}
        else:
            message = _("Voucher %(code)s of %(name)s is ready to use.") % {
                "code": match.voucher.formatted_code,
                "name": match.member.full_name or match.member.card_number}
    return respond(request, store, member=match.member, kind=kind, message=message,
                   highlight=match.voucher)


def _member_action(request, form_class, act, *, form_kwargs=None, panel=None):
    """The skeleton of the scan page's actions on a member.

    The store posted (one the person acts for), the form checked, then
    `act(store, form, member)` calls the service and answers; a domain error
    is shown on the member's panel with its status. `panel(form)` gives what
    the panel shows again (the purchase form, with what was typed).
    """
    store = _posted_store(request)
    if store is None:
        return _needs_store(request)
    form = form_class(request.POST, **(form_kwargs or {}))
    shown = panel(form) if panel else {}
    member_id = _posted_member_id(request)
    if not may_open(request, member_id):
        return respond(request, store, kind="error", status=403, message=find_first_message())
    if not form.is_valid():
        return _invalid_form(request, store, form, member_id, **shown)
    remember_member(request, member_id)  # still serving them
    try:
        return act(store, form, _member(form))
    except DomainError as error:
        return respond(request, store, member=selectors.active_member(
            form.cleaned_data["member"]), kind="error", message=error_message(error),
            status=error.status, **shown)


@staff_page
@require_POST
def purchase(request):
    currency = Programme.load().currency

    def act(store, form, member):
        recorded = purchases.record_purchase(store=store, order_id=form.order_reference(),
                                             amount=form.cleaned_data["amount"], member=member)
        bought = recorded.obj
        pending = purchases.points_status(bought) == "pending"
        values = {"points": bought.points_earned, "amount": bought.amount,
                  "currency": currency, "order": bought.order_id}
        if not recorded.created:
            message = _("Already recorded: purchase %(order)s of %(amount)s %(currency)s, "
                        "+%(points)s points. Nothing was added twice.") % values
        elif pending:
            message = _("Purchase of %(amount)s %(currency)s recorded: +%(points)s points, "
                        "pending until the return window ends.") % values
        else:
            message = _("Purchase of %(amount)s %(currency)s recorded: "
                        "+%(points)s points.") % values
        return respond(request, store, member=bought.member, message=message, result={
            "points": bought.points_earned, "pending": pending, "created": recorded.created})

    return _member_action(request, forms.PurchaseForm, act, form_kwargs={"currency": currency},
                          panel=lambda form: {"purchase_form": form})


@staff_page
@require_POST
def redeem_reward(request):
    def act(store, form, member):
        redemption = rewards.redeem_reward(
            member=member, reward_id=form.cleaned_data["reward"],
            redemption_id=form.cleaned_data["redemption_id"], store=store,
            by=request.user).obj
        voucher = redemption.voucher
        message = _("%(reward)s: %(points)s points spent. Voucher %(code)s is ready to "
                    "use.") % {"reward": redemption.reward.name,
                               "points": redemption.points_spent,
                               "code": masked_code(voucher)}
        return respond(request, store, member=member, message=message, highlight=voucher)

    return _member_action(request, forms.RewardForm, act)


@staff_page
@require_POST
def redeem_voucher(request):
    def act(store, form, member):
        # By its id on the panel: the page never holds an unused code in full.
        voucher = Voucher.objects.filter(pk=form.cleaned_data["voucher"]).first()
        if voucher is None or voucher.member_id != member.pk:
            raise NotFound(_("This voucher belongs to another member."))
        voucher = rewards.redeem_voucher(code=voucher.code,
                                         order_id=form.cleaned_data["order_id"],
                                         store=store).obj
        return respond(request, store, member=member, message=_(
            "Voucher %(code)s used: %(reward)s.") % {
                "code": voucher.formatted_code, "reward": voucher.reward.name})

    return _member_action(request, forms.VoucherForm, act)


@staff_page
@require_POST
def block_card(request):
    def act(store, form, member):
        card = cards.block_member_card(card_id=form.cleaned_data["card"], member_id=member.pk)
        return respond(request, store, member=member, message=_(
            "Card %(number)s is blocked: it can no longer be used.") % {"number": card.number})

    return _member_action(request, forms.BlockCardForm, act)


@staff_page
@require_POST
def link_card(request):
    def act(store, form, member):
        card = cards.issue_card(member_id=member.pk, number=form.cleaned_data["number"],
                                store=store)
        return respond(request, store, member=member, message=_(
            "Card %(number)s is now linked to this member.") % {"number": card.number})

    return _member_action(request, forms.LinkCardForm, act)


# --- a plastic card for a new or known customer ---------------------------------------------


@staff_page
@require_http_methods(["GET", "POST"])
def issue_card(request):
    code = request.POST.get("store") if request.method == "POST" else request.GET.get("store")
    store = acting_store(request, code)
    if store is None:
        return _needs_store(request)
    form = forms.IssueCardForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                issued = members.issue_card_at_till(
                    store=store, number=data["number"] or None, email=data["email"],
                    phone=data["phone"], first_name=data["first_name"],
                    last_name=data["last_name"])
            except DomainError as error:
                form.add_error(None, error_message(error))
                status = error.status
            else:
                member = issued.member
                values = {"number": issued.card.number,
                          "name": member.full_name or member.email or member.phone}
                messages.success(request, (
                    _("Card %(number)s issued to %(name)s, who is now a member.")
                    if issued.new_member else
                    _("Card %(number)s is now linked to %(name)s.")) % values)
                remember_member(request, member.pk)  # the customer is at the till
                return redirect(f"{reverse('staff:scan')}?store={store.code}&member={member.pk}")
        else:
            status = 400
    return render(request, "staff/issue_card.html", {"form": form, "store": store},
                  status=status)
