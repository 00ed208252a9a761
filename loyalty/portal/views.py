"""The customer portal: home, history, profile, data rights and the referral link.

Thin views: they find the member from the logged-in user (never from the URL, so
nobody reads another member's data by changing an id), call services and selectors,
and render. Domain errors become form errors or messages, never a server error.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Min
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import set_language

from accounts import services as account_services
from accounts.signals import REFERRER_SESSION_KEY
from loyalty import selectors
from loyalty.models import Member, PointsEntry, PointsLot, Programme, Purchase, Tier
from loyalty.portal.forms import DeleteAccountForm, HistoryFilter, ProfileForm, ReviewForm
from loyalty.services import history as entry_history
from loyalty.services import privacy, reviews, tiers
from loyalty.services.errors import DomainError, PurchaseRefunded, ReviewExists
from loyalty.services.messaging.member_log import member_log
from loyalty.services.referrals import REFERRAL
from loyalty.ways_to_earn import ways_to_earn

logger = logging.getLogger("loyalty.portal")

# The home page's look ahead at expiring points; its heading says this number.
EXPIRING_WITHIN_DAYS = 30

ENTRIES_PER_PAGE = 25
REWARDS_IN_REACH = 3
REFERRAL_SALT = "loyalty.portal.referral"


def member_required(view):
    """Log in first; a login without a member gets a short page saying so."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        member = selectors.member_for_user(request.user)
        if member is None:
            return render(request, "portal/no_member.html", status=200)
        return view(request, member, *args, **kwargs)

    return wrapper


def referral_code(member: Member) -> str:
    return signing.dumps(member.pk, salt=REFERRAL_SALT, compress=True)


def referral_url(request, member: Member) -> str:
    return request.build_absolute_uri(reverse("join", args=[referral_code(member)]))


def tier_progress(member: Member, next_tier: Tier | None, programme: Programme, now) -> dict | None:
    """How far the member is from the next tier, what is missing and by when: the
    points counted now start leaving the rolling window on `by`."""
    if next_tier is None:
        return None
    value = tiers.qualifying_value(member=member, now=now, programme=programme)
    since = now - timedelta(days=programme.tier_window_days)
    if programme.tier_basis == Programme.TierBasis.SPEND:
        oldest = (Purchase.objects.filter(member=member, occurred_at__gt=since,
                                          occurred_at__lte=now)
                  .aggregate(oldest=Min("occurred_at"))["oldest"])
    else:
        oldest = (PointsLot.objects.filter(member=member, qualifying=True, earned_at__gt=since,
                                           earned_at__lte=now)
                  .aggregate(oldest=Min("earned_at"))["oldest"])
    by = (oldest or now) + timedelta(days=programme.tier_window_days)
    threshold = next_tier.threshold
    return {"tier": next_tier, "value": value, "threshold": threshold,
            "needed": max(threshold - value, 0), "by": by,
            "spend": programme.tier_basis == Programme.TierBasis.SPEND,
            "max": max(threshold, 1), "shown": min(value, threshold)}


@require_GET
def home(request):
    programme = Programme.load()
    member = selectors.member_for_user(request.user)
    context = {"programme": programme, "member": member}
    if member is None:
        ways = ways_to_earn()
        context.update(tiers=list(Tier.objects.order_by("rank")),
                       ways_to_earn=[way for way in ways if not way.upcoming],
                       upcoming_ways=[way for way in ways if way.upcoming])
        return render(request, "portal/home.html", context)
    from rewards.services import catalogue_for

    now = timezone.now()
    in_reach = [reward for reward, reason in catalogue_for(member=member, now=now)
                if reason is None][:REWARDS_IN_REACH]
    expiring = selectors.expiring_points(member=member, within_days=EXPIRING_WITHIN_DAYS)
    context.update(
        expiring=expiring, expiring_within_days=EXPIRING_WITHIN_DAYS,
        expiring_total=sum(row["points"] for row in expiring),
        entries=recent_lines(member),
        progress=tier_progress(member, selectors.next_tier(member=member), programme, now),
        in_reach=in_reach, referral_url=referral_url(request, member),
    )
    return render(request, "portal/home.html", context)


def recent_lines(member: Member, limit: int = 5) -> list[dict]:
    """The member's last entries, each with its line in the reader's words."""
    entries = list(entry_history.history_queryset(
        PointsEntry.objects.filter(member=member).order_by("-id"))[:limit])
    return [{"entry": entry, "text": text}
            for entry, text in zip(entries, entry_history.describe_entries(entries),
                                   strict=True)]


def describe_entries(entries) -> list[dict]:
    """Ledger lines in the reader's words (loyalty/services/history.py); a purchase also
    shows its breakdown and whether it can be rated."""
    purchases = [getattr(entry, "purchase", None) if entry.kind == PointsEntry.Kind.EARN
                 else None for entry in entries]
    breakdowns = entry_history.many_breakdown_lines(
        [line for line in purchase.points_breakdown if line.get("points")]
        if purchase is not None else [] for purchase in purchases)
    rows = []
    for entry, text, purchase, breakdown in zip(
            entries, entry_history.describe_entries(entries), purchases, breakdowns,
            strict=True):
        if purchase is None:
            rows.append({"entry": entry, "text": text, "purchase": None, "breakdown": [],
                         "review": None, "may_review": False})
            continue
        # select_related("purchase__review") fetched it: no query here.
        review = getattr(purchase, "review", None)
        rows.append({"entry": entry, "text": text, "purchase": purchase, "breakdown": breakdown,
                     "review": review,
                     "may_review": review is None and not reviews.is_fully_refunded(purchase)})
    return rows


@member_required
@require_GET
def history(request, member):
    form = HistoryFilter(request.GET or None)
    kind = form.cleaned_data["kind"] if form.is_valid() else ""
    entries = entry_history.history_queryset(
        PointsEntry.objects.filter(member=member)
        .select_related("purchase__store", "purchase__review")
        .order_by("-created_at", "-id"))
    if kind:
        entries = entries.filter(kind=kind)
    page = Paginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "portal/history.html", {
        "member": member, "form": form, "kind": kind, "page": page,
        "rows": describe_entries(list(page)),
    })


@member_required
@require_http_methods(["GET", "POST"])
def review_purchase(request, member, purchase_id: int):
    """Rate one of the member's own purchases, once (404 for anyone else's)."""
    purchase = (Purchase.objects.select_related("store", "review")
                .filter(pk=purchase_id, member=member).first())
    if purchase is None:
        raise Http404
    review = getattr(purchase, "review", None)
    form = None
    if review is None:
        form = ReviewForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            recorded = reviews.post_review(member=member, purchase_id=purchase.pk,
                                           rating=form.cleaned_data["rating"],
                                           comment=form.cleaned_data["comment"])
        except ReviewExists:
            messages.info(request, _("You have already rated this purchase."))
            return redirect("history")
        except PurchaseRefunded:
            form.add_error(None, _("This purchase was refunded in full: it cannot be rated."))
        except DomainError as error:
            for field in error.fields or {}:
                form.add_error(field if field in form.fields else None, {
                    "rating": _("Choose a rating."),
                    "comment": _("The comment must be plain text of at most 2,000 "
                                 "characters."),
                }.get(field, _("This purchase cannot be rated.")))
            if not error.fields:
                form.add_error(None, _("This purchase cannot be rated."))
        else:
            event = recorded.obj.action_event
            if event is not None and event.points_earned:
                messages.success(request, _("Thank you for your review: %(points)s points "
                                            "are on your card.") % {
                    "points": event.points_earned})
            else:
                messages.success(request, _("Thank you for your review."))
            return redirect("history")
    return render(request, "portal/review.html", {
        "member": member, "purchase": purchase, "review": review, "form": form,
        "purchase_text": entry_history.purchase_line(purchase),
        "refunded": reviews.is_fully_refunded(purchase)})


def _activate(response, language: str) -> None:
    translation.activate(language)
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language,
                        max_age=settings.LANGUAGE_COOKIE_AGE,
                        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
                        secure=settings.LANGUAGE_COOKIE_SECURE)


def profile_error(field: str, message) -> str:
    """A service's complaint about a profile field, as the member reads it."""
    if field == "phone":
        return _("This phone number cannot be saved: check it, or ask at the till to add it "
                 "to your card.")
    if field == "birth_date":
        return _("Enter a birth date between 1900 and today.")
    if field in ("first_name", "last_name"):
        return _("At most 100 characters.")
    return _("This value cannot be saved.")


@member_required
@require_http_methods(["GET", "POST"])
def profile(request, member):
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                member = account_services.update_profile(member=member, **form.cleaned_data)
            except DomainError as error:
                for field, message in (error.fields or {}).items():
                    # In the reader's words; a phone held by another member gets the words
                    # of a mistyped one: the profile must not tell who is a member.
                    form.add_error(field if field in form.fields else None,
                                   profile_error(field, message))
            else:
                messages.success(request, _("Your profile is saved."))
                response = redirect("profile")
                _activate(response, member.language)
                return response
    else:
        form = ProfileForm(initial={
            "first_name": member.first_name, "last_name": member.last_name,
            "phone": member.phone, "birth_date": member.birth_date,
            "language": member.language or translation.get_language(),
            "email_marketing": member.email_marketing, "sms_marketing": member.sms_marketing})
    return render(request, "portal/profile.html", {
        "member": member, "form": form, "referral_url": referral_url(request, member),
        "message_log": member_log(member=member)})


@require_POST
def language(request):
    """The footer's language choice: Django's set_language (the cookie, back to the page),
    and for someone logged in, their login's and member's preferred language too, so the
    pages, the profile and the emails agree."""
    response = set_language(request)
    chosen = request.POST.get("language", "")
    if request.user.is_authenticated and chosen in dict(settings.LANGUAGES):
        account_services.set_preferred_language(user=request.user, language=chosen)
    return response


@member_required
@require_http_methods(["GET", "POST"])
def export(request, member):
    """GET: what the file holds. POST: the file, logged."""
    if request.method == "POST":
        data = privacy.export_member_data(member=member)
        logger.info("Member %s exported their data", member.pk)
        response = HttpResponse(json.dumps(data, cls=DjangoJSONEncoder, indent=2,
                                           ensure_ascii=False),
                                content_type="application/json; charset=utf-8")
        stamp = timezone.localdate().isoformat()
        response["Content-Disposition"] = f'attachment; filename="my-loyalty-data-{stamp}.json"'
        response["Cache-Control"] = "no-store"
        return response
    return render(request, "portal/export.html", {"member": member})


@member_required
@require_http_methods(["GET", "POST"])
def delete_account(request, member):
    """GET: what deleting means. POST, with the box ticked and the password: erase."""
    form = DeleteAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not request.user.check_password(form.cleaned_data["password"]):
            form.add_error("password", _("This is not your password."))
        else:
            privacy.erase_member(member=member, by=request.user)
            logout(request)
            messages.success(request, _("Your account is deleted. Goodbye, and thank you."))
            return redirect("home")
    return render(request, "portal/delete.html", {"member": member, "form": form})


@require_GET
def join(request, code: str):
    """A member's share link: remember who referred the visitor and say, before the sign-up,
    who invited them (first name only) and what each of them gets, from the rules' numbers."""
    try:
        referrer_id = signing.loads(code, salt=REFERRAL_SALT)
    except signing.BadSignature:
        referrer_id = None
    referrer = None
    if referrer_id:
        referrer = Member.objects.filter(pk=referrer_id, status="active").first()
    if referrer is not None:
        request.session[REFERRER_SESSION_KEY] = referrer.pk
    return render(request, "portal/join.html", {
        "referrer_name": referrer.first_name if referrer is not None else "",
        "invited": referrer is not None,
        "welcome": selectors.action_points(event_type=account_services.ACCOUNT_CREATED),
        "referral": selectors.action_points(event_type=REFERRAL)})
