"""Sales without a member at the till, and their receipt with its claim block.

A customer who forgot their card is served anyway: the sale is recorded without a
member, and the receipt shows a QR and a short code (loyalty.services.claims) with
which they make it theirs later in the portal. The till page only links here.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from loyalty.models import Programme, Purchase
from loyalty.portal.card import qr_data_uri
from loyalty.services import claims, purchases
from loyalty.services.errors import DomainError
from loyalty.staff.access import acting_store, staff_stores
from loyalty.staff.forms import PurchaseForm, new_reference
from loyalty.staff.till import staff_page


class SaleForm(PurchaseForm):
    """A purchase without a member: the till's purchase form, less the member."""

    member = None
    store = forms.CharField(widget=forms.HiddenInput)


def claim_receipt_context(purchase: Purchase) -> dict | None:
    """What the receipt's claim block shows (staff/includes/claim_receipt.html): the QR of
    the claim page's address, the short code and until when; None when the sale cannot be
    claimed (it has a member, is too old, or was refunded)."""
    claim = claims.receipt_claim(purchase=purchase)
    if claim is None:
        return None
    url = claims.claim_url(claim)
    return {"qr": qr_data_uri(url), "code": claims.grouped(claim.code), "url": url,
            "form_url": settings.LOYALTY_SITE_URL.rstrip("/") + reverse("claim-form"),
            "expires_at": claim.expires_at}


@staff_page
@require_http_methods(["GET", "POST"])
def sale(request):
    """Record a sale for a customer without their card; then show its receipt."""
    store = acting_store(request, request.POST.get("store") or request.GET.get("store"))
    if store is None:
        return redirect("staff:dashboard")
    currency = Programme.load().currency
    if request.method == "POST":
        form = SaleForm(request.POST, currency=currency)
        if form.is_valid():
            try:
                recorded = purchases.record_purchase(
                    store=store, order_id=form.order_reference(),
                    amount=form.cleaned_data["amount"], member=None, by=request.user)
            except DomainError as error:
                form.add_error("receipt" if error.fields.get("order_id") else None,
                               _("This receipt number was already recorded with another "
                                 "amount or customer.") if error.code == "order_conflict"
                               else error.message)
            else:
                return redirect("staff:receipt", purchase_id=recorded.obj.pk)
    else:
        form = SaleForm(initial={"order_id": new_reference("till"), "store": store.code},
                        currency=currency)
    return render(request, "staff/sale.html", {"store": store, "form": form},
                  status=400 if form.errors else 200)


@staff_page
@require_GET
def receipt(request, purchase_id: int):
    """A sale's receipt with its claim block, for the staff of its store only."""
    purchase = (Purchase.objects.select_related("store")
                .filter(pk=purchase_id, store__in=staff_stores(request.user)).first())
    if purchase is None:
        raise Http404
    return render(request, "staff/receipt.html", {
        "store": purchase.store, "purchase": purchase,
        "currency": Programme.load().currency,
        "claim": claim_receipt_context(purchase) if purchase.member_id is None else None})
