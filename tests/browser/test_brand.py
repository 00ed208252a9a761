"""The brand on a phone, in a real browser: the programme's name and colours, a compact
header with a bottom tab bar, the manifest and favicon, no CSP violation, and the card kept
by the service worker for a phone without network."""

import re

import pytest

from tests.browser.conftest import PHONE, open_page
from tests.factories import TierFactory, programme

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = ["/", "/card/", "/rewards/", "/history/", "/profile/"]


@pytest.fixture
def maison(shop):
    programme(name="Maison Demo Club", primary_colour="#7a2e3b", point_name="étoile",
              point_name_plural="étoiles")
    marie = shop["marie"]
    marie.tier = TierFactory(code="gold", name="Gold", rank=2, colour="#c9a227")
    marie.save(update_fields=["tier"])
    return shop


def test_a_phone_shows_the_programme_with_a_compact_header_and_a_bottom_tab_bar(
        browser, live_server, maison):
    watched = open_page(browser, live_server, user=maison["marie"].user)
    page = watched.page
    for path in PAGES:
        response = page.goto(path)
        assert response.status == 200, path
        assert page.title().endswith(" · Maison Demo Club"), (path, page.title())
        header = page.locator(".site-header").bounding_box()
        assert header["height"] <= PHONE["height"] / 8, (path, header)  # compact
        bar = page.get_by_role("navigation", name="Main")
        box = bar.bounding_box()
        assert box["y"] + box["height"] == pytest.approx(PHONE["height"], abs=1), path
        assert bar.get_by_role("link").all_inner_texts() == [
            "Home", "Card", "Rewards", "History", "Profile"]
        assert bar.locator("[aria-current=page]").count() == 1
        # The colours come from /brand.css: the header is the programme's burgundy.
        colour = page.evaluate(
            "getComputedStyle(document.querySelector('.site-header')).backgroundColor")
        assert colour == "rgb(122, 46, 59)", path
        assert page.evaluate("document.querySelectorAll('[style]').length") == 0, path
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert watched.csp_violations == []


def test_the_manifest_and_favicon_answer_and_the_card_is_a_card(browser, live_server, maison):
    watched = open_page(browser, live_server, user=maison["marie"].user)
    page = watched.page
    page.goto("/card/")
    for link in ("link[rel=manifest]", "link[rel=icon]"):
        href = page.locator(link).get_attribute("href")
        assert page.request.get(href).status == 200, href
    manifest = page.request.get(page.locator("link[rel=manifest]").get_attribute("href")).json()
    assert manifest["name"] == "Maison Demo Club" and manifest["theme_color"] == "#7a2e3b"
    for icon in manifest["icons"]:
        assert page.request.get(icon["src"]).status == 200
    face = page.locator(".card-face")
    assert "Gold" in face.inner_text() and "Maison Demo Club" in face.inner_text()
    assert "Étoiles" in face.inner_text()
    assert face.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(201, 162, 39)"
    assert face.evaluate("e => getComputedStyle(e).color") == "rgb(0, 0, 0)"
    assert watched.csp_violations == []


def test_offline_the_card_page_shows_the_saved_number_and_static_code(browser, live_server,
                                                                      maison):
    from tests.browser.conftest import decode_qr

    marie = maison["marie"]
    watched = open_page(browser, live_server, user=marie.user)
    page = watched.page
    page.goto("/card/")
    # The worker takes control, then keeps the offline card on the next visit of /card/.
    page.wait_for_function("navigator.serviceWorker.ready.then(() => true)")
    page.evaluate("navigator.serviceWorker.ready")
    page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.wait_for_function(
        "caches.open('loyalty-card-v1').then(c => c.match('/card/offline/')).then(r => !!r)")
    page.context.set_offline(True)
    page.goto("/card/")
    number = page.locator(".card-number").first.inner_text().replace(" ", "")
    assert number == marie.card_number
    assert page.locator(".card-qr-static").is_visible()
    assert marie.card_number in decode_qr(page.locator(".card-qr-static").screenshot())
    page.context.set_offline(False)
    # Online again, the rotating code is back.
    page.goto("/card/")
    assert page.locator("#card-qr-image").is_visible()
    assert re.match(r"^[A-Za-z0-9._:-]+$", page.locator("#card-qr-image")
                    .get_attribute("data-token"))


CONTRAST_JS = """
(selectors) => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const value = rgb(getComputedStyle(e).backgroundColor);
      if (value.length === 3 || (value.length === 4 && value[3] > 0)) return value.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const selector of selectors) {
    for (const element of document.querySelectorAll(selector)) {
      if (!element.offsetParent && getComputedStyle(element).position !== "fixed") continue;
      const [a, b] = [lum(rgb(getComputedStyle(element).color)), lum(background(element))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      const text = element.textContent.trim().slice(0, 30);
      found.push([selector, text, Math.round(ratio * 100) / 100]);
    }
  }
  return found;
}
"""


@pytest.mark.parametrize("colour", ["#7a2e3b", "#f1c232", "#7fd3ff"])
def test_text_keeps_a_contrast_of_4_5_whatever_the_programme_colour(browser, live_server, maison,
                                                                   colour):
    programme(primary_colour=colour)
    watched = open_page(browser, live_server, user=maison["marie"].user)
    page = watched.page
    for path in ("/", "/card/"):
        page.goto(path)
        checked = page.evaluate(CONTRAST_JS, [
            ".brand-name", ".header-actions button", ".tab-bar a", "main a", "main button",
            ".card-face dd", ".card-face .card-number", ".member-card-name"])
        assert checked, path
        low = [item for item in checked if item[2] < 4.5]
        assert low == [], (path, colour, low)
