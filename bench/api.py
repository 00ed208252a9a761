"""API benchmark: the HTTP API under gunicorn on PostgreSQL, against a bare baseline.

`make bench` runs it after the scale benchmark (alone: `make bench-api`, or
`python bench/api.py --help`). In one run it:

  1. creates a throwaway PostgreSQL database (a new one on the server that
     DATABASE_URL names, else on 127.0.0.1:5432 as postgres; dropped at the end),
     migrates it and seeds it: the stores `paris` and `web`, three tiers, 4
     active rules (2 earning rules, 2 multipliers), N members with their cards,
     and an API key of the `web` store with every scope;
  2. counts the queries of one request, in-process with CaptureQueriesContext
     (BEGIN and COMMIT included), for each endpoint measured;
  3. serves the project under gunicorn with bench.settings: the project's URLs
     plus two bare baselines (bench/baseline.py), in the same server, so that
     both see the same workers, database and machine:
       POST /bench/baseline/ locks one member row, inserts one ledger entry and
       updates the balance, in one transaction: the least a purchase can cost;
       GET /bench/baseline/members/{id}/ reads one member row;
  4. loads each with wrk (bench/wrk/api.lua), at 16 and then 64 connections:
     POST /api/v1/purchases/ (a new order_id each time, a random member, 3 items)
     against the baseline write, GET /api/v1/members/{id}/ against the baseline
     read, each right after its baseline, for --rounds rounds; and prints the
     median round's requests per second, p50, p99 and CPU per request (app,
     PostgreSQL, wrk), the median of the rounds' ratios to the baseline, and
     whether the targets are met.

Targets (from the issue): at 16 connections, purchases at >= 50% of the
baseline's throughput with p99 <= 50 ms; a member read in <= 3 queries.
The exit status is 0 whatever the figures (they are for reading), unless
--strict is given. Results are also saved as JSON in bench/results/.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import cpu  # noqa: E402
from bench.scale import ThrowawayDatabase, create_members, say, set_up_programme  # noqa: E402

LUA = ROOT / "bench" / "wrk" / "api.lua"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"

# (label, wrk mode of the endpoint, wrk mode of its baseline)
ENDPOINTS = [
    ("POST /api/v1/purchases/", "purchase", "baseline-write"),
    ("GET /api/v1/members/{id}/", "member", "baseline-read"),
]
BASELINE_LABELS = {
    "baseline-write": "baseline: lock + entry + balance",
    "baseline-read": "baseline: read member row",
}
TARGET_RATIO, TARGET_P99_MS, TARGET_READ_QUERIES, TARGET_CONNECTIONS = 0.50, 50.0, 3, 16


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=2_000,
                        help="members to seed (default 2000)")
    parser.add_argument("--duration", type=int, default=10,
                        help="seconds of load per measured run (default 10)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measured runs of each endpoint and its baseline, taken in "
                             "turn; the median is shown (default 3)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="seconds of unmeasured load per endpoint first (default 2)")
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64],
                        help="connection counts to measure (default 16 64)")
    parser.add_argument("--workers", type=int, default=4,
                        help="gunicorn worker processes (default 4)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per worker; above 1 uses the gthread worker "
                             "(default 1: sync workers)")
    parser.add_argument("--wrk-threads", type=int, default=2,
                        help="wrk threads (default 2)")
    parser.add_argument("--query-sample", type=int, default=50,
                        help="requests whose queries are counted (default 50)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the throwaway database and print where it is")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when a target is not met")
    args = parser.parse_args(argv)
    if args.members < 10:
        parser.error("--members must be at least 10")
    if any(c < args.wrk_threads for c in args.connections):
        parser.error("every --connections value must be at least --wrk-threads")
    return args


# --- Tools ------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """wrk from Debian's packages, installed if missing (as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit("bench: wrk is missing; install it (Debian: apt-get install wrk)")
    say("  wrk is missing: installing it with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:  # noqa: S603
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)  # noqa: S603, S607
        subprocess.run(install, env=env, check=True, capture_output=True)  # noqa: S603
    return shutil.which("wrk") or "wrk"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return response.status
    except OSError as error:
        return getattr(error, "code", None)


# --- Seeding and counting, in-process ----------------------------------------------------


def seed(members: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from loyalty.models import EarningRule, Multiplier
    from loyalty.services.apikeys import create_api_key

    t = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    say(f"  migrate: {time.perf_counter() - t:.1f} s")
    _stores, entry_tier = set_up_programme()
    ids = create_members(0, members, entry_tier)
    if max(ids) - min(ids) + 1 != len(ids):
        raise SystemExit("bench: member ids are not contiguous; wrk draws them in a range")
    _key, secret = create_api_key(name="bench", store_code="web")
    rules = (EarningRule.objects.filter(active=True).count()
             + Multiplier.objects.filter(active=True).count())
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    say(f"  seeded {len(ids):,} members and cards, {rules} active rules, an API key of "
        f"store web; PostgreSQL {version}")
    return {"first_id": min(ids), "last_id": max(ids), "key": secret, "rules": rules,
            "postgresql": version}


def purchase_body(order_id: str, member_id: int) -> dict:
    return {"order_id": order_id, "member_id": member_id, "amount": "136.40", "items": [
        {"sku": "SHOE-1", "category": "shoes", "quantity": 1, "unit_price": "89.90"},
        {"sku": "SOCK-1", "category": "accessories", "quantity": 2, "unit_price": "4.50"},
        {"sku": "BAG-1", "category": "bags", "quantity": 1, "unit_price": "37.50"}]}


def count_queries(seeded: dict, sample: int) -> dict[str, float]:
    """Queries per request of each endpoint, through the whole Django stack (test client)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Api-Key {seeded['key']}")
    first = seeded["first_id"]
    ids = [first + (i * 7) % (seeded["last_id"] - first + 1) for i in range(sample)]
    requests = {
        "purchase": lambda i, pk: client.post(
            "/api/v1/purchases/", purchase_body(f"Q-{i}", pk), content_type="application/json"),
        "member": lambda i, pk: client.get(f"/api/v1/members/{pk}/"),
        "baseline-write": lambda i, pk: client.post(
            "/bench/baseline/", {"member_id": pk, "points": 100},
            content_type="application/json"),
        "baseline-read": lambda i, pk: client.get(f"/bench/baseline/members/{pk}/"),
    }
    expected = {"purchase": 201, "member": 200, "baseline-write": 201, "baseline-read": 200}
    # One request first: the key's last_used_at is written at most once a minute.
    requests["member"](0, first)
    counts = {}
    for mode, send in requests.items():
        with CaptureQueriesContext(connection) as captured:
            for i, pk in enumerate(ids):
                response = send(i, pk)
                if response.status_code != expected[mode]:
                    raise SystemExit(f"bench: {mode} answered {response.status_code}: "
                                     f"{response.content[:300]!r}")
        counts[mode] = len(captured.captured_queries) / len(ids)
    return counts


# --- Serving and loading -----------------------------------------------------------------


class Server:
    """gunicorn serving bench.settings (the project plus the baselines) on loopback."""

    def __init__(self, args, probe_path: str, *, local_database: bool):
        self.local_database = local_database  # its processes are counted in CPU figures
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        worker_class = "gthread" if args.threads > 1 else "sync"
        self.description = (f"gunicorn, {args.workers} {worker_class} workers"
                            + (f" x {args.threads} threads" if args.threads > 1 else ""))
        self.command = [
            sys.executable, "-m", "gunicorn", "loyalty.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--chdir", str(ROOT),
            "--workers", str(args.workers), "--worker-class", worker_class,
            "--threads", str(args.threads), "--backlog", "2048",
            "--log-level", "warning", "--timeout", "60"]
        self.probe = self.base + probe_path
        self.process = None

    def __enter__(self):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}
        self.process = subprocess.Popen(self.command, env=env, cwd=ROOT,  # noqa: S603
                                        start_new_session=True)
        deadline = time.monotonic() + 60
        while http_status(self.probe) != 200:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: gunicorn exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise SystemExit("bench: gunicorn did not answer within 60 s")
            time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return False


def load(wrk: str, server: Server, seeded: dict, *, mode: str, connections: int,
         seconds: int, threads: int, run: str) -> dict:
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
               "-s", str(LUA), server.base, "--", mode, str(seeded["first_id"]),
               str(seeded["last_id"]), run, seeded["key"]]
    before = cpu.sample()
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    after = cpu.sample()
    line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")),
                None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"bench: wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    errors = raw["errors"]
    return {
        "mode": mode, "connections": connections,
        "requests": raw["requests"],
        "per_second": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000, "max_ms": raw["max_us"] / 1000,
        "non_2xx": errors["status"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"]
        + errors["timeout"],
        "cpu_ms": cpu.per_request_ms(before, after, requests=raw["requests"],
                                     app_group=server.process.pid,
                                     local_database=server.local_database),
    }


# --- The run ----------------------------------------------------------------------------


def cpu_text(cpu_ms: dict) -> str:
    database = "n/a" if cpu_ms["database"] is None else f"{cpu_ms['database']:.2f}"
    return f"app {cpu_ms['app']:.2f}, PostgreSQL {database}, wrk {cpu_ms['load']:.2f}"


def run(args) -> dict:
    wrk = ensure_wrk()
    wrk_version = subprocess.run([wrk, "-v"], capture_output=True, text=True,  # noqa: S603
                                 check=False).stdout.split("\n")[0].split(" [")[0]
    seeded = seed(args.members)
    queries = count_queries(seeded, args.query_sample)
    say("  queries per request: " + ", ".join(f"{mode} {n:.1f}" for mode, n in queries.items()))
    from django.db import connections

    connections.close_all()

    rows = []
    probe = f"/bench/baseline/members/{seeded['first_id']}/"
    host = urlsplit(os.environ["DATABASE_URL"]).hostname or ""
    local = host in ("", "127.0.0.1", "localhost", "::1") or host.startswith("/")
    with Server(args, probe, local_database=local) as server:
        say(f"  serving on {server.base} ({server.description}); load: {wrk_version}, "
            f"{args.wrk_threads} threads, {args.duration} s a run")
        tag = f"W{os.getpid()}"
        for mode in ("baseline-write", "purchase", "baseline-read", "member"):
            load(wrk, server, seeded, mode=mode, connections=min(args.connections),
                 seconds=args.warmup, threads=args.wrk_threads, run=f"{tag}-warm")
        for connections_count in args.connections:
            # Each endpoint right after its baseline, round after round: what else the
            # machine does drifts over minutes, and a pair taken together shares it.
            for turn, (_label, mode, baseline_mode) in itertools.product(
                    range(args.rounds), ENDPOINTS):
                for each in (baseline_mode, mode):
                    row = load(wrk, server, seeded, mode=each, connections=connections_count,
                               seconds=args.duration, threads=args.wrk_threads,
                               run=f"{tag}-{connections_count}-{turn}")
                    rows.append({**row, "round": turn})
                    say(f"    {each:<15} c={connections_count:<3} round {turn + 1} "
                        f"{row['per_second']:8.0f} req/s  p50 {row['p50_ms']:6.1f} ms  "
                        f"p99 {row['p99_ms']:6.1f} ms  non-2xx {row['non_2xx']}  "
                        f"CPU ms/request: {cpu_text(row['cpu_ms'])}")

    return {"members": args.members, "rules": seeded["rules"],
            "postgresql": seeded["postgresql"], "server": server.description,
            "wrk": f"{wrk_version}, {args.wrk_threads} threads, {args.duration} s a run, "
                   f"{args.rounds} rounds (medians shown)",
            "queries": {mode: round(n, 2) for mode, n in queries.items()},
            "runs": rows}


def assess(results: dict) -> list[dict]:
    """Each endpoint beside its baseline at the same connection count, and the targets.

    A row is the median round by throughput (its latencies and CPU figures are that
    round's); a ratio is the median of the ratios of the rounds, each taken against
    the baseline run just before it.
    """
    by_key: dict[tuple, list[dict]] = {}
    for row in results["runs"]:
        by_key.setdefault((row["mode"], row["connections"]), []).append(row)
    table = []
    for (mode, connections), runs in by_key.items():
        row = sorted(runs, key=lambda run: run["per_second"])[(len(runs) - 1) // 2]
        baseline_mode = next((b for _l, m, b in ENDPOINTS if m == mode), None)
        bases = {run["round"]: run for run in by_key.get((baseline_mode, connections), [])}
        pairs = [(run, bases[run["round"]]) for run in runs if run["round"] in bases]
        ratios = None
        if pairs:
            ratios = {name: statistics.median(run[key] / base[key] for run, base in pairs)
                      for name, key in (("per_second", "per_second"), ("p50", "p50_ms"),
                                        ("p99", "p99_ms"))}
        table.append({**row, "ratios": ratios,
                      "rounds_per_second": [round(run["per_second"]) for run in runs]})
    results["table"] = table
    rows = {(row["mode"], row["connections"]): row for row in table}
    purchase = rows.get(("purchase", TARGET_CONNECTIONS))
    targets = []
    if purchase and purchase["ratios"]:
        ratio = purchase["ratios"]["per_second"]
        targets.append({"target": f"purchases >= {TARGET_RATIO:.0%} of the baseline's "
                                  f"throughput at {TARGET_CONNECTIONS} connections",
                        "value": f"{ratio:.0%}", "met": ratio >= TARGET_RATIO})
        targets.append({"target": f"purchases p99 <= {TARGET_P99_MS:.0f} ms at "
                                  f"{TARGET_CONNECTIONS} connections",
                        "value": f"{purchase['p99_ms']:.1f} ms",
                        "met": purchase["p99_ms"] <= TARGET_P99_MS})
    member_queries = results["queries"]["member"]
    targets.append({"target": f"member read <= {TARGET_READ_QUERIES} queries",
                    "value": f"{member_queries:.1f}",
                    "met": member_queries <= TARGET_READ_QUERIES})
    errors = sum(row["non_2xx"] + row["socket_errors"] for row in results["runs"])
    targets.append({"target": "no non-2xx answer nor socket error under load",
                    "value": str(errors), "met": errors == 0})
    results["targets"] = targets
    return targets


def print_table(results: dict) -> None:
    labels = {mode: label for label, mode, _b in ENDPOINTS} | BASELINE_LABELS
    say("")
    say(f"{'endpoint':<34} {'conns':>5} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'queries':>7} {'non-2xx':>7} | {'× baseline: req/s':>17} {'p50':>5} {'p99':>5}")
    say("-" * 112)
    for row in results["table"]:
        ratios = row["ratios"]
        shown = (f"{ratios['per_second']:>17.2f} {ratios['p50']:>5.1f} {ratios['p99']:>5.1f}"
                 if ratios else f"{'1.00':>17} {'1.0':>5} {'1.0':>5}")
        say(f"{labels[row['mode']]:<34} {row['connections']:>5} {row['per_second']:>7,.0f} "
            f"{row['p50_ms']:>7.1f} {row['p99_ms']:>7.1f} "
            f"{results['queries'][row['mode']]:>7.1f} "
            f"{row['non_2xx'] + row['socket_errors']:>7} | {shown}")
    say("-" * 112)
    say("")
    say(f"{'CPU per request, ms':<34} {'conns':>5} {'app':>7} {'PgSQL':>7} {'wrk':>7} "
        f"{'total':>7} | {'× baseline total':>17}")
    say("-" * 93)
    totals = {}
    for row in results["table"]:
        cpu_ms = row["cpu_ms"]
        total = cpu_ms["app"] + (cpu_ms["database"] or 0) + cpu_ms["load"]
        totals[(row["mode"], row["connections"])] = total
        baseline_mode = next((b for _l, m, b in ENDPOINTS if m == row["mode"]), None)
        base = totals.get((baseline_mode, row["connections"]))
        database = "n/a" if cpu_ms["database"] is None else f"{cpu_ms['database']:.2f}"
        say(f"{labels[row['mode']]:<34} {row['connections']:>5} {cpu_ms['app']:>7.2f} "
            f"{database:>7} {cpu_ms['load']:>7.2f} {total:>7.2f} | "
            f"{(total / base if base else 1.0):>17.2f}")
    say("-" * 93)
    say(f"The {os.cpu_count()} CPUs are shared by all three: throughput is at most "
        f"{os.cpu_count()} x 1000 / total requests a second, and with c connections each "
        f"waiting for its answer, the mean latency is c / throughput (Little's law).")
    say("")
    for target in results["targets"]:
        say(f"{'met    ' if target['met'] else 'NOT MET'}  {target['target']}: "
            f"{target['value']}")


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["DEBUG"] = "0"
    # DEBUG off refuses the development key: a throwaway one, shared by the server's workers.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(60))
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    # The throttle's counters: Redis when REDIS_URL is given (as in production), else each
    # worker's memory. Tasks run in-process either way (bench.settings).
    if not os.environ.get("DATABASE_URL", "").strip():
        os.environ["DATABASE_URL"] = DEFAULT_SERVER
    started = time.perf_counter()
    with ThrowawayDatabase(keep=args.keep) as database:
        if database.pg is None:
            raise SystemExit("bench: the API benchmark needs PostgreSQL")
        say(f"API benchmark: {args.members:,} members; {database.description}")
        say(f"  Python {platform.python_version()}, {os.cpu_count()} CPUs; throttle cache: "
            f"{'Redis' if os.environ.get('REDIS_URL', '').strip() else 'local memory'}; "
            f"load average {os.getloadavg()[0]:.1f} (the machine's other work shows in it)")
        load_before = os.getloadavg()[0]
        results = run(args)
        results["load_average"] = {"before": round(load_before, 2),
                                   "after": round(os.getloadavg()[0], 2)}
    targets = assess(results)
    print_table(results)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["python"] = platform.python_version()
    say(f"\nTotal: {results['total_seconds']:.0f} s; load average (1 min) "
        f"{results['load_average']['before']:.1f} before the load, "
        f"{results['load_average']['after']:.1f} after")
    if not args.no_save:
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"api-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(results, indent=2) + "\n")
        say(f"Saved {path.relative_to(ROOT)}")
    if args.strict and not all(target["met"] for target in targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
