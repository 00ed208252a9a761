"""The reviews page of a store: its count, average and trend, the latest reviews, and the
low ratings waiting for a follow-up.

Store managers (their stores) and programme admins (every store), never cashiers: a
review names a customer. Thin: the figures come from `loyalty.services.reviews`, a fixed
number of queries whatever the number of reviews; the follow-up is the service's.
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import review_stores
from loyalty.models import Store
from loyalty.services import reviews
from loyalty.services.errors import DomainError
from loyalty.staff.access import SESSION_KEY
from loyalty.staff.forms import FollowUpForm
from loyalty.staff.till import forbidden


class NotYourStore(Exception):
    pass


def reviews_page(view):
    """Logged in (else to the login), and a manager or programme admin of an open store
    (else 403); a store named that is not theirs: 403."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        stores = list(review_stores(request.user))
        if not stores:
            return forbidden(request, _("The reviews pages are for store managers and "
                                        "programme admins."))
        try:
            return view(request, stores, *args, **kwargs)
        except NotYourStore:
            return forbidden(request, _("You do not manage this store."))

    return wrapper


def _chosen_store(request, stores: list[Store], code: str | None) -> Store:
    """The store named, else the one the person acts for at the till, else their first."""
    by_code = {store.code: store for store in stores}
    code = (code or "").strip()
    if code:
        if code not in by_code:
            raise NotYourStore(code[:32])
        return by_code[code]
    return by_code.get(request.session.get(SESSION_KEY) or "", stores[0])


def _page_url(store: Store) -> str:
    return f"{reverse('staff:reviews')}?{urlencode({'store': store.code})}"


@reviews_page
@require_GET
def reviews_page_view(request, stores):
    store = _chosen_store(request, stores, request.GET.get("store"))
    waiting = reviews.reviews_to_follow_up(store=store)
    return render(request, "staff/reviews.html", {
        "store": store, "stores": stores,
        "figures": reviews.store_figures(store=store),
        "summaries": (_summaries(stores) if len(stores) > 1 else []),
        "latest": reviews.latest_reviews(store=store),
        "waiting": [(review, FollowUpForm(initial={"store": store.code},
                                          auto_id=f"id_review_{review.pk}_%s"))
                    for review in waiting],
    })


def _summaries(stores: list[Store]) -> list[dict]:
    figures = reviews.store_summaries(stores=stores)
    return [{"store": store, **figures.get(store.pk, {"count": 0, "average": None,
                                                        "to_follow_up": 0})}
            for store in stores]


@reviews_page
@require_POST
def follow_up(request, stores, review_id: int):
    form = FollowUpForm(request.POST)
    if not form.is_valid():
        store = _chosen_store(request, stores, request.POST.get("store"))
        messages.error(request, _("The note is too long: at most 2,000 characters."))
        return HttpResponseRedirect(_page_url(store))
    store = _chosen_store(request, stores, form.cleaned_data["store"])
    try:
        recorded = reviews.follow_up_review(review_id=review_id, by=request.user,
                                            note=form.cleaned_data["note"], store=store)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        if recorded.created:
            messages.success(request, _("The review is marked as followed up."))
        else:
            messages.info(request, _("This review was already followed up."))
    return HttpResponseRedirect(_page_url(store))
