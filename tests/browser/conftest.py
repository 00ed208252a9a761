"""Playwright driving Debian's Chromium (/usr/bin/chromium), headless, never a downloaded
browser. The pages are served by pytest-django's `live_server`.

Chromium is part of what the suite needs: `make test` and `.ci/run` install it with
apt-get when it is missing (as root). Elsewhere a missing Chromium fails these tests with
the command to run, rather than skipping them silently.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest
from django.db import connections
from django.test import Client

from accounts.models import StaffRole
from tests.factories import (
    EarningRuleFactory,
    StaffRoleFactory,
    StoreFactory,
    UserFactory,
    make_member,
    programme,
)

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
PHONE = {"width": 375, "height": 740}
PASSWORD = "a-test-password"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        pytest.fail(f"The browser tests need Debian's Chromium at {CHROMIUM}. Install it with "
                    "`apt-get install chromium` (make test does it when run as root), or set "
                    "CHROMIUM to its path.", pytrace=False)
    return str(CHROMIUM)


@pytest.fixture
def playwright(chromium_path, monkeypatch):
    """Playwright's sync API runs an event loop in this thread, where Django's ORM then
    refuses to run; the test's own database work is synchronous and safe."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as driver:
        yield driver
        # While the loop runs, Django keeps this thread's connections apart from the usual
        # ones: close them here, or PostgreSQL could not drop the test database at the end.
        connections.close_all()


@pytest.fixture
def launch(playwright, chromium_path):
    """launch(*extra_args) -> a headless Chromium, closed after the test."""
    browsers = []

    def start(*extra_args: str):
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True,
                                             args=[*CHROMIUM_ARGS, *extra_args])
        browsers.append(browser)
        return browser

    yield start
    for browser in browsers:
        browser.close()


@pytest.fixture
def browser(launch):
    return launch()


OPENED: list[Watched] = []


class Watched:
    """A page, the Content Security Policy violations it reported, and what it logged (shown
    when a test fails, to tell a slow machine from a broken page)."""

    def __init__(self, page):
        self.page = page
        self.csp_violations: list[str] = []
        self.log: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.log.append(f"page error: {error}"))
        page.on("requestfailed", lambda request: self.log.append(
            f"request failed: {request.url} {request.failure}"))
        page.on("response", lambda response: self.log.append(
            f"{time.strftime('%X')} {response.status} {response.url[:120]}"))
        OPENED.append(self)

    def _console(self, message):
        self.log.append(f"console {message.type}: {message.text}")
        if "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and OPENED:
        lines = []
        for index, watched in enumerate(OPENED):
            lines.append(f"--- page {index}")
            lines.extend(watched.log[-40:])
        report.sections.append(("browser log", "\n".join(lines)))


@pytest.fixture(autouse=True)
def _forget_pages():
    yield
    OPENED.clear()


def open_page(browser, live_server, *, user=None, **context_options):
    """A new phone-sized page, logged in as `user` when given (a session cookie)."""
    context = browser.new_context(viewport=PHONE, base_url=live_server.url,
                                  **context_options)
    if user is not None:
        client = Client()
        client.force_login(user)
        from django.conf import settings

        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                              "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])
    page = context.new_page()
    page.set_default_timeout(15_000)
    return Watched(page)


def log_in(page, email: str, *, then: str) -> None:
    """Log in through allauth's form, as a person would, and land on `then`."""
    page.goto(f"/accounts/login/?next={then}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"**{then}")


def fits_the_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def decode_qr(png: bytes) -> list[str]:
    """The texts of the QR codes in a screenshot, read by zxing-cpp."""
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    return [result.text for result in zxingcpp.read_barcodes(image)]


def write_y4m(path: Path, image, *, width: int = 640, height: int = 480, frames: int = 10):
    """A YUV4MPEG2 video (4:2:0) showing `image` centred, for Chromium's fake camera."""
    from PIL import Image

    canvas = Image.new("RGB", (width, height), "white")
    image = image.convert("RGB")
    image.thumbnail((height - 40, height - 40))
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    y, cb, cr = canvas.convert("YCbCr").split()
    half = (width // 2, height // 2)
    frame = (b"FRAME\n" + y.tobytes() + cb.resize(half).tobytes()
             + cr.resize(half).tobytes())
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        out.write(frame * frames)
    return path


@pytest.fixture
def shop(transactional_db):
    """Paris with a 1-point-per-euro scale, its cashier, and Marie with a verified login."""
    from allauth.account.models import EmailAddress

    programme(return_window_days=0, points_validity_days=365)
    EarningRuleFactory(name="1 point per euro", points_per_unit=1)
    paris = StoreFactory(code="paris", name="Paris")
    cashier = StaffRoleFactory(user=UserFactory(email="cashier@example.com"), store=paris,
                               role=StaffRole.Role.CASHIER).user
    user = UserFactory(email="marie@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    marie = make_member(first_name="Marie", last_name="Curie", email=user.email, user=user)
    return {"paris": paris, "cashier": cashier, "marie": marie}


def balance_of(page) -> int:
    return int(re.sub(r"\D", "", page.locator("#member-balance").inner_text()))
