"""The shop's brand: the programme's name, logo, colour and point names reach the header,
the titles, the card, the stylesheet, the installed app and the favicon; never "Loyalty"."""

import io
import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from loyalty import brand as branding
from loyalty.models import Programme
from tests.factories import TierFactory, programme

pytestmark = pytest.mark.django_db

PAGES = ["home", "card", "rewards:catalogue", "history", "profile"]


def page_text(response) -> str:
    return response.content.decode()


def title_of(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


@pytest.fixture
def maison(db):
    return programme(name="Maison Demo Club", primary_colour="#f1c232", point_name="étoile",
                     point_name_plural="étoiles")


# --- The settings ------------------------------------------------------------------------

def test_the_brand_is_a_programme_setting_with_a_validated_hex_colour(db):
    settings = Programme.load()
    assert settings.primary_colour == "#0b5394" and not settings.logo
    assert (settings.point_name, settings.point_name_plural) == ("point", "points")
    for bad in ("red", "#12345", "#1234567", "#gggggg", "123456"):
        settings.primary_colour = bad
        with pytest.raises(ValidationError) as error:
            settings.full_clean()
        assert "primary_colour" in error.value.message_dict
    settings.primary_colour = "#ABCDEF"
    settings.full_clean()
    assert settings.primary_colour == "#abcdef"
    assert settings.points_label(1) == "point" and settings.points_label(2) == "points"


def test_a_tier_colour_is_validated_too(db):
    tier = TierFactory(code="gold", name="Gold", colour="#c9a227")
    tier.full_clean()
    tier.colour = "gold"
    with pytest.raises(ValidationError):
        tier.full_clean()


def test_the_admin_edits_the_brand(admin_client, db):
    Programme.load()
    page = page_text(admin_client.get(reverse("admin:loyalty_programme_change", args=[1])))
    for field in ("logo", "primary_colour", "point_name_en", "point_name_plural_en",
                  "point_name_fr", "point_name_plural_fr", "name_fr"):
        assert f'name="{field}"' in page
    tier_page = page_text(admin_client.get(reverse("admin:loyalty_tier_add")))
    assert 'name="colour"' in tier_page


# --- Colours and contrast ----------------------------------------------------------------

@pytest.mark.parametrize("background, text", [
    ("#0b5394", "#ffffff"), ("#f1c232", "#000000"), ("#ffffff", "#000000"),
    ("#000000", "#ffffff"), ("#c9a227", "#000000"), ("#a61b1b", "#ffffff")])
def test_text_on_the_programme_colour_is_black_or_white_whichever_reads_better(background,
                                                                                text):
    assert branding.text_colour_on(background) == text
    assert branding.contrast_ratio(background, text) >= 4.5


@pytest.mark.parametrize("colour", ["#f1c232", "#ffffff", "#7fd3ff", "#0b5394", "#00ff00"])
def test_links_in_the_programme_colour_are_darkened_until_they_read_on_white(colour):
    link = branding.readable_on_white(colour)
    assert branding.contrast_ratio(link, "#ffffff") >= 4.5
    if branding.contrast_ratio(colour, "#ffffff") >= 4.5:
        assert link == colour  # a colour that reads already is kept as it is


# --- The stylesheet ----------------------------------------------------------------------

def test_the_colours_reach_the_pages_through_a_cached_stylesheet(client, maison):
    TierFactory(code="gold", name="Gold", rank=2, colour="#1e6b34")
    TierFactory(code="bronze", name="Bronze", rank=0)  # no colour: the programme's
    response = client.get("/brand.css")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/css")
    css = page_text(response)
    assert "--brand: #f1c232;" in css and "--on-brand: #000000;" in css
    accent = re.search(r"--accent: (#[0-9a-f]{6});", css).group(1)
    assert branding.contrast_ratio(accent, "#ffffff") >= 4.5
    assert ".tier-gold { --card: #1e6b34; --on-card: #ffffff; }" in css
    assert ".tier-bronze" not in css
    assert "max-age" in response["Cache-Control"] and response["ETag"]
    again = client.get("/brand.css", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again["ETag"] == response["ETag"]
    # A colour changed in the admin changes the stylesheet and its ETag at once.
    programme(primary_colour="#1e6b34")
    changed = client.get("/brand.css", HTTP_IF_NONE_MATCH=response["ETag"])
    assert changed.status_code == 200 and "--brand: #1e6b34;" in page_text(changed)


def test_every_page_links_the_stylesheet_manifest_and_favicon_and_has_no_inline_style(
        marie_client, maison):
    for name in PAGES:
        html = page_text(marie_client.get(reverse(name)))
        assert '<link rel="stylesheet" href="/brand.css">' in html, name
        assert '<link rel="manifest" href="/manifest.webmanifest">' in html, name
        assert '<link rel="icon" href="/favicon.ico"' in html, name
        assert '<meta name="theme-color" content="#f1c232">' in html, name
        assert "style=" not in html and "<style" not in html, name
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), name


# --- Names: header, titles, card ---------------------------------------------------------

def test_the_header_and_every_title_say_the_programme_name_never_loyalty(marie_client, maison):
    client = Client()
    anonymous = page_text(client.get("/"))
    assert title_of(anonymous) == "Maison Demo Club"
    assert re.search(r'class="brand-name">Maison Demo Club<', anonymous)
    for url in ("/accounts/login/", "/accounts/signup/"):
        assert title_of(page_text(client.get(url))).endswith(" · Maison Demo Club"), url
    for name in PAGES:
        html = page_text(marie_client.get(reverse(name)))
        title = title_of(html)
        assert title.endswith(" · Maison Demo Club"), (name, title)
        assert "Loyalty" not in title and "testserver" not in title
        header = re.search(r'<header class="site-header">(.*?)</header>', html, re.S).group(1)
        assert "Maison Demo Club" in header and "Loyalty" not in header


def test_the_card_shows_the_programme_the_tier_colour_and_the_point_name(marie_client, marie,
                                                                         maison):
    from loyalty.services import ledger

    gold = TierFactory(code="gold", name="Gold", rank=3, colour="#1e6b34")
    marie.tier = gold
    marie.save(update_fields=["tier"])
    ledger.adjust_points(member_id=marie.pk, points=42, reason="test")
    html = page_text(marie_client.get(reverse("card")))
    face = re.search(r'<div class="card-face(.*?)</div>\s*<figure', html, re.S)
    assert face is not None
    face = face.group(0)
    assert 'class="card-face tier-gold"' in face
    assert "Maison Demo Club" in face and "Marie Curie" in face and "Gold" in face
    assert "Étoiles" in face and ">42<" in face
    assert marie.card_number[:3] in face


def test_a_tier_without_colour_uses_the_programmes(marie_client, marie, maison):
    marie.tier = TierFactory(code="bronze", name="Bronze", rank=0)
    marie.save(update_fields=["tier"])
    html = page_text(marie_client.get(reverse("card")))
    assert 'class="card-face"' in html and "tier-bronze" not in html


# --- Phone first: the tab bar and the language -------------------------------------------

def test_the_tab_bar_has_the_five_places_with_rewards_and_marks_the_current_one(marie_client):
    for name, label in [("home", "Home"), ("card", "Card"), ("rewards:catalogue", "Rewards"),
                        ("history", "History"), ("profile", "Profile")]:
        html = page_text(marie_client.get(reverse(name)))
        bar = re.search(r'<nav class="tab-bar"[^>]*>(.*?)</nav>', html, re.S).group(1)
        links = re.findall(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', bar)
        assert [text for _href, _current, text in links] == [
            "Home", "Card", "Rewards", "History", "Profile"]
        current = [text for _href, is_current, text in links if is_current]
        assert current == [label], name
    voucher_page = page_text(marie_client.get(reverse("rewards:vouchers")))
    assert re.search(r'aria-current="page">Rewards<', voucher_page)


def test_the_language_choice_is_in_the_footer_and_the_profile_not_the_header(marie_client):
    html = page_text(marie_client.get(reverse("home")))
    header = re.search(r'<header class="site-header">(.*?)</header>', html, re.S).group(1)
    footer = re.search(r'<footer class="site-footer">(.*?)</footer>', html, re.S).group(1)
    assert 'name="language"' not in header and 'name="language"' in footer
    profile = page_text(marie_client.get(reverse("profile")))
    main = re.search(r"<main.*?</main>", profile, re.S).group(0)
    assert 'name="language"' in main


def test_choosing_a_language_in_the_footer_saves_the_members_preferred_language(marie_client,
                                                                                marie):
    assert marie.language == ""
    response = marie_client.post(reverse("language"), {"language": "fr", "next": "/history/"})
    assert response.status_code == 302 and response["Location"] == "/history/"
    marie.refresh_from_db()
    marie.user.refresh_from_db()
    assert marie.language == "fr" and marie.user.language == "fr"
    # The profile shows the same language as the pages: the two never disagree.
    profile = page_text(marie_client.get(reverse("profile")))
    assert '<html lang="fr">' in profile
    assert re.search(r'<option value="fr" selected>', profile)


def test_the_footer_language_choice_works_logged_out_and_refuses_unknown_languages(client):
    response = client.post(reverse("language"), {"language": "fr", "next": "/"})
    assert response.status_code == 302 and client.cookies["django_language"].value == "fr"
    assert client.post(reverse("language"), {"language": "xx"}).status_code == 302
    assert client.get(reverse("language")).status_code == 405


# --- The installable app -----------------------------------------------------------------

def test_the_manifest_names_the_programme_and_its_icons_are_served(client, maison):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/manifest+json")
    data = json.loads(response.content)
    assert data["name"] == "Maison Demo Club" and data["theme_color"] == "#f1c232"
    assert data["start_url"] == "/" and data["display"] == "standalone"
    sizes = {icon["sizes"] for icon in data["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in data["icons"]:
        png = client.get(icon["src"])
        assert png.status_code == 200 and png["Content-Type"] == "image/png"
        image = Image.open(io.BytesIO(png.content))
        assert f"{image.width}x{image.height}" == icon["sizes"]
        # The generated mark is the programme's colour.
        assert image.convert("RGB").getpixel((2, 2)) == (0xf1, 0xc2, 0x32)
    assert client.get("/icons/icon-77.png").status_code == 404


def test_the_favicon_answers_instead_of_404(client, maison):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert Image.open(io.BytesIO(response.content)).format == "ICO"


def test_an_uploaded_logo_becomes_the_icon_and_shows_in_the_header(client, maison, settings,
                                                                   tmp_path):
    settings.MEDIA_ROOT = tmp_path
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 0, 0)).save(out, format="PNG")
    settings_row = Programme.load()
    settings_row.logo = SimpleUploadedFile("logo.png", out.getvalue(), content_type="image/png")
    settings_row.save()
    html = page_text(client.get("/"))
    src = re.search(r'<img class="brand-logo" src="(/brand/logo/logo[^"]*\.png)"', html).group(1)
    served = client.get(src)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert served.content == out.getvalue()
    assert client.get("/brand/logo/other.png").status_code == 404
    icon = Image.open(io.BytesIO(client.get("/icons/icon-192.png").content)).convert("RGB")
    assert icon.getpixel((96, 96)) == (200, 0, 0) and icon.getpixel((2, 2)) == (255, 255, 255)


def test_the_service_worker_is_served_at_the_root_with_the_whole_site_as_scope(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    body = page_text(response)
    assert "/card/offline/" in body and "caches" in body
    # The saved card goes when anyone logs out, logs in or signs up on this browser.
    for path in ("/accounts/logout/", "/accounts/login/", "/accounts/signup/"):
        assert f'url.pathname === "{path}"' in body


def test_the_offline_card_holds_the_number_and_a_static_code_privately(marie_client, marie):
    import zxingcpp

    response = marie_client.get(reverse("card-offline"))
    assert response.status_code == 200 and "private" in response["Cache-Control"]
    html = page_text(response)
    assert marie.card_number[:3] in html
    src = re.search(r'class="card-qr-image card-qr-static" src="data:image/svg\+xml;base64,',
                    html)
    assert src is not None
    assert Client().get(reverse("card-offline")).status_code == 302  # logged out: the login
    # The static code reads as the card number, which every till accepts.
    import base64

    svg = base64.b64decode(re.search(r'src="data:image/svg\+xml;base64,([^"]+)"',
                                     html).group(1))
    assert b"<svg" in svg
    from loyalty.portal.card import qr_data_uri

    assert qr_data_uri(marie.card_number).split(",", 1)[1] in html
    assert zxingcpp  # the browser test reads it off the screen


def test_the_card_page_registers_the_service_worker(marie_client):
    html = page_text(marie_client.get(reverse("card")))
    assert '<script type="module" src="/static/js/card.js"></script>' in html
    from django.contrib.staticfiles import finders

    with open(finders.find("js/card.js")) as source:
        assert 'serviceWorker.register("/sw.js"' in source.read()


def test_the_demo_programme_is_maison_demo_club_in_its_own_colour(client, db):
    from loyalty.services.demo.setup import ensure_programme

    ensure_programme()
    settings_row = Programme.load()
    assert settings_row.name == "Maison Demo Club"
    settings_row.full_clean()  # the demo's colour is a valid one
    assert branding.contrast_ratio(settings_row.primary_colour,
                                   branding.text_colour_on(settings_row.primary_colour)) >= 4.5
    html = page_text(client.get("/"))
    assert title_of(html) == "Maison Demo Club" and "Loyalty" not in html


def test_the_home_page_counts_in_the_programmes_point_name(marie_client, marie, maison):
    from loyalty.services import ledger

    ledger.adjust_points(member_id=marie.pk, points=1, reason="test")
    assert '<p class="big">1 étoile</p>' in page_text(marie_client.get(reverse("home")))
    ledger.adjust_points(member_id=marie.pk, points=41, reason="test")
    assert '<p class="big">42 étoiles</p>' in page_text(marie_client.get(reverse("home")))


def test_staff_pages_have_no_customer_tab_bar(client, db):
    from accounts.models import StaffRole
    from tests.factories import StaffRoleFactory, StoreFactory, UserFactory

    cashier = StaffRoleFactory(user=UserFactory(email="cashier@example.com"),
                               store=StoreFactory(code="paris"),
                               role=StaffRole.Role.CASHIER).user
    client.force_login(cashier)
    html = page_text(client.get(reverse("staff:scan")))
    assert 'class="tab-bar"' not in html and 'class="site-header"' in html


def test_the_members_messages_are_in_the_programmes_layout_too(maison):
    from types import SimpleNamespace

    from django.template.loader import render_to_string

    rendered = SimpleNamespace(language="fr", subject="Bon anniversaire",
                               text="Bonjour Marie", unsubscribe_url="https://x/unsubscribe/t/")
    html = render_to_string("emails/message.html", {"rendered": rendered})
    assert "Maison Demo Club" in html and "#f1c232" in html and '<html lang="fr">' in html
    assert "Bonjour Marie" in html and "https://x/unsubscribe/t/" in html
    text = render_to_string("emails/message.txt", {"rendered": rendered})
    assert "Maison Demo Club" in text and "https://x/unsubscribe/t/" in text


def test_the_brand_words_are_each_languages_with_english_as_the_fallback(db):
    from django.utils import translation

    from loyalty.brand import current_brand

    programme(name_en="Maison Club", point_name_en="star", point_name_plural_en="stars")
    with translation.override("fr"):
        # Nothing typed in French yet: English speaks for it, never the default "points".
        assert (current_brand().name, current_brand().points_label(2)) == ("Maison Club",
                                                                           "stars")
    programme(name_fr="Club Maison", point_name_fr="étoile", point_name_plural_fr="étoiles")
    with translation.override("fr"):
        assert (current_brand().name, current_brand().points_label(1),
                current_brand().points_label(3)) == ("Club Maison", "étoile", "étoiles")
    with translation.override("en"):
        assert (current_brand().name, current_brand().points_label(3)) == ("Maison Club",
                                                                           "stars")


def test_the_home_page_says_pending_points_in_the_programmes_word(client, db):
    from tests.factories import UserFactory, make_member

    programme(point_name_en="star", point_name_plural_en="stars")
    user = UserFactory()
    member = make_member(user=user, email=user.email)
    type(member).objects.filter(pk=member.pk).update(pending=3)
    client.force_login(user)
    text = page_text(client.get(reverse("home")))
    assert "3 stars, spendable after the return window" in text
    assert "Expiring within 30 days" in text
