from django.shortcuts import render

from loyalty import selectors
from loyalty.models import Programme, Tier


def home(request):
    member = selectors.member_for_user(request.user)
    context = {"programme": Programme.load(), "tiers": Tier.objects.all(), "member": member}
    if member is not None:
        context.update(
            expiring=selectors.expiring_points(member=member, within_days=30),
            entries=selectors.recent_entries(member=member),
            next_tier=selectors.next_tier(member=member),
        )
    return render(request, "portal/home.html", context)
