"""deploy/: the compose file and the systemd units name commands and modules that exist."""

import configparser
import importlib
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_deploy import ROOT

DEPLOY = ROOT / "deploy"
UNITS = {"web": "loyalty-web.service", "worker": "loyalty-worker.service",
         "beat": "loyalty-beat.service"}


def import_target(target: str):
    """`package.module:attribute` (or a module alone) must import."""
    module, _, attribute = target.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attribute) if attribute else loaded


def check_command(argv: list[str]) -> None:
    """The command of a web, worker or beat process points at real code."""
    program = Path(argv[0]).name
    if program == "gunicorn":
        assert callable(import_target(argv[1]))  # loyalty.wsgi:application
    elif program == "celery":
        assert argv[1:3] == ["-A", "loyalty"]
        assert import_target("loyalty.celery:app").main == "loyalty"
        if "beat" in argv:
            import_target(argv[argv.index("--scheduler") + 1])
    elif program == "python":
        assert argv[1] == "manage.py" and (ROOT / "manage.py").exists()
    else:
        pytest.fail(f"unexpected program {argv[0]}")


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(DEPLOY / "systemd" / name)
    return parser


@pytest.mark.parametrize("role", sorted(UNITS))
def test_each_systemd_unit_restarts_and_runs_real_code(role):
    service = unit(UNITS[role])["Service"]
    assert service["Restart"] == "always"
    assert service["EnvironmentFile"] == "/etc/loyalty/loyalty.env"
    argv = shlex.split(service["ExecStart"])
    assert argv[0].startswith("/srv/loyalty/.venv/bin/")
    assert (Path(sys.executable).parent / Path(argv[0]).name).exists()  # installed with us
    check_command(argv)
    assert role in argv or (role == "web" and "loyalty.wsgi:application" in argv)


def test_beat_uses_the_database_scheduler():
    argv = shlex.split(unit(UNITS["beat"])["Service"]["ExecStart"])
    assert argv[argv.index("--scheduler") + 1] == (
        "django_celery_beat.schedulers:DatabaseScheduler")


def test_the_compose_file_runs_the_stack_with_health_checks():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "beat"} <= set(services)
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
    for name in ("web", "worker", "beat"):
        service = services[name]
        assert service["restart"] == "always"
        assert service["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully")
        check_command(service["command"])
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["migrate"]["command"][1:3] == ["manage.py", "migrate"]
    assert (ROOT / services["web"]["build"]["dockerfile"]).exists()


def test_the_compose_file_runs_one_beat():
    services = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]
    beats = [name for name, service in services.items()
             if "beat" in service.get("command", [])]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
