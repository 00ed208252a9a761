"""The production configuration passes Django's deployment checks, and the models have
their migrations.

`check --deploy` runs in a fresh process with the environment a production
server would have, since the hardening in settings.py depends on DEBUG at import.
"""

import os
import secrets
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def production_env(**overrides) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        # manage.py only sets a default; pytest has set the test settings.
        "DJANGO_SETTINGS_MODULE": "loyalty.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(60)[:60],
        "ALLOWED_HOSTS": "loyalty.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://loyalty.example.com",
        # Explicit, so that a developer's .env cannot weaken them for this test.
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
    })
    env.update(overrides)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_production_settings_pass_the_deployment_checks():
    result = check_deploy(production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(("override", "warning"), [
    ({"DEBUG": "1"}, "security.W018"),
    # Refused before the checks run: the settings do not load with such a key.
    ({"SECRET_KEY": "django-insecure-short"}, "ImproperlyConfigured"),
])
def test_deployment_checks_fail_on_an_unsafe_setting(override, warning):
    """The check above is real: the same command fails when one setting is unsafe."""
    result = check_deploy(production_env(**override))
    assert result.returncode != 0
    assert warning in result.stdout + result.stderr


@pytest.mark.django_db
def test_every_model_change_has_its_migration():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:
        pytest.fail(f"makemigrations --check found missing migrations (exit {exit_.code}):\n"
                    f"{out.getvalue()}")
    assert "No changes detected" in out.getvalue()
