# Everyday commands. Only python3 (3.11+) is needed: the first target that needs
# the virtual environment creates .venv and installs the project into it.
#
# DATABASE_URL and REDIS_URL are never set here. Without them the site uses
# SQLite (db.sqlite3) and runs Celery tasks in-process; with them (exported in
# your shell, given as `make run DATABASE_URL=...`, or written in .env) it uses
# your database and broker. A variable that is set but empty counts as unset.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Newer than pyproject.toml once the dependencies it names are installed: RUN_STAMP the
# project and what it runs on (all `make run`, the worker and beat need), STAMP the `dev`
# extra as well (tests, lint, benchmarks). `make run` on a fresh clone installs the first
# only: about a third of the download (no Playwright, schemathesis, hypothesis, ruff...).
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
MANAGE := $(BIN)/python manage.py

# pytest-xdist workers: none by default. The suite passes with `make test
# PYTEST_WORKERS=auto`, but on a 2-core machine each worker's start-up (its own
# test database, migrated) costs more than it saves: about 24 s against 8 s in one
# process, measured when this was written. With REDIS_URL set, workers would also
# share one cache (throttle counters), since test settings give no per-worker prefix.
PYTEST_WORKERS ?= 0
PYTEST_ARGS ?=
BENCH_ARGS ?=
BENCH_INSIGHT_ARGS ?=
BENCH_NIGHTLY_ARGS ?=
BENCH_API_ARGS ?=
BENCH_SEED_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000

# The Makefile is for development: settings start in DEBUG mode unless you say otherwise
# (with DEBUG=0 they refuse to start without a real SECRET_KEY). Production runs the
# units of deploy/, never make.
export DEBUG ?= 1

ifeq ($(strip $(DATABASE_URL)),)
unexport DATABASE_URL
endif
ifeq ($(strip $(REDIS_URL)),)
unexport REDIS_URL
endif

.PHONY: help install install-run run test worker beat lint bench bench-insight bench-nightly bench-api \
	bench-seed \
	schemathesis \
	messages compilemessages chromium clean distclean

help:
	@echo "make run      install, migrate, load the demo programme and serve on http://$(HOST):$(PORT)/"
	@echo "make test     install and run the whole test suite"
	@echo "make worker   a Celery worker          make beat   the Celery beat scheduler"
	@echo "make lint     ruff"
	@echo "make bench    the scale benchmark (bench/scale.py), the demo's load (bench/seed.py; alone:"
	@echo "              make bench-seed), the nightly points and tier jobs on"
	@echo "              1M members (bench/nightly.py, PostgreSQL; alone: make bench-nightly), the"
	@echo "              insight run on 1M members and 10M purchases (bench/insight.py,"
	@echo "              PostgreSQL; alone: make bench-insight),"
	@echo "              then the API benchmark (bench/api.py: gunicorn on PostgreSQL, loaded with"
	@echo "              wrk; alone: make bench-api)"
	@echo "make schemathesis  fuzz the served API against its OpenAPI schema (.ci/schemathesis.sh)"
	@echo "make messages update the French translation catalogue (locale/fr)"
	@echo "make clean    remove caches and build leftovers (make distclean: also .venv and db.sqlite3)"

$(BIN)/python:
	@echo "install: creating $(VENV)"
	$(PYTHON) -m venv $(VENV)

# pip with a line per phase; its whole output goes to .venv/install.log (its end is shown if
# it fails). --no-compile: no bytecode written up front for every module of every package
# (scipy, numpy, Django...); Python compiles what it imports, once, when it imports it.
# awk prints the phases: the resolution (every 25 packages), the build, the install.
PIP_PHASES := awk '\
	/^Collecting / { n++; if (n == 1) print "install:   resolving the dependencies..."; \
		else if (n % 25 == 0) print "install:   " n " packages resolved..."; fflush(); next } \
	/^Building (editable|wheel)/ { if (!built++) print "install:   building the project..."; fflush(); next } \
	/^Installing collected packages:/ { print "install:   installing " split($$0, names, ",") " packages..."; fflush(); next } \
	/^ERROR/ { print; fflush() }'
define pip_install
	@echo "install: $(2), with pip (output in $(VENV)/install.log)"
	@set -o pipefail; start=$$(date +%s); \
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off --no-compile \
		-e '$(1)' 2>&1 | tee -a $(VENV)/install.log | $(PIP_PHASES) \
	|| { echo "install: pip failed; the end of $(VENV)/install.log:"; \
		tail -n 30 $(VENV)/install.log; exit 1; }; \
	echo "install: done in $$(( $$(date +%s) - start )) s"
endef

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ]; then :; else \
		$(MAKE) --no-print-directory install-run; fi
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(call pip_install,.[dev],the project and its development tools)
	@touch $(STAMP) $(RUN_STAMP)

install: $(STAMP)

# The project and its runtime dependencies only (what `make run` needs).
install-run: | $(BIN)/python
	$(call pip_install,.,the project and its dependencies)

# Compiled catalogues, when there is something to compile and a msgfmt to do it.
compilemessages: $(RUN_STAMP)
	@if [ -d locale ] && command -v msgfmt >/dev/null 2>&1; then \
		$(MANAGE) compilemessages --ignore '$(VENV)' --ignore 'node_modules' -v 0; \
	fi

run: export DEBUG = 1
run: $(RUN_STAMP) compilemessages
	@echo "run: applying the migrations"
	@$(MANAGE) migrate --noinput -v 0
	@echo "run: loading the demo programme (seed_demo)"
	@$(MANAGE) seed_demo
	@echo
	@echo "================================================================"
	@echo " Loyalty programme demo: http://$(HOST):$(PORT)/"
	@echo "   customer  marie@example.com    password demo-password"
	@echo "   cashier   cashier@example.com  password demo-password"
	@echo "   admin     admin@example.com    password demo-password"
	@echo "             (Django admin: http://$(HOST):$(PORT)/admin/)"
	@if [ -n "$${DATABASE_URL:-}" ]; then \
		echo " database  DATABASE_URL from your environment"; \
	else \
		echo " database  SQLite, db.sqlite3 (unless .env sets DATABASE_URL)"; \
	fi
	@if [ -n "$${REDIS_URL:-}" ]; then \
		echo " tasks     REDIS_URL is set: run 'make worker' and 'make beat' as well"; \
	else \
		echo " tasks     run in-process (unless .env sets REDIS_URL)"; \
	fi
	@echo "================================================================"
	@echo
	$(MANAGE) runserver $(HOST):$(PORT)

# Debian's Chromium, which the browser tests (tests/browser) drive with Playwright; Playwright
# never downloads a browser of its own. Installed with apt-get when missing and make runs as
# root; otherwise the browser tests fail, saying how to install it.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "$(CHROMIUM) is missing: installing Debian's chromium for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else \
		echo "$(CHROMIUM) is missing, so the browser tests (tests/browser) will fail:"; \
		echo "install it with 'sudo apt-get install chromium' (or set CHROMIUM to its path)"; \
	fi

test: $(STAMP) compilemessages chromium
	@workers="$(PYTEST_WORKERS)"; \
	if [ -n "$$workers" ] && [ "$$workers" != 0 ]; then set -- -n "$$workers"; fi; \
	echo "$(BIN)/pytest $$* $(PYTEST_ARGS)"; \
	$(BIN)/pytest "$$@" $(PYTEST_ARGS)

# The worker and beat only make sense with a real broker (REDIS_URL); without one,
# tasks already run inside the web process.
define need_broker
	@if [ -z "$${REDIS_URL:-}" ] && ! grep -qs '^REDIS_URL=.' .env; then \
		echo "REDIS_URL is not set: tasks run in-process and $(1) would see none."; \
		echo "Start it with e.g. REDIS_URL=redis://127.0.0.1:6379/0 make $(1)"; \
		exit 1; \
	fi
endef

worker: $(RUN_STAMP)
	$(call need_broker,worker)
	$(BIN)/celery -A loyalty worker -l info

beat: $(RUN_STAMP)
	$(call need_broker,beat)
	$(MANAGE) migrate --noinput
	$(BIN)/celery -A loyalty beat -l info \
		--scheduler django_celery_beat.schedulers:DatabaseScheduler

lint: $(STAMP)
	$(BIN)/ruff check .

# The scale benchmark on a throwaway database (SQLite, or a new database on the PostgreSQL
# server DATABASE_URL names); the demo's load as `make run` does it, checked whole and timed
# against raw-ORM ledger writes (same kind of database; BENCH_SEED_ARGS); the nightly points
# and tier jobs against bare statements,
# on 100k then 1M members built in a throwaway PostgreSQL database (on DATABASE_URL's
# server, else 127.0.0.1:5432; BENCH_NIGHTLY_ARGS="--quick" for a smoke test); the
# nightly insight run against a bare NTILE statement, on 100k then 1M members built the
# same way (BENCH_INSIGHT_ARGS="--quick" for a smoke test); then the API benchmark:
# gunicorn on a throwaway PostgreSQL database (same server), loaded by wrk (installed with
# apt-get if missing). BENCH_ARGS go to the first, BENCH_NIGHTLY_ARGS to the second,
# BENCH_INSIGHT_ARGS to the third, BENCH_API_ARGS to the fourth.
bench: $(STAMP)
	DJANGO_SETTINGS_MODULE=loyalty.settings $(BIN)/python bench/scale.py $(BENCH_ARGS)
	DJANGO_SETTINGS_MODULE=loyalty.settings $(BIN)/python bench/seed.py $(BENCH_SEED_ARGS)
	DJANGO_SETTINGS_MODULE=loyalty.settings $(BIN)/python bench/nightly.py $(BENCH_NIGHTLY_ARGS)
	$(BIN)/python bench/insight.py $(BENCH_INSIGHT_ARGS)
	$(BIN)/python bench/api.py $(BENCH_API_ARGS)

bench-nightly: $(STAMP)
	DJANGO_SETTINGS_MODULE=loyalty.settings $(BIN)/python bench/nightly.py $(BENCH_NIGHTLY_ARGS)

bench-seed: $(STAMP)
	DJANGO_SETTINGS_MODULE=loyalty.settings $(BIN)/python bench/seed.py $(BENCH_SEED_ARGS)

bench-insight: $(STAMP)
	$(BIN)/python bench/insight.py $(BENCH_INSIGHT_ARGS)

bench-api: $(STAMP)
	$(BIN)/python bench/api.py $(BENCH_API_ARGS)

# What CI runs: the app served on a throwaway SQLite database, fuzzed by schemathesis.
schemathesis: $(STAMP)
	bash .ci/schemathesis.sh

messages: $(STAMP)
	@command -v xgettext >/dev/null 2>&1 || { \
		echo "makemessages needs GNU gettext (Debian: apt-get install gettext)"; exit 1; }
	mkdir -p locale
	$(MANAGE) makemessages -l fr -e html,txt,py --no-obsolete \
		--ignore '$(VENV)/*' --ignore 'node_modules/*' --ignore 'staticfiles/*' \
		--ignore 'build/*' --ignore 'bench/*' --ignore 'tests/*'
	$(MANAGE) compilemessages -l fr --ignore '$(VENV)'

clean:
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .hypothesis .coverage htmlcov \
		staticfiles bench/results

distclean: clean
	rm -rf $(VENV) db.sqlite3 db.sqlite3-journal
