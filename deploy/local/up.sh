#!/usr/bin/env bash
# Starts fengqiao in distributed mode on this machine: one process per
# component (`fengqiao serve <component>`), on PostgreSQL and NATS JetStream.
# Logs and pids go to deploy/local/run/ (or $FENGQIAO_RUN_DIR). Stop with down.sh.
#
# Environment (all optional):
#   FENGQIAO_DATABASE__URL   default postgres://postgres@127.0.0.1:5432/fengqiao (created if missing)
#   FENGQIAO_BUS__NATS_URL   default nats://127.0.0.1:4222 (JetStream enabled)
#   FENGQIAO_PERSONAL_DATA__KEY, FENGQIAO_PERSONAL_DATA__HASH_KEY  default: generated once into the run directory
#   FENGQIAO_AUTH__TLS_CERT_FILE, _TLS_KEY_FILE, _CLIENT_CA_FILE  the gateway's TLS (default: plaintext)
#   FENGQIAO_BIN             a built fengqiao binary; default: cargo build -p fengqiao
#   FENGQIAO_<COMPONENT>__LISTEN     default 127.0.0.1:50050..50055
#   FENGQIAO_METRICS_PORT_BASE       Prometheus metrics on 127.0.0.1:<base>..<base+6>, default 9460 (0: free ports)
#   TOKIO_WORKER_THREADS     threads each process works on; default 1 on a machine of 4 CPUs or fewer
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
run="${FENGQIAO_RUN_DIR:-$here/run}"
mkdir -p "$run"

export FENGQIAO_DATABASE__URL="${FENGQIAO_DATABASE__URL:-postgres://postgres@127.0.0.1:5432/fengqiao}"
export FENGQIAO_BUS__NATS_URL="${FENGQIAO_BUS__NATS_URL:-nats://127.0.0.1:4222}"
export FENGQIAO_DEMO_DATA="${FENGQIAO_DEMO_DATA:-true}"
# Keys that seal personal data at rest: generated once, kept with the run files.
for k in KEY HASH_KEY; do
  var="FENGQIAO_PERSONAL_DATA__$k"
  file="$run/personal-data-$(echo "$k" | tr 'A-Z_' 'a-z-')"
  if [ -z "${!var:-}" ]; then
    [ -s "$file" ] || head -c 32 /dev/urandom | base64 | tr -d '\n' > "$file"
    export "$var=$(cat "$file")"
  fi
done

if [ -z "${FENGQIAO_BIN:-}" ]; then
  (cd "$root" && cargo build -q -p fengqiao)
  FENGQIAO_BIN="$root/target/debug/fengqiao"
fi

# The database named in the URL must exist; create it when the server lets us.
db="${FENGQIAO_DATABASE__URL##*/}"; db="${db%%\?*}"
admin="${FENGQIAO_DATABASE__URL%/*}/postgres"
if command -v psql >/dev/null && ! psql "$FENGQIAO_DATABASE__URL" -qAtc 'select 1' >/dev/null 2>&1; then
  psql "$admin" -qc "CREATE DATABASE \"$db\"" >/dev/null
fi

"$FENGQIAO_BIN" migrate > "$run/migrate.log"

# Seven processes share this machine's CPUs: on a small machine (4 CPUs or fewer) each runs one
# tokio worker thread, which carried 16 % more referrals a second on two cores than a worker per
# CPU in each process (docs/performance.md, thirty-fifth round). A TOKIO_WORKER_THREADS set
# beforehand wins.
if [ -z "${TOKIO_WORKER_THREADS:-}" ] && [ "$(nproc)" -le 4 ]; then export TOKIO_WORKER_THREADS=1; fi

metrics_base="${FENGQIAO_METRICS_PORT_BASE:-9460}"
declare -A metrics_offset
port=50050
for c in gateway intake routing mediation court-linkage petition-linkage console; do
  metrics_offset[$c]=$((port - 50050))
  var="FENGQIAO_$(echo "$c" | tr 'a-z-' 'A-Z_')__LISTEN"
  export "$var=${!var:-127.0.0.1:$port}"
  port=$((port + 1))
done
for c in mediation routing intake court-linkage petition-linkage gateway console; do
  if [ -f "$run/$c.pid" ] && kill -0 "$(cat "$run/$c.pid")" 2>/dev/null; then
    echo "$c is already running (pid $(cat "$run/$c.pid"))"; continue
  fi
  metrics_port=0
  [ "$metrics_base" = 0 ] || metrics_port=$((metrics_base + metrics_offset[$c]))
  FENGQIAO_TELEMETRY__METRICS_LISTEN="127.0.0.1:$metrics_port" \
    nohup "$FENGQIAO_BIN" serve "$c" > "$run/$c.log" 2>&1 &
  echo $! > "$run/$c.pid"
done
# Wait until each has printed where it listens.
for c in mediation routing intake court-linkage petition-linkage gateway console; do
  for _ in $(seq 1 100); do
    grep -q "listening on" "$run/$c.log" 2>/dev/null && break
    if ! kill -0 "$(cat "$run/$c.pid")" 2>/dev/null; then
      echo "$c stopped at start; its log:" >&2; tail -n 20 "$run/$c.log" >&2; exit 1
    fi
    sleep 0.1
  done
  grep "listening on" "$run/$c.log" || { echo "$c did not start within 10 s; see $run/$c.log" >&2; exit 1; }
  grep "metrics on" "$run/$c.log" || true
done
echo "logs: $run/<component>.log · stop: deploy/local/down.sh"
echo "a token for the demo police station: FENGQIAO_DATABASE__URL=$FENGQIAO_DATABASE__URL $FENGQIAO_BIN token police-620802-dongguan"
