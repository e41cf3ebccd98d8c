#!/usr/bin/env bash
# Property-based tests of the gateway's HTTP/JSON face against the OpenAPI
# document it serves (schemathesis, from PyPI): no 5xx, every answer and
# error as documented. Runs a standalone fengqiao in a temporary directory
# and calls as a police station, a court, a petition bureau and a party
# look-up service in turn.
#   scripts/schemathesis.sh            # 25 examples per operation (CI)
#   EXAMPLES=500 scripts/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES="${EXAMPLES:-25}"
command -v st >/dev/null || python3 -m pip install -q schemathesis
cargo build -q -p fengqiao
BIN="$PWD/target/debug/fengqiao"
WORK="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"
"$BIN" > fengqiao.log 2>&1 &
PID=$!
GATEWAY=""
for _ in $(seq 1 60); do
  GATEWAY="$(awk '$1 == "gateway" {print $2}' fengqiao.log)"
  [ -n "$GATEWAY" ] && break
  sleep 1
done
[ -n "$GATEWAY" ] || { cat fengqiao.log; echo "fengqiao did not start" >&2; exit 1; }
"$BIN" agencies add --id portal-620802 --kind lookup --name 崆峒区群众服务门户 --division 620802 >/dev/null
for AGENCY in police-620802-dongguan court-620802 petition-620802 portal-620802; do
  echo "--- schemathesis as $AGENCY"
  TOKEN="$("$BIN" token "$AGENCY")"
  st run "http://$GATEWAY/openapi.json" --url "http://$GATEWAY" \
    -H "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$EXAMPLES" --seed 20261123 --no-color
done
