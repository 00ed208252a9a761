"""What every page's layout (templates/base.html) reads: the programme's brand and which tab
of the bottom bar the page belongs to (for aria-current)."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from loyalty.brand import current_brand

# url name (or namespace) -> tab
SECTIONS = {"home": "home", "card": "card", "rewards": "rewards", "history": "history",
            "review-purchase": "history", "profile": "profile", "profile-export": "profile",
            "profile-delete": "profile"}


def portal(request) -> dict:
    match = getattr(request, "resolver_match", None)
    section = ""
    staff_page = False
    if match is not None:
        section = SECTIONS.get(match.namespace) or SECTIONS.get(match.url_name or "", "")
        staff_page = match.namespace == "staff"
    user = getattr(request, "user", None)
    # Lazy: read only by pages that show it (not the admin's).
    return {"brand": SimpleLazyObject(current_brand), "nav_section": section,
            # The customer's tabs; the till and the staff pages have their own navigation.
            "show_tab_bar": bool(user is not None and user.is_authenticated and not staff_page)}
