"""The till's own front end stays small, and what it vendors is pinned with its licence."""

from pathlib import Path

from django.conf import settings

STATIC = Path(settings.BASE_DIR) / "static"


def test_the_pages_own_javascript_stays_small():
    for name, limit in (("scan.js", 8_000), ("card.js", 4_000), ("insight.js", 4_000),
                        ("imports.js", 2_000)):
        assert (STATIC / "js" / name).stat().st_size < limit, name


def test_vendored_libraries_are_pinned_with_their_licence_and_origin():
    for folder in ("htmx.org-2.0.11", "jsqr-1.4.0", "chart.js-4.6.1"):
        path = STATIC / "vendor" / folder
        assert (path / "LICENSE").stat().st_size > 0, folder
        note = (path / "VENDORED.md").read_text()
        assert "sha512-" in note and "sha256" in note, folder
