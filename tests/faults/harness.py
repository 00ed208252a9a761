"""Fault injection: a private Redis, real Celery workers and ticks of beat, as processes.

Import the `private_redis` fixture into a test module (or a conftest) to use it.

The tests here break what production runs on (stop or restart Redis, kill a
worker) and check that nothing is lost and nothing is done twice. Each starts
its own redis-server on a free port (never the machine's), and its workers
and dispatcher ticks run `loyalty.settings` in other processes against the
test database, so the tests need PostgreSQL (committed rows, row locks) and
use `transaction=True`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], *, timeout: float, every: float = 0.2,
               what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class RedisServer:
    """A redis-server of the test's own, on a free port, keeping nothing on disk."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def keys(self) -> int:
        """How many keys it holds (0 after a restart: it keeps nothing)."""
        import redis

        return redis.Redis.from_url(self.url, socket_connect_timeout=0.5).dbsize()

    def start(self) -> None:
        log = open(self.directory / f"redis-{self.port}.log", "ab")  # noqa: SIM115 (the process keeps it)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.ping, timeout=10, what="redis-server to answer")

    def stop(self, *, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            (self.process.kill if kill else self.process.terminate)()
            self.process.wait(timeout=10)
        wait_until(lambda: not self.ping(), timeout=5, what="redis-server to stop")

    def restart(self) -> None:
        """Killed and started again: everything it held (queues, unacked tasks) is gone."""
        self.stop(kill=True)
        self.start()


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed for the fault tests (Debian's redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop(kill=True)


def app_env(*, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production-like process on the test database and `redis_url`."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DJANGO_", "CELERY_", "PYTEST"))}
    return env | {
        "DJANGO_SETTINGS_MODULE": "loyalty.settings",
        "DATABASE_URL": f"postgres://{user}{password}@{host}:{port}/{db['NAME']}",
        "REDIS_URL": redis_url, "DEBUG": "1", "SECRET_KEY": secrets.token_urlsafe(50),
        "CELERY_TASK_ALWAYS_EAGER": "0", "LOG_LEVEL": "WARNING",
        "LOYALTY_WEBHOOK_ALLOW_PRIVATE": "1", **extra}  # the receivers are on 127.0.0.1


def run_python(code: str, env: dict[str, str], *, timeout: float = 90) -> str:
    """Run `code` in a fresh Django process (django.setup() done); returns its stdout."""
    script = "import django\ndjango.setup()\n" + code
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, timeout=timeout,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"the process failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip()


def beat_tick(env: dict[str, str]) -> int:
    """What beat's every-minute `dispatch_webhooks` does, run once: how many it handed over."""
    return int(run_python("from loyalty.services import webhook_delivery\n"
                          "print(webhook_delivery.dispatch_due())", env).splitlines()[-1])


class Worker:
    """A Celery worker process (prefork, acks late), killed with its children if need be."""

    def __init__(self, env: dict[str, str], log: Path, *, concurrency: int = 2):
        self.env, self.log, self.concurrency = env, log, concurrency
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "loyalty", "worker", "-l", "INFO",
                 "-c", str(self.concurrency), "--without-mingle", "--without-gossip",
                 "-n", f"fault-{free_port()}@%h"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_until(lambda: "ready." in self.output() or not self.alive, timeout=60,
                   what="the worker to start")
        assert self.alive, self.output()
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the worker and its pool: what the OOM killer or a power cut does."""
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
