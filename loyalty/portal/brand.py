"""The brand's files: the stylesheet, the web app manifest, its icons, the favicon and the
service worker. All are public (the login page needs them too) and carry no personal data.

Each answers with an ETag and a short max-age: a colour changed in the admin reaches the
pages within minutes, and an unchanged one costs a 304.
"""

from __future__ import annotations

import json

from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.urls import reverse
from django.utils import translation
from django.views.decorators.http import require_GET

from loyalty import brand as branding

MAX_AGE = 300


def _answer(request, content: bytes | str, content_type: str, *, max_age: int = MAX_AGE,
            vary_language: bool = False) -> HttpResponse:
    etag = branding.etag_of(content)
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(content, content_type=content_type)
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={max_age}"
    if vary_language:
        response["Vary"] = "Cookie, Accept-Language"
    return response


@require_GET
def brand_css(request):
    return _answer(request, branding.stylesheet(branding.current_brand()),
                   "text/css; charset=utf-8")


@require_GET
def manifest(request):
    data = branding.manifest(
        branding.current_brand(), language=translation.get_language() or "en",
        icon_url=lambda size: reverse("brand-icon", args=[size]))
    return _answer(request, json.dumps(data, ensure_ascii=False),
                   "application/manifest+json; charset=utf-8", vary_language=True)


@require_GET
def icon(request, size: int):
    if size not in branding.ICON_SIZES:
        raise Http404
    return _answer(request, branding.icon_png(branding.current_brand(), size), "image/png")


@require_GET
def logo(request, name: str):
    brand = branding.current_brand()
    found = branding.logo_file(brand) if name == brand.logo_name else None
    if found is None:
        raise Http404
    content, content_type = found
    response = _answer(request, content, content_type, max_age=86400)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def favicon(request):
    return _answer(request, branding.favicon_ico(branding.current_brand()), "image/x-icon")


@require_GET
def service_worker(request):
    """static/js/sw.js at the root, so that its scope is the whole site (/card/ included)."""
    path = finders.find("js/sw.js")
    if not path:  # pragma: no cover - the file ships with the code
        raise Http404
    with open(path, "rb") as source:
        content = source.read()
    response = _answer(request, content, "text/javascript; charset=utf-8", max_age=0)
    response["Cache-Control"] = "no-cache"  # a new worker is picked up on the next visit
    response["Service-Worker-Allowed"] = "/"
    return response
