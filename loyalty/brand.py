"""The shop's brand as the pages, the installed app and the emails show it.

Read-only: the programme settings (name, logo, primary colour, point names) and the tiers'
colours become a stylesheet (served by loyalty.portal.brand at /brand.css: the CSP allows no
inline style), a web app manifest and generated icons. Colours are chosen for contrast, not
taken on trust: text on the programme's colour is black or white, whichever reads better,
and links on white are darkened until they reach 4.5:1 (WCAG AA).
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import pgettext

from loyalty.models import Programme, Tier
from loyalty.models.programme import DEFAULT_PRIMARY_COLOUR
from loyalty.services import settings_cache

DEFAULT_NAME = Programme._meta.get_field("name").default
POINT_DEFAULTS = (Programme._meta.get_field("point_name").default,
                  Programme._meta.get_field("point_name_plural").default)

WHITE, BLACK = "#ffffff", "#000000"
AA_CONTRAST = 4.5
ICON_SIZES = (180, 192, 512)


@dataclass(frozen=True)
class Brand:
    """What every page needs of the programme's settings, cached as one small value."""

    # The staff-typed words in each language (django-modeltranslation's columns):
    # {"en": ("Maison Demo Club", "point", "points"), "fr": (...)}; English fills the gaps.
    texts: dict
    primary_colour: str
    logo_url: str
    logo_path: str
    logo_name: str
    tier_colours: tuple[tuple[str, str], ...]  # (tier code, colour), colour set only

    def _text(self, index: int) -> str:
        from django.utils.translation import get_language

        language = (get_language() or "en").split("-")[0]
        return (self.texts.get(language, ("", "", ""))[index]
                or self.texts.get("en", ("", "", ""))[index])

    @property
    def stored_name(self) -> str:
        return self._text(0)

    @property
    def point_name(self) -> str:
        word = self._text(1)
        if word in ("", POINT_DEFAULTS[0]):
            return pgettext("the programme's unit", "point")
        return word

    @property
    def point_name_plural(self) -> str:
        word = self._text(2)
        if word in ("", POINT_DEFAULTS[1]):
            return pgettext("the programme's unit", "points")
        return word

    @property
    def name(self) -> str:
        """The programme's name; the model's default one in the reader's language."""
        if self.stored_name == DEFAULT_NAME:
            from django.utils.translation import gettext

            return gettext("Loyalty programme")
        return self.stored_name

    @property
    def on_primary(self) -> str:
        return text_colour_on(self.primary_colour)

    @property
    def link_colour(self) -> str:
        return readable_on_white(self.primary_colour)

    @property
    def initials(self) -> str:
        return initials(self.name)

    def points_label(self, count: int) -> str:
        return self.point_name if abs(count) == 1 else self.point_name_plural


def _typed(programme: Programme, field: str, language: str) -> str:
    """The word staff typed for `language`. Another language's column still at the field's
    default was never typed: English (the fallback) speaks for it, so a programme that calls
    its points "stars" is not "points" to French readers."""
    value = getattr(programme, f"{field}_{language}", None) or ""
    if language != settings.MODELTRANSLATION_DEFAULT_LANGUAGE and (
            value == Programme._meta.get_field(field).default):
        return ""
    return value


def name_of(programme: Programme) -> str:
    """The programme's name in the reader's language, as the brand says it, from a
    programme already loaded (no cache, no query)."""
    from django.utils.translation import get_language, gettext

    language = (get_language() or "en").split("-")[0]
    name = (_typed(programme, "name", language)
            or _typed(programme, "name", settings.MODELTRANSLATION_DEFAULT_LANGUAGE))
    return gettext("Loyalty programme") if name in ("", DEFAULT_NAME) else name


def _build() -> Brand:
    programme = Programme.load()
    logo_url = logo_path = ""
    if programme.logo:
        # Served by loyalty.portal.brand (MEDIA_URL is not served in production); the file's
        # own name in the address, so that a new logo is a new address for every cache.
        from django.urls import reverse

        logo_url = reverse("brand-logo", args=[os.path.basename(programme.logo.name)])
        try:
            logo_path = programme.logo.path
        except NotImplementedError:  # pragma: no cover - a remote storage
            logo_path = ""
    return Brand(
        texts={language: tuple(_typed(programme, field, language)
                               for field in ("name", "point_name", "point_name_plural"))
               for language, _name in settings.LANGUAGES},
        primary_colour=valid_colour(programme.primary_colour),
        logo_url=logo_url, logo_path=logo_path,
        logo_name=os.path.basename(programme.logo.name) if programme.logo else "",
        tier_colours=tuple((code, valid_colour(colour)) for code, colour in
                           Tier.objects.exclude(colour="").order_by("rank")
                           .values_list("code", "colour")))


def current_brand() -> Brand:
    """The programme's brand, cached (dropped whenever the programme or a tier is saved)."""
    return settings_cache.cached(settings_cache.BRAND, _build)


# --- Colours ------------------------------------------------------------------------------

def valid_colour(value: str) -> str:
    value = (value or "").strip().lower()
    if len(value) == 7 and value[0] == "#" and all(c in "0123456789abcdef" for c in value[1:]):
        return value
    return DEFAULT_PRIMARY_COLOUR


def _rgb(colour: str) -> tuple[int, int, int]:
    colour = valid_colour(colour)
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def relative_luminance(colour: str) -> float:
    """WCAG 2's relative luminance of an sRGB colour."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(v) for v in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)),
                             reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_colour_on(background: str) -> str:
    """Black or white, whichever has the higher contrast on `background`."""
    return (BLACK if contrast_ratio(background, BLACK) >= contrast_ratio(background, WHITE)
            else WHITE)


def readable_on_white(colour: str) -> str:
    """`colour`, darkened step by step until text in it reads on white (4.5:1)."""
    r, g, b = _rgb(colour)
    candidate = _hex((r, g, b))
    factor = 1.0
    while contrast_ratio(candidate, WHITE) < AA_CONTRAST and factor > 0:
        factor -= 0.05
        candidate = _hex((r * factor, g * factor, b * factor))
    return candidate


def initials(name: str) -> str:
    words = [word for word in (name or "").split() if word[:1].isalnum()]
    return "".join(word[0] for word in words[:2]).upper() or "★"


# --- The stylesheet ------------------------------------------------------------------------

def stylesheet(brand: Brand) -> str:
    """The brand's CSS: custom properties read by static/css/site.css, and one class per
    coloured tier for the card (`.member-card.tier-gold`)."""
    lines = [
        "/* The programme's colours (programme settings and tiers, in the admin). */",
        ":root {",
        f"  --brand: {brand.primary_colour};",
        f"  --on-brand: {brand.on_primary};",
        f"  --accent: {brand.link_colour};",
        f"  --card: {brand.primary_colour};",
        f"  --on-card: {brand.on_primary};",
        "}",
    ]
    for code, colour in brand.tier_colours:
        lines.append(f".tier-{code} {{ --card: {colour}; --on-card: {text_colour_on(colour)}; }}")
    return "\n".join(lines) + "\n"


def etag_of(content: bytes | str) -> str:
    if isinstance(content, str):
        content = content.encode()
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


# --- Icons ----------------------------------------------------------------------------------

def icon_png(brand: Brand, size: int) -> bytes:
    """A square icon: the logo on white when there is one, else the name's initials on the
    programme's colour (the generated default mark)."""
    from PIL import Image, ImageDraw, ImageFont

    image = None
    if brand.logo_path:
        try:
            with Image.open(brand.logo_path) as logo:
                logo = logo.convert("RGBA")
                logo.thumbnail((int(size * 0.8), int(size * 0.8)))
                image = Image.new("RGBA", (size, size), WHITE)
                image.alpha_composite(logo, ((size - logo.width) // 2,
                                             (size - logo.height) // 2))
        except OSError:  # a missing or broken file: the generated mark instead
            image = None
    if image is None:
        image = Image.new("RGBA", (size, size), brand.primary_colour)
        draw = ImageDraw.Draw(image)
        text = brand.initials
        font = ImageFont.load_default(size=int(size * (0.42 if len(text) > 1 else 0.55)))
        draw.text((size / 2, size / 2), text, fill=brand.on_primary, font=font, anchor="mm")
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PNG", optimize=True)
    return out.getvalue()


def logo_file(brand: Brand) -> tuple[bytes, str] | None:
    """The uploaded logo's bytes and content type, None without one."""
    if not brand.logo_name:
        return None
    programme = Programme.load()
    if not programme.logo:
        return None
    try:
        with programme.logo.open("rb") as source:
            content = source.read()
    except OSError:
        return None
    content_type = mimetypes.guess_type(programme.logo.name)[0] or "application/octet-stream"
    return content, content_type


def favicon_ico(brand: Brand) -> bytes:
    from PIL import Image

    image = Image.open(io.BytesIO(icon_png(brand, 64)))
    out = io.BytesIO()
    image.save(out, format="ICO", sizes=[(16, 16), (32, 32), (48, 48)])
    return out.getvalue()


def manifest(brand: Brand, *, icon_url, language: str) -> dict:
    """The web app manifest: installed, the app is named and coloured as the programme."""
    short = brand.name if len(brand.name) <= 12 else brand.initials
    return {
        "name": brand.name, "short_name": short, "lang": language,
        "start_url": "/", "scope": "/", "display": "standalone",
        "theme_color": brand.primary_colour, "background_color": WHITE,
        "icons": [{"src": icon_url(size), "sizes": f"{size}x{size}", "type": "image/png",
                   "purpose": "any"} for size in (192, 512)]
        + [{"src": icon_url(512), "sizes": "512x512", "type": "image/png",
            "purpose": "maskable"}],
    }
