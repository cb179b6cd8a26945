#!/usr/bin/env bash
# Fuzz a running CareBridge with schemathesis from its OpenAPI document, once anonymously and
# once as each demo role: no request may answer a server error (5xx), an undocumented status
# code, or a body that does not match the documented schema.
#
#   bash bench/schemathesis.sh            # by hand: MAX_EXAMPLES=100 per operation and phase
#   MAX_EXAMPLES=500 bash bench/schemathesis.sh
#   bash bench/schemathesis.sh --ci       # the bounded run of .ci/run: MAX_EXAMPLES=5
#
# It starts `carebridge serve --demo` on a fresh data directory (embedded PostgreSQL, unless
# CAREBRIDGE_DATABASE_URL is set) on port $PORT, signs the demo accounts in, runs schemathesis
# (fetched by `uv tool run`, not a dependency of CareBridge) and stops the server. The sign-out
# and revoke routes are left out: they would end the session the rest of the run uses. Reports
# (JUnit) are written under $OUT. Not part of `make test`: a run takes several minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-8765}
# --ci: the bounded run of .ci/run, with a fixed seed so that a finding reproduces; by hand, a
# larger budget and a new seed each run.
SEED=()
if [ "${1:-}" = --ci ]; then
  MAX_EXAMPLES=${MAX_EXAMPLES:-5}
  SEED=(--seed "${SEED_VALUE:-20261206}")
fi
MAX_EXAMPLES=${MAX_EXAMPLES:-100}
CHECKS=not_a_server_error,status_code_conformance,response_schema_conformance
# One worker: with two, schemathesis on Python 3.11 sometimes stops an operation with
# "SystemError: AST constructor recursion depth mismatch" (the ast module used from two threads).
WORKERS=${WORKERS:-1}
SCHEMATHESIS=${SCHEMATHESIS:-schemathesis==4.32.5}
OUT=${OUT:-test-artifacts/schemathesis}
DATA=$(mktemp -d)
BASE="http://127.0.0.1:$PORT"
PASSWORD="carebridge-demo-orchard-42"
mkdir -p "$OUT"

export CAREBRIDGE_DATA_DIR="$DATA" CAREBRIDGE_PORT="$PORT"
export CAREBRIDGE_ACCESS_TOKEN_TTL_SECONDS=3600  # a role's run on one sign-in
uv run --frozen carebridge serve --demo --port "$PORT" >"$OUT/server.log" 2>&1 &
SERVER=$!
# The embedded PostgreSQL is stopped by its own pid: it may outlive a server stopped by a signal.
stop() {
  kill $SERVER 2>/dev/null
  wait $SERVER 2>/dev/null || true
  [ -f "$DATA/postgres/postmaster.pid" ] && kill "$(head -1 "$DATA/postgres/postmaster.pid")" 2>/dev/null
  sleep 1
  rm -rf "$DATA"
}
trap stop EXIT
for _ in $(seq 120); do
  curl -fs "$BASE/health/ready" >/dev/null && break
  sleep 1
done
curl -fs "$BASE/health/ready" >/dev/null || { echo "the server did not start: $OUT/server.log"; exit 1; }

token() {
  curl -fs "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\": \"$1\", \"password\": \"$PASSWORD\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

# Every role signs in before any fuzzing: the fuzzed sign-in routes soon use up the sign-in
# limit of this client (30 a minute), and a session outlives what the fuzzing does to passwords.
declare -A bearer=(
  [patient]=$(token patient@demo.example.org)
  [doctor]=$(token dr.rivera@demo.example.org)
  [nurse]=$(token nurse.okafor@demo.example.org)
  [admin]=$(token admin@demo.example.org)
)

# Each role's requests are counted from the server's log (one `request` line a request).
requests() { grep -c '\] request ' "$OUT/server.log" || true; }
errors() { grep '\] request ' "$OUT/server.log" | grep -c ' status=5' || true; }
echo "operations: $(curl -fs "$BASE/api/openapi.json" | python3 -c '
import json, sys
paths = json.load(sys.stdin)["paths"]
print(sum(m in ("get", "put", "post", "patch", "delete") for ops in paths.values() for m in ops))
')"

status=0
for role in anonymous patient doctor nurse admin; do
  headers=()
  [ "$role" = anonymous ] || headers=(-H "Authorization: Bearer ${bearer[$role]}")
  echo "== $role"
  before=$(requests)
  uv tool run --quiet --from "$SCHEMATHESIS" schemathesis run "$BASE/api/openapi.json" \
    "${headers[@]}" \
    --checks "$CHECKS" "${SEED[@]}" \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" \
    --exclude-path-regex 'logout|revoke-others|/me/sessions/' \
    --workers "$WORKERS" \
    --report junit --report-dir "$OUT/$role" \
    --no-color || status=1
  echo "== $role: $(($(requests) - before)) requests"
done
echo "server errors (5xx) in the server log: $(errors)"
[ "$(errors)" = 0 ] || status=1
exit $status
