"""With DEBUG off the site refuses to start on a missing, public or guessable SECRET_KEY.

The settings are loaded in a fresh process, as a server would, since the check runs
at import.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from loyalty.secret_key import DEVELOPMENT_KEY, require_production_key, weakness

ROOT = Path(__file__).resolve().parent.parent


def load_settings(**variables) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if key not in ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE")}
    env.update({"DJANGO_SETTINGS_MODULE": "loyalty.settings", **variables})
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("variables", [
    {"DEBUG": "0"},
    {"DEBUG": "0", "SECRET_KEY": ""},
    {"DEBUG": "0", "SECRET_KEY": DEVELOPMENT_KEY},
    {"DEBUG": "0", "SECRET_KEY": "too-short-a-key"},
    {"SECRET_KEY": "0123456789" * 6},  # DEBUG unset is off
])
def test_production_refuses_to_start_without_a_real_key(variables):
    result = load_settings(**variables)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY" in result.stderr


def test_production_starts_with_a_long_random_key_and_development_without_one():
    assert load_settings(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(60)).returncode == 0
    development = load_settings(DEBUG="1")
    assert development.returncode == 0, development.stderr
    assert development.stdout.strip() == "True"


@pytest.mark.parametrize(("key", "reason"), [
    ("", "not set"),
    (DEVELOPMENT_KEY, "development key"),
    ("django-insecure-" + secrets.token_urlsafe(60), "development key"),
    (secrets.token_urlsafe(30), "shorter than 50"),
    ("a" * 80, "repetitive"),
    ("ab" * 40, "repetitive"),
    ("0123456789" * 6, "repetitive"),
])
def test_weak_keys_are_named_with_their_weakness(key, reason):
    assert reason in weakness(key)
    with pytest.raises(ImproperlyConfigured, match="token_urlsafe"):
        require_production_key(key)


@pytest.mark.parametrize("key", [
    secrets.token_urlsafe(38), secrets.token_urlsafe(60), secrets.token_hex(25),
    "j8$w!q2#zp@l0^x7m&v5r*t3k(y9)b_n4c+h6=d1g-f%s"  # Django's alphabet, 50 characters
    "QWERT",
])
def test_random_keys_are_accepted(key):
    assert weakness(key) is None
    assert require_production_key(key) == key
