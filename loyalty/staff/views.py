"""The staff front door: the dashboard, the scan page and its actions, cards at the till.

Thin: each view finds the store the person acts for (checked against their
roles every time), checks the form's shape, calls a service and shows what came
back. Domain errors become a plain message in the cashier's language, never a
server error. Under htmx an action answers with the member panel and the status
line alone; without JavaScript, with the whole page.
"""

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
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import StaffRole
from accounts.roles import (
    can_act_for,
    may_import,
    may_manage_messages,
    may_see_insight,
    review_stores,
)
from loyalty import selectors
from loyalty.models import Card, Member, Programme, Purchase, Store
from loyalty.money import format_money
from loyalty.services import cards, enrolment, history, purchases, reviews
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
from loyalty.services.inputs import parse_money
from loyalty.staff import forms
from loyalty.staff.access import (
    StoreForbidden,
    acting_store,
    choose_store,
    may_open,
    remember_member,
    staff_stores,
)
from loyalty.staff.lookup import find_at_till, find_by_name, looks_like_a_name
from rewards import services as rewards
from rewards.models import Reward, Voucher

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
    if "pick" in request.POST:
        return _pick(request, store)
    form = forms.LookupForm(request.POST)
    if not form.is_valid():
        return _invalid_form(request, store, form)
    code = form.cleaned_data["code"]
    try:
        match = find_at_till(code)
    except NotFound as error:
        if not looks_like_a_name(code):
            return respond(request, store, kind="error", message=error_message(error),
                           status=error.status, lookup_form=form)
        return _by_name(request, store, code, form, error)
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


NAME_RESULTS_KEY = "staff_name_results"


def masked_email(email: str) -> str:
    """Enough of an address to tell two namesakes apart, not to write to them."""
    if "@" not in email:
        return ""
    name, _at, domain = email.partition("@")
    return f"{name[:1]}\u2022\u2022\u2022@{domain}"


def _by_name(request, store, code, form, not_found: NotFound):
    found = find_by_name(code)
    if not found:
        return respond(request, store, kind="error", status=404, lookup_form=form,
                       message=error_message(not_found))
    if len(found) == 1:
        return _open(request, store, found[0])
    # The choice is kept in the session: a pick opens only a member offered here.
    request.session[NAME_RESULTS_KEY] = [member.pk for member in found]
    candidates = [{"member": member, "email": masked_email(member.email),
                   "card_end": member.card_number[-4:]} for member in found]
    return respond(request, store, candidates=candidates, lookup_form=form, message=_(
        "%(count)s members match: choose the customer.") % {"count": len(found)})


def _pick(request, store):
    form = forms.PickForm(request.POST)
    offered = request.session.get(NAME_RESULTS_KEY, [])
    if not form.is_valid() or form.cleaned_data["pick"] not in offered:
        return respond(request, store, kind="error", status=403, message=find_first_message())
    member = selectors.active_member(form.cleaned_data["pick"])
    if member is None:
        return respond(request, store, kind="error", status=404,
                       message=_("This customer's membership is closed."))
    request.session.pop(NAME_RESULTS_KEY, None)
    return _open(request, store, member)


def _open(request, store, member):
    remember_member(request, member.pk)
    return respond(request, store, member=member, message=_("%(name)s: %(points)s points.") % {
        "name": member.full_name or member.card_number, "points": member.balance})


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
        amount = parse_money(form.cleaned_data["amount"], field="amount")
        threshold = confirm_above()
        if threshold is not None and amount > threshold and not form.cleaned_data["confirm"]:
            # Asked on the server: a slip of the finger (4250 for 42,50) is not recorded
            # until the cashier says so, with or without the page's script.
            return respond(request, store, member=member, kind="warning", status=200,
                           message=_("%(amount)s is a large amount: confirm it, or "
                                     "correct it.") % {"amount": format_money(amount, currency)},
                           purchase_form=form, confirm={
                               "url": reverse("staff:purchase"),
                               "fields": {"amount": str(amount),
                                          "receipt": form.cleaned_data["receipt"],
                                          "order_id": form.cleaned_data["order_id"]},
                               "question": _("Record a purchase of %(amount)s?")
                               % {"amount": format_money(amount, currency)},
                               "button": _("Yes, record %(amount)s") % {
                                   "amount": format_money(amount, currency)}})
        recorded = purchases.record_purchase(store=store, order_id=form.order_reference(),
                                             amount=amount, member=member, by=request.user)
        bought = recorded.obj
        pending = purchases.points_status(bought) == "pending"
        values = {"points": bought.points_earned,
                  "amount": format_money(bought.amount, currency),
                  "purchase": history.purchase_line(bought)}
        if not recorded.created:
            message = _("Already recorded: %(purchase)s, %(amount)s, +%(points)s points. "
                        "Nothing was added twice.") % values
        elif pending:
            message = _("Purchase of %(amount)s recorded: +%(points)s points, "
                        "pending until the return window ends.") % values
        else:
            message = _("Purchase of %(amount)s recorded: +%(points)s points.") % values
        caps = purchases.caps_applied(bought)
        if "day" in caps:
            message += " " + _("Daily cap reached: +%(points)s.") % values
        elif caps:
            message += " " + _("Cap per purchase reached: +%(points)s.") % values
        return respond(request, store, member=bought.member, message=message, result={
            "points": bought.points_earned, "pending": pending, "created": recorded.created,
            "capped": "day" if "day" in caps else ("purchase" if caps else "")})

    return _member_action(request, forms.PurchaseForm, act, form_kwargs={"currency": currency},
                          panel=lambda form: {"purchase_form": form})


@staff_page
@require_POST
def redeem_reward(request):
    def act(store, form, member):
        if not form.cleaned_data["confirm"]:
            offered = Reward.objects.filter(pk=form.cleaned_data["reward"]).first()
            if offered is None:
                raise NotFound(_("This reward no longer exists."))
            return respond(request, store, member=member, kind="warning", message=_(
                "Confirm the reward, or cancel."), confirm={
                "url": reverse("staff:redeem-reward"),
                "fields": {"reward": offered.pk,
                           "redemption_id": form.cleaned_data["redemption_id"]},
                "question": _("Spend %(points)s points on %(reward)s?") % {
                    "points": offered.points_cost, "reward": offered.name},
                "button": _("Yes, redeem %(reward)s") % {"reward": offered.name}})
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
        if not form.cleaned_data["confirm"]:
            return respond(request, store, member=member, kind="warning", message=_(
                "Confirm the voucher, or cancel."), highlight=voucher, confirm={
                "url": reverse("staff:redeem-voucher"),
                "fields": {"voucher": voucher.pk, "order_id": form.cleaned_data["order_id"]},
                "question": _("Use voucher %(code)s (%(reward)s) now?") % {
                    "code": masked_code(voucher), "reward": voucher.reward.name},
                "button": _("Yes, use it now")})
        voucher = rewards.redeem_voucher(code=voucher.code,
                                         order_id=form.cleaned_data["order_id"],
                                         store=store).obj
        return respond(request, store, member=member, message=_(
            "Voucher %(code)s used: %(reward)s.") % {
                "code": voucher.formatted_code, "reward": voucher.reward.name})

    return _member_action(request, forms.VoucherForm, act)


def confirm_above() -> Decimal | None:
    """LOYALTY_TILL_CONFIRM_ABOVE: the amount above which the till asks to confirm."""
    value = str(getattr(settings, "LOYALTY_TILL_CONFIRM_ABOVE", "") or "").strip()
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None


def _manager_action(request, form_class, act):
    """A member action for the store's managers only (a cashier gets a 403 and nothing)."""
    store = _posted_store(request)
    if store is not None and not is_manager(request.user, store):
        return respond(request, store, kind="error", status=403, message=_(
            "Only a manager of this store may do this."))
    return _member_action(request, form_class, act)


@staff_page
@require_POST
def undo_voucher(request):
    def act(store, form, member):
        voucher = Voucher.objects.filter(pk=form.cleaned_data["voucher"],
                                         member=member).first()
        if voucher is None:
            raise NotFound(_("This voucher belongs to another member."))
        voucher = rewards.undo_voucher_use(voucher_id=voucher.pk, store=store,
                                           by=request.user)
        return respond(request, store, member=member, highlight=voucher, message=_(
            "Voucher %(code)s is usable again: its use was undone.") % {
                "code": masked_code(voucher)})

    return _manager_action(request, forms.UndoVoucherForm, act)


@staff_page
@require_POST
def refund(request):
    currency = Programme.load().currency

    def act(store, form, member):
        bought = Purchase.objects.filter(
            pk=form.cleaned_data["purchase"], store=store, member=member).first()
        if bought is None:
            raise NotFound(_("This purchase is not one of this customer's in this store."))
        recorded = purchases.record_refund(
            purchase=bought, refund_id=form.cleaned_data["refund_id"],
            amount=form.cleaned_data["amount"], by=request.user)
        done = recorded.obj
        values = {"amount": format_money(done.amount, currency),
                  "purchase": history.purchase_line(bought), "points": done.points_reversed}
        message = (_("Refund of %(amount)s on the %(purchase)s recorded: "
                     "-%(points)s points.") if recorded.created else
                   _("Already recorded: refund of %(amount)s on the %(purchase)s, "
                     "-%(points)s points. Nothing was taken twice.")) % values
        return respond(request, store, member=member, message=message)

    return _manager_action(request, forms.RefundForm, act)


@staff_page
@require_POST
def refund_receipt(request):
    """A manager finds the purchase to refund by its receipt number: its member's panel
    opens with that purchase first."""
    store = _posted_store(request)
    if store is None:
        return _needs_store(request)
    if not is_manager(request.user, store):
        return respond(request, store, kind="error", status=403, message=_(
            "Only a manager of this store may do this."))
    form = forms.ReceiptForm(request.POST)
    if not form.is_valid():
        return _invalid_form(request, store, form, _posted_member_id(request))
    try:
        bought = purchases.find_receipt(store=store, receipt=form.cleaned_data["receipt"])
    except NotFound:
        member_id = _posted_member_id(request)
        member = selectors.active_member(member_id) if may_open(request, member_id) else None
        return respond(request, store, member=member, kind="error", status=404, message=_(
            "No purchase of this store has this receipt number."))
    member = selectors.active_member(bought.member_id)
    if member is None:
        return respond(request, store, kind="error", status=404,
                       message=_("This customer's membership is closed."))
    remember_member(request, member.pk)
    return respond(request, store, member=member, refund_purchase=bought, message=_(
        "%(purchase)s, %(amount)s: %(left)s left to refund.") % {
            "purchase": capfirst(history.purchase_line(bought)),
            "amount": format_money(bought.amount), "left": format_money(bought.refundable_amount)})


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
                issued = enrolment.enrol_at_till(
                    store=store, number=data["number"] or None, email=data["email"],
                    phone=data["phone"], first_name=data["first_name"],
                    last_name=data["last_name"], email_marketing=data["email_marketing"],
                    sms_marketing=data["sms_marketing"])
            except DomainError as error:
                form.add_error(None, error_message(error))
                status = error.status
            else:
                member = issued.member
                values = {"number": issued.card.number,
                          "name": member.full_name or member.email or member.phone}
                text = (_("Card %(number)s issued to %(name)s, who is now a member.")
                        if issued.new_member else
                        _("Card %(number)s is now linked to %(name)s.")) % values
                if issued.new_member and member.balance + member.pending:
                    text += " " + _("Welcome points: +%(points)s.") % {
                        "points": member.balance + member.pending}
                messages.success(request, text)
                remember_member(request, member.pk)  # the customer is at the till
                return redirect(f"{reverse('staff:scan')}?store={store.code}&member={member.pk}")
        else:
            status = 400
    return render(request, "staff/issue_card.html", {"form": form, "store": store},
                  status=status)
