"""The staff front door: the dashboard, the scan page and its actions, cards at the till.

Thin: each view finds the store the person acts for (checked against their
roles every time), checks the form's shape, calls a service and shows what came
back. Domain errors become a plain message in the cashier's language, never a
server error. Under htmx an action answers with the member panel and the status
line alone; without JavaScript, with the whole page.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import (
    may_import,
    may_manage_messages,
    may_see_insight,
    review_stores,
)
from loyalty import selectors
from loyalty.models import Programme, Purchase
from loyalty.money import format_money
from loyalty.services import cards, enrolment, history, purchases, reviews
from loyalty.services.errors import (
    DomainError,
    NotFound,
)
from loyalty.services.inputs import parse_money
from loyalty.staff import forms
from loyalty.staff.access import (
    acting_store,
    choose_store,
    may_open,
    remember_member,
    staff_stores,
)
from loyalty.staff.lookup import find_at_till, find_by_name, looks_like_a_name
from loyalty.staff.till import (
    confirm_above,
    error_message,
    find_first_message,
    invalid_form,
    is_manager,
    manager_action,
    masked_code,
    member_action,
    needs_store,
    posted_member_id,
    posted_store,
    respond,
    staff_page,
)
from rewards import services as rewards
from rewards.models import Reward, Voucher

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


@staff_page
@require_GET
def scan(request):
    store = acting_store(request, request.GET.get("store"))
    if store is None:
        messages.info(request, _("Choose the store you act for."))
        return redirect("staff:dashboard")
    member_id = request.GET.get("member", "")
    if not (member_id.isascii() and member_id.isdigit()):
        return respond(request, store)
    if not may_open(request, int(member_id)):
        # A bare id opens nobody's panel: the customer is found at the till first.
        return respond(request, store, kind="error", message=find_first_message())
    return respond(request, store, member=selectors.active_member(int(member_id)))


@staff_page
@require_POST
def lookup(request):
    store = posted_store(request)
    if store is None:
        return needs_store(request)
    if "pick" in request.POST:
        return _pick(request, store)
    form = forms.LookupForm(request.POST)
    if not form.is_valid():
        return invalid_form(request, store, form)
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

    return member_action(request, forms.PurchaseForm, act, form_kwargs={"currency": currency},
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

    return member_action(request, forms.RewardForm, act)


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

    return member_action(request, forms.VoucherForm, act)


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

    return manager_action(request, forms.UndoVoucherForm, act)


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

    return manager_action(request, forms.RefundForm, act)


@staff_page
@require_POST
def refund_receipt(request):
    """A manager finds the purchase to refund by its receipt number: its member's panel
    opens with that purchase first."""
    store = posted_store(request)
    if store is None:
        return needs_store(request)
    if not is_manager(request.user, store):
        return respond(request, store, kind="error", status=403, message=_(
            "Only a manager of this store may do this."))
    form = forms.ReceiptForm(request.POST)
    if not form.is_valid():
        return invalid_form(request, store, form, posted_member_id(request))
    try:
        bought = purchases.find_receipt(store=store, receipt=form.cleaned_data["receipt"])
    except NotFound:
        member_id = posted_member_id(request)
        member = selectors.active_member(member_id) if may_open(request, member_id) else None
        return respond(request, store, member=member, kind="error", status=404, message=_(
            "No purchase of this store has this receipt number."))
    if bought.member_id is None:
        # A sale recorded without a card, not claimed (a claimed one has its member): it
        # earned no points, so the till has nothing to take back.
        return respond(request, store, kind="error", status=409, message=_(
            "This sale was recorded without a card and earned no points: there are no "
            "points to take back."))
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

    return member_action(request, forms.BlockCardForm, act)


@staff_page
@require_POST
def link_card(request):
    def act(store, form, member):
        card = cards.issue_card(member_id=member.pk, number=form.cleaned_data["number"],
                                store=store)
        return respond(request, store, member=member, message=_(
            "Card %(number)s is now linked to this member.") % {"number": card.number})

    return member_action(request, forms.LinkCardForm, act)


# --- a plastic card for a new or known customer ---------------------------------------------


@staff_page
@require_http_methods(["GET", "POST"])
def issue_card(request):
    code = request.POST.get("store") if request.method == "POST" else request.GET.get("store")
    store = acting_store(request, code)
    if store is None:
        return needs_store(request)
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
