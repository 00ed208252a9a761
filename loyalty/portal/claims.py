"""Claiming a receipt: the page a receipt's QR opens, and the form to type its code.

Thin: the code is checked and the purchase credited by loyalty.services.claims. The
page shows what the receipt is (store, date, amount: nothing about anybody) and
claims it on a POST, never on the GET a scanner or a link preview may send.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from loyalty.portal.forms import ClaimForm
from loyalty.portal.views import member_required
from loyalty.services import claims
from loyalty.services.errors import DomainError


def _error_message(error: DomainError) -> str:
    return error.message


@member_required
@require_http_methods(["GET", "POST"])
def claim_form(request, member):
    """Type a receipt's short code: claimed at once."""
    form = ClaimForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        try:
            recorded = claims.claim_purchase(code=code, member=member)
        except DomainError as error:
            form.add_error("code", _error_message(error))
        else:
            return _claimed(request, recorded)
    return render(request, "portal/claim_form.html", {
        "member": member, "form": form, "claim_days": claims.claim_days()},
        status=400 if form.errors else 200)


@member_required
@require_http_methods(["GET", "POST"])
def claim(request, member, code: str):
    """A receipt's QR (or a typed code's link): what it is, and a button to claim it."""
    try:
        found = claims.find_claim(code)
    except DomainError as error:
        return render(request, "portal/claim_form.html", {
            "member": member, "form": ClaimForm(), "error": _error_message(error),
            "claim_days": claims.claim_days()},
            status=404)
    if request.method == "POST":
        try:
            recorded = claims.claim_purchase(code=code, member=member)
        except DomainError as error:
            messages.error(request, _error_message(error))
            return redirect("claim", code=code)
        return _claimed(request, recorded)
    purchase = found.purchase
    mine = found.claimed_by_id is not None and purchase.member_id == member.pk
    state = ("mine" if mine else "used" if found.claimed_by_id is not None
             else "taken" if purchase.member_id is not None
             else "refunded" if purchase.refunded_amount > 0
             else "expired" if found.expires_at <= timezone.now() else "open")
    return render(request, "portal/claim.html", {
        "member": member, "claim": found, "purchase": purchase, "state": state,
        "code": code, "entry_lot": _lot(purchase) if mine else None})


def _lot(purchase):
    return purchase.entry.lot if purchase.entry_id else None


def _claimed(request, recorded):
    purchase = recorded.obj
    if recorded.created:
        if purchase.points_earned:
            messages.success(request, _("The purchase is yours: %(points)s points are on "
                                        "your card.") % {"points": purchase.points_earned})
        else:
            messages.success(request, _("The purchase is yours."))
    else:
        messages.info(request, _("You have already claimed this purchase."))
    return redirect("claim", code=claims.token_for(purchase.claim))
