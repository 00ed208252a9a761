#!/usr/bin/env bash
# API contract fuzzing: schemathesis against the live OpenAPI schema of a served instance.
#
# Serves the project with gunicorn on 127.0.0.1 (a free port), production settings
# (DEBUG=0) but plain HTTP, on a throwaway SQLite database holding a store `web`, two
# members and an API key with every scope (`manage.py create_api_key`). Then
# `schemathesis run http://127.0.0.1:PORT/api/schema/` with that key checks every
# operation: no 5xx, responses that match the schema (body, status code, content
# type). Bounded: SCHEMATHESIS_MAX_EXAMPLES cases per operation (default 100), a fixed
# SCHEMATHESIS_SEED so that a run can be replayed. Exit status: schemathesis's.
#
# Run from the repository root after `make install`: `bash .ci/schemathesis.sh`.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN="$PWD/.venv/bin"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
SEED="${SCHEMATHESIS_SEED:-20240501}"
REPORT_DIR="${SCHEMATHESIS_REPORT_DIR:-}"

work=$(mktemp -d "${TMPDIR:-/tmp}/loyalty-schemathesis.XXXXXX")
server_pid=""
stop() {
    local status=$?
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap stop EXIT

port=$("$BIN/python" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The same environment for the set-up commands and the server.
unset REDIS_URL DJANGO_SETTINGS_MODULE
export DEBUG=0 SECURE_SSL_REDIRECT=False ALLOWED_HOSTS=127.0.0.1 LOG_LEVEL=WARNING
export DATABASE_URL="sqlite:///${work}/db.sqlite3"
# A real random key: with DEBUG off the settings refuse a missing, public or short one.
SECRET_KEY=$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(60))')
export SECRET_KEY
# A budget no fuzzing run reaches: 429 is in the schema, but a throttled run tests nothing.
export API_THROTTLE_RATE=1000000/min
export PYTHONWARNINGS="ignore:No directory at"

"$BIN/python" manage.py migrate --noinput -v 0
"$BIN/python" manage.py shell -c '
from loyalty.models import Store
from loyalty.services.members import create_member
web, _ = Store.objects.get_or_create(code="web", defaults={"name": "E-shop", "kind": "online"})
for email in ("ada@example.com", "grace@example.com"):
    create_member(email=email, first_name=email.split("@")[0].title(), store=web)
print("store web and 2 members")
'
key=$("$BIN/python" manage.py create_api_key ci --store web 2>/dev/null | tail -n 1)
[ -n "$key" ] || { echo "create_api_key printed no key"; exit 1; }

# No limit on the request line: gunicorn's own 4094 bytes would answer 414 to a long fuzzed
# query string before Django sees it, and that is the front server's business, not the API's.
"$BIN/python" -m gunicorn loyalty.wsgi:application --bind "127.0.0.1:${port}" \
    --workers 2 --limit-request-line 0 --log-level warning >"${work}/gunicorn.log" 2>&1 &
server_pid=$!
for _ in $(seq 60); do
    if "$BIN/python" -c "import sys, urllib.request
sys.exit(urllib.request.urlopen('http://127.0.0.1:${port}/api/schema/', timeout=2).status != 200)" \
        2>/dev/null; then
        break
    fi
    kill -0 "$server_pid" 2>/dev/null || { cat "${work}/gunicorn.log"; exit 1; }
    sleep 1
done
echo "serving on http://127.0.0.1:${port}/ (gunicorn, SQLite), schemathesis $("$BIN/schemathesis" --version | awk '{print $NF}')"

report=()
if [ -n "$REPORT_DIR" ]; then
    mkdir -p "$REPORT_DIR"
    report=(--report junit,ndjson --report-dir "$(cd "$REPORT_DIR" && pwd)")
fi
status=0
# From the temporary folder: schemathesis keeps a cache of past failures (.schemathesis/)
# in its working directory, and every run here starts from nothing.
cd "$work"
"$BIN/schemathesis" run "http://127.0.0.1:${port}/api/schema/" \
    --header "Authorization: Api-Key ${key}" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers 1 \
    --request-timeout 20 --generation-database none --no-color \
    "${report[@]}" || status=$?
# The server's log without Django's one-line warnings for 4xx answers: what is left is
# errors and their tracebacks (and not gunicorn refusing schemathesis's probe for NUL bytes
# in headers).
grep -v -E '^(Bad Request|Unauthorized|Forbidden|Not Found|Method Not Allowed|Not Acceptable|Conflict|Gone|Unsupported Media Type|Unprocessable Entity|Too Many Requests|Request Entity Too Large|Request Header Fields Too Large|Precondition Failed): ' \
    "${work}/gunicorn.log" | grep -v 'X-SCHEMATHESIS-PROBE' >"${work}/errors.log" || true
if [ -s "${work}/errors.log" ]; then
    echo "---- the server's errors (last 400 lines) ----"
    tail -n 400 "${work}/errors.log"
fi
exit "$status"
