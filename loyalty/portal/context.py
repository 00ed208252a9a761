"""What every page's layout (templates/base.html) reads: the programme's brand and which tab
of the bottom bar the page belongs to (for aria-current)."""

from __future__ import annotations

from loyalty.brand import current_brand

# url name (or namespace) -> tab
SECTIONS = {"home": "home", "card": "card", "rewards": "rewards", "history": "history",
            "review-purchase": "history", "profile": "profile", "profile-export": "profile",
            "profile-delete": "profile"}


def portal(request) -> dict:
    match = getattr(request, "resolver_match", None)
    section = ""
    if match is not None:
        section = SECTIONS.get(match.namespace) or SECTIONS.get(match.url_name or "", "")
    return {"brand": current_brand(), "nav_section": section}
