"""French is complete: every string marked for translation has a French text.

The test extracts the messages from the sources as `make messages` does, into a
temporary copy, and compares them with the committed `locale/fr` catalogue. A
new string without its translation, or a changed string, fails here.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.utils import translation

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
SOURCES = ("loyalty", "accounts", "rewards", "templates")
# What `make messages` passes to makemessages, word for word (checked against the Makefile
# below). The copy holds only SOURCES, so most ignores match nothing there; they are kept
# so the two extractions stay the same command.
MAKEMESSAGES = ["makemessages", "-l", "fr", "-e", "html,txt,py", "--no-obsolete",
                "--ignore", ".venv/*", "--ignore", "node_modules/*",
                "--ignore", "staticfiles/*", "--ignore", "build/*", "--ignore", "bench/*",
                "--ignore", "tests/*"]


@pytest.fixture(autouse=True)
def gettext_tools():
    assert shutil.which("msgfmt") and shutil.which("xgettext"), (
        "GNU gettext is needed: apt-get install gettext (.ci/run installs it)")


def entries(po_file: Path) -> dict[str, str]:
    """msgid → msgstr (plural forms joined), without the header and obsolete entries."""
    return {
        (entry.msgctxt or "") + "\x04" + entry.msgid:
            entry.msgstr or "".join(entry.msgstr_plural.values())
        for entry in polib.pofile(str(po_file)) if not entry.obsolete and entry.msgid
    }


def test_every_message_in_the_sources_has_a_french_translation(tmp_path):
    for name in SOURCES:
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "manage.py", tmp_path)
    (tmp_path / "locale").mkdir()
    subprocess.run(
        [sys.executable, "manage.py", *MAKEMESSAGES], cwd=tmp_path, check=True, capture_output=True,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "loyalty.settings", "DEBUG": "1",
             "PYTHONPATH": str(tmp_path)})
    extracted = entries(tmp_path / "locale" / "fr" / "LC_MESSAGES" / "django.po")
    committed = entries(CATALOGUE)
    missing = sorted(key.split("\x04")[1] for key in extracted if key not in committed)
    untranslated = sorted(key.split("\x04")[1] for key in extracted
                          if key in committed and not committed[key].strip())
    assert missing == [], f"run `make messages` and translate: {missing[:20]}"
    assert untranslated == [], f"translate in {CATALOGUE}: {untranslated[:20]}"


def test_the_compiled_catalogue_matches_the_translations(tmp_path):
    compiled = CATALOGUE.with_suffix(".mo")
    assert compiled.exists(), "run `make messages` (it compiles the .mo)"
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(fresh), str(CATALOGUE)], check=True)
    assert fresh.read_bytes() == compiled.read_bytes(), "run `make messages` to recompile"


def test_pages_speak_french_when_asked(client, db):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 200
    assert 'lang="fr"' in response.text
    assert "Log in" not in response.text


def test_make_messages_extracts_as_this_test_does_and_compiles():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^messages:.*?(?=^\S)", makefile, re.S | re.M).group(0)
    words = recipe.replace("\\\n", " ").replace("'", "").replace("$(VENV)", ".venv").split()
    start = words.index("makemessages")
    assert words[start:start + len(MAKEMESSAGES)] == MAKEMESSAGES
    assert "compilemessages" in words[start + len(MAKEMESSAGES):]


# --- templates: every visible text is marked for translation ---------------------------

TEMPLATE_DIRS = [ROOT / "templates",
                 *(ROOT / app / "templates" for app in ("loyalty", "accounts", "rewards"))]
# Text that reads the same in every language, each with its reason.
ALLOWED_TEXT = {
    "QR": "the name of the code format",
    "×": "a multiplication sign (tier multiplier)",
    "—": "a dash standing for an empty value",
    "·": "a separator",
}
# Blocks whose content is not shown: CSS classes, page ids.
HIDDEN_BLOCKS = re.compile(
    r"{%\s*block\s+(bodyclass|extrastyle|extrahead|class\w*)\s*%}.*?{%\s*endblock\b[^%]*%}",
    re.S)
COMMENTS = re.compile(r"{%\s*comment\b.*?%}.*?{%\s*endcomment\s*%}|{#.*?#}", re.S)
BLOCKTRANSLATE = re.compile(
    r"{%\s*blocktrans(?:late)?\b.*?%}.*?{%\s*endblocktrans(?:late)?\s*%}", re.S)
SCRIPTS = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.S | re.I)
TEMPLATE_TAGS = re.compile(r"{%.*?%}|{{.*?}}", re.S)
VISIBLE_ATTRIBUTES = re.compile(
    r"""\b(alt|title|placeholder|aria-label)\s*=\s*(["'])(.*?)\2""", re.S | re.I)
HTML_TAGS = re.compile(r"<!--.*?-->|<[^>]*>", re.S)
ENTITIES = re.compile(r"&(#\d+|#x[0-9a-f]+|\w+);", re.I)
LETTER = re.compile(r"[^\W\d_]")


def untranslated(source: str) -> list[str]:
    """Visible literal text of a template outside {% translate %} and {% blocktranslate %}."""
    source = COMMENTS.sub(" ", source)
    source = HIDDEN_BLOCKS.sub(" ", source)
    source = BLOCKTRANSLATE.sub(" ", source)
    source = TEMPLATE_TAGS.sub(" ", source)  # {% translate "…" %} and {{ variables }}
    found = [f'{name}="{value.strip()}"'
             for name, _quote, value in VISIBLE_ATTRIBUTES.findall(source)
             if LETTER.search(value) and value.strip() not in ALLOWED_TEXT]
    text = ENTITIES.sub(" ", HTML_TAGS.sub("\n", SCRIPTS.sub(" ", source)))
    found += [line.strip() for line in text.splitlines()
              if LETTER.search(line) and line.strip() not in ALLOWED_TEXT]
    return found


def test_the_checker_sees_unmarked_text():
    assert untranslated('<p title="Hello">{% translate "Hi" %} Bye {{ name }}</p>') == [
        'title="Hello"', "Bye"]
    assert untranslated('<img alt="{% translate "Card" %}"> {% blocktranslate %}Hi '
                        '{{ name }}{% endblocktranslate %} {# note #} &rsaquo; ×') == []


def test_templates_have_no_text_left_unmarked():
    templates = [path for directory in TEMPLATE_DIRS if directory.is_dir()
                 for path in sorted(directory.rglob("*")) if path.is_file()]
    assert templates
    problems = {str(path.relative_to(ROOT)): found for path in templates
                if (found := untranslated(path.read_text()))}
    assert problems == {}, "wrap these in {% translate %} / {% blocktranslate %}"


# --- Python: messages shown to people ----------------------------------------------------

def test_domain_errors_are_translated_when_shown():
    from django.utils.functional import Promise

    from loyalty.services import errors

    with translation.override("fr"):
        assert errors.InsufficientPoints().message == "Pas assez de points."
    classes = [cls for cls in vars(errors).values()
               if isinstance(cls, type) and issubclass(cls, errors.DomainError)]
    for cls in classes:
        assert isinstance(cls.default_message, Promise), f"{cls.__name__}: use gettext_lazy"
        with translation.override("fr"):
            french = str(cls.default_message)
        with translation.override("en"):
            assert french != str(cls.default_message), f"{cls.__name__} has no French"


# --- pages: nothing English left when French is asked for ---------------------------------

ENGLISH = ["Log in", "Log out", "Sign up", "Balance", "points expire", "Points expire",
           "My card", "History", "Profile", "Rewards", "voucher", "Voucher", "Your points",
           "Password", "Remember", "Forgot", "Save", "Scan a card", "Find the customer",
           "Record a purchase", " Home", "Skip to content", "Back to", "Not enough",
           "Loyalty programme"]


def visible_text(response) -> str:
    html = SCRIPTS.sub(" ", response.content.decode())
    attributes = " ".join(value for _name, _quote, value in VISIBLE_ATTRIBUTES.findall(html))
    return re.sub(r"\s+", " ", HTML_TAGS.sub(" ", html) + " " + attributes)


@pytest.fixture
def french_pages(client, db, store, scale):
    from allauth.account.models import EmailAddress

    from accounts.models import StaffRole
    from tests.factories import StaffRoleFactory, UserFactory, make_member

    def get(path, user=None):
        client.logout()
        if user is not None:
            client.force_login(user)
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="fr")
        assert response.status_code == 200, path
        assert 'lang="fr"' in response.text, path
        return visible_text(response)

    customer = UserFactory(email="marie@example.com")
    EmailAddress.objects.create(user=customer, email=customer.email, verified=True,
                                primary=True)
    make_member(user=customer, email=customer.email, first_name="Marie")
    cashier = StaffRoleFactory(user=UserFactory(email="cashier@example.com"), store=store,
                               role=StaffRole.Role.CASHIER).user
    return get, customer, cashier


@pytest.mark.parametrize("path, who", [
    ("/", None), ("/accounts/login/", None), ("/accounts/signup/", None),
    ("/", "customer"), ("/rewards/", "customer"), ("/history/", "customer"),
    ("/profile/", "customer"), ("/card/", "customer"), ("/staff/scan/", "cashier"),
])
def test_pages_have_no_english_left_in_french(french_pages, path, who):
    get, customer, cashier = french_pages
    text = get(path, {"customer": customer, "cashier": cashier}.get(who))
    assert [word for word in ENGLISH if word in text] == [], f"{path}: {text[:600]}"
