"""The customer portal's rewards pages: the catalogue, the confirm step, my vouchers.

Thin: they find the member, call `rewards.services` and show what came back.
Domain errors become messages on the next page, never a server error.
"""

from __future__ import annotations

import functools
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from loyalty import selectors
from loyalty.models import Programme
from loyalty.services.errors import DomainError, NotFound
from rewards import qr, services
from rewards.models import Reward, Voucher

PAST_VOUCHERS_PER_PAGE = 20


def member_required(view):
    """Log in first; a login without a member gets a short page saying so."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        member = selectors.member_for_user(request.user)
        if member is None:
            return render(request, "rewards/no_member.html")
        return view(request, member, *args, **kwargs)

    return wrapper


def _offer(reward: Reward, reason: str | None, balance: int) -> dict:
    # A balance below zero (after a refund) has to be made up before a reward is in reach.
    return {"reward": reward, "reason": reason, "missing": max(reward.points_cost - balance, 0)}


def _currency() -> str:
    return Programme.load().currency


@member_required
@require_http_methods(["GET"])
def catalogue(request, member):
    now = timezone.now()
    listing = services.catalogue_for(member=member, now=now)
    prefetch_related_objects([reward for reward, _reason in listing], "stores")
    ready = Voucher.objects.filter(member=member, status=Voucher.Status.ISSUED,
                                   expires_at__gt=now).count()
    return render(request, "rewards/catalogue.html", {
        "member": member, "ready_vouchers": ready, "currency": _currency(),
        "offers": [_offer(reward, reason, member.balance) for reward, reason in listing],
    })


def _active_reward(reward_id: int) -> Reward:
    reward = (Reward.objects.filter(pk=reward_id, active=True)
              .select_related("tier_required").prefetch_related("stores").first())
    if reward is None:
        raise Http404
    return reward


@member_required
@require_http_methods(["GET", "POST"])
def redeem(request, member, reward_id: int):
    """GET: the confirm step (cost, balance after). POST: spend the points, once per
    redemption id — the id is drawn here and carried by the form, so a double submit
    redeems once."""
    if request.method == "POST":
        try:
            redemption = services.redeem_reward(
                member=member, reward_id=reward_id,
                redemption_id=request.POST.get("redemption_id", ""), by=request.user).obj
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("rewards:catalogue")
        messages.success(request, _("Done: your voucher %(code)s is ready to use.") % {
            "code": redemption.voucher.formatted_code})
        return redirect("rewards:vouchers")
    reward = _active_reward(reward_id)
    reason = services.eligibility(member=member, reward=reward)
    return render(request, "rewards/confirm.html", {
        "member": member, "offer": _offer(reward, reason, member.balance),
        "balance_after": member.balance - reward.points_cost,
        "redemption_id": f"portal-{uuid.uuid4().hex}", "currency": _currency(),
    })


@member_required
@require_http_methods(["GET"])
def vouchers(request, member):
    now = timezone.now()
    mine = Voucher.objects.filter(member=member).select_related("reward")
    ready = list(mine.filter(status=Voucher.Status.ISSUED, expires_at__gt=now)
                 .order_by("expires_at", "pk"))
    past = Paginator(mine.exclude(pk__in=[voucher.pk for voucher in ready])
                     .order_by("-issued_at", "-pk"), PAST_VOUCHERS_PER_PAGE)
    return render(request, "rewards/vouchers.html", {
        "member": member, "ready": ready, "past": past.get_page(request.GET.get("page")),
        "currency": _currency(),
    })


def _own_voucher(member, voucher_id: int) -> Voucher:
    # Someone else's voucher is "not found", exactly like one that does not exist.
    voucher = (Voucher.objects.select_related("reward", "redemption")
               .filter(pk=voucher_id, member=member).first())
    if voucher is None:
        raise Http404
    return voucher


@member_required
@require_http_methods(["GET", "POST"])
def cancel(request, member, voucher_id: int):
    """GET: confirm. POST: cancel the voucher, its points come back."""
    voucher = _own_voucher(member, voucher_id)
    if not voucher.bought:
        messages.error(request, _("A voucher given to you cost no points: there is nothing to "
                                  "get back by cancelling it."))
        return redirect("rewards:vouchers")
    if request.method == "POST":
        try:
            services.cancel_voucher(voucher_id=voucher.pk, member_id=member.pk,
                                    by=request.user)
        except NotFound:
            raise Http404 from None
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _(
                "Voucher %(code)s cancelled: %(points)d points are back on your account.") % {
                "code": voucher.formatted_code, "points": voucher.redemption.points_spent})
        return redirect("rewards:vouchers")
    if voucher.status != Voucher.Status.ISSUED or voucher.expires_at <= timezone.now():
        messages.error(request, _("Only a voucher that is ready to use can be cancelled."))
        return redirect("rewards:vouchers")
    return render(request, "rewards/cancel.html", {
        "member": member, "voucher": voucher,
        "balance_after": member.balance + voucher.redemption.points_spent,
    })


@member_required
@require_http_methods(["GET"])
def voucher_qr(request, member, voucher_id: int):
    voucher = _own_voucher(member, voucher_id)
    response = HttpResponse(qr.voucher_svg(voucher.code), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=86400"
    return response
