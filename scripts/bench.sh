#!/usr/bin/env bash
# The benchmark (issue #12): `fengqiao bench` against a fengqiao started here,
# with the machine's ceilings measured in the same run. Results (JSON and SVG
# chart) go to bench-results/.
#   scripts/bench.sh                    # distributed (one process per component on the
#                                       # PostgreSQL and NATS of this machine), release build,
#                                       # 60 s open loop at 1000/s
#   scripts/bench.sh --standalone       # the same against standalone mode (SQLite, in-process bus)
#   scripts/bench.sh --one-process      # every component in one process (`fengqiao standalone`)
#                                       # on the PostgreSQL and NATS of this machine: distributed
#                                       # mode's storage and bus without the hops between processes
#   scripts/bench.sh --smoke            # CI: standalone, debug build, 10 s at 50/s; fails unless
#                                       # every submission was answered OK and reached an inbox
#   scripts/bench.sh --seed 1000000     # distributed, after adding that many historical cases
#                                       # (`fengqiao seed`): latency as the tables grow
#   scripts/bench.sh -- --rate 500      # anything after -- goes to `fengqiao bench`
#   FENGQIAO_BIN=/tmp/fengqiao-before scripts/bench.sh   # the same with another build
#   FENGQIAO_BENCH_MODE=one-process scripts/bench.sh     # the mode by name (distributed, standalone,
#                                       # one-process), e.g. for a side of scripts/bench-compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
mode="${FENGQIAO_BENCH_MODE:-distributed}" profile=release smoke=0 seed=0
bench_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --standalone) mode=standalone ;;
    --one-process) mode=one-process ;;
    --distributed) mode=distributed ;;
    --seed) seed="$2"; shift ;;
    --smoke) mode=standalone profile=debug smoke=1
             bench_args+=(--rate 50 --duration 10 --ceiling-secs 1 --agencies 2 --settle 30) ;;
    --) shift; bench_args+=("$@"); break ;;
    *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
  shift
done
case "$mode" in
  distributed|standalone|one-process) ;;
  *) echo "FENGQIAO_BENCH_MODE=$mode: use distributed, standalone or one-process" >&2; exit 2 ;;
esac
export FENGQIAO_BENCH_MODE="$mode"  # named in the report
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "--seed takes a number of cases, not '$seed'" >&2; exit 2; }
if [ "$mode" = distributed ] && [ -n "${FENGQIAO_BUS__NATS_URL+set}" ] && [ -z "$FENGQIAO_BUS__NATS_URL" ]; then
  # Empty means the in-process bus, which only one process can share: distributed needs NATS.
  echo "FENGQIAO_BUS__NATS_URL is empty: distributed mode needs NATS (unset it for nats://127.0.0.1:4222," \
       "or use --one-process for the in-process bus)" >&2; exit 2
fi
if [ "$seed" -gt 0 ] && [ "$mode" = standalone ]; then
  echo "--seed needs PostgreSQL: drop --standalone/--smoke" >&2; exit 2
fi
# FENGQIAO_BIN: a fengqiao binary built elsewhere (an earlier commit, for a before/after comparison).
if [ -n "${FENGQIAO_BIN:-}" ]; then
  BIN="$FENGQIAO_BIN"
else
  if [ "$profile" = release ]; then cargo build -q --release -p fengqiao; else cargo build -q -p fengqiao; fi
  BIN="$root/target/$profile/fengqiao"
fi
out="$root/bench-results"
mkdir -p "$out"
work="$(mktemp -d)"
stamp="$(date +%s)"
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  if [ "$mode" = distributed ]; then
    FENGQIAO_RUN_DIR="$work/run" deploy/local/down.sh >/dev/null 2>&1 || true
  fi
  if [ "$mode" != standalone ]; then
    psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "DROP DATABASE IF EXISTS bench_$stamp" >/dev/null 2>&1 || true
    # The run's stream too: left behind, each run's events stay on the machine's NATS for good.
    scripts/nats-delete-stream.py "${FENGQIAO_BUS__NATS_URL:-nats://127.0.0.1:4222}" "BENCH_$stamp" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$mode" != standalone ]; then
  # A fresh database and stream, so the run starts from the same empty state each time.
  export FENGQIAO_DATABASE__URL="postgres://postgres@127.0.0.1:5432/bench_$stamp"
  # Set but empty with --one-process: the in-process bus on PostgreSQL (how much NATS costs).
  export FENGQIAO_BUS__NATS_URL="${FENGQIAO_BUS__NATS_URL-nats://127.0.0.1:4222}"
  export FENGQIAO_BUS__STREAM="BENCH_$stamp" FENGQIAO_BUS__SUBJECT_PREFIX="bench$stamp"
fi
if [ "$mode" = distributed ]; then
  FENGQIAO_RUN_DIR="$work/run" FENGQIAO_BIN="$BIN" deploy/local/up.sh
  if [ "$seed" -gt 0 ]; then (cd "$work" && "$BIN" seed --cases "$seed"); fi
  # Where the gateway serves its metrics: the report then shows its time by stage.
  metrics="$(awk '/ gateway metrics on / {print $NF}' "$work/run/gateway.log")"
  (cd "$work" && "$BIN" bench --out "$out" ${metrics:+--gateway-metrics "$metrics"} "${bench_args[@]}")
else
  command=()
  if [ "$mode" = one-process ]; then
    psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "CREATE DATABASE bench_$stamp" >/dev/null
    for k in KEY HASH_KEY; do export "FENGQIAO_PERSONAL_DATA__$k=$(head -c 32 /dev/urandom | base64 | tr -d '\n')"; done
    command=(standalone)
  fi
  (cd "$work" && exec "$BIN" "${command[@]}" > fengqiao.log 2>&1) &
  PID=$!
  for _ in $(seq 1 150); do
    [ -n "$(awk '$1 == "gateway" {print $2}' "$work/fengqiao.log" 2>/dev/null)" ] && break
    kill -0 "$PID" 2>/dev/null || { cat "$work/fengqiao.log" >&2; echo "fengqiao stopped at start" >&2; exit 1; }
    sleep 0.2
  done
  # Seeding drives a case through the running system first, so it comes after the start.
  if [ "$seed" -gt 0 ]; then (cd "$work" && "$BIN" seed --cases "$seed"); fi
  metrics="$(awk '$1 == "metrics" {print $2}' "$work/fengqiao.log")"
  (cd "$work" && "$BIN" bench --out "$out" ${metrics:+--gateway-metrics "$metrics"} "${bench_args[@]}")
fi
latest="$(ls -t "$out"/bench-*.json | head -1)"
if [ "$smoke" = 1 ]; then
  python3 - "$latest" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
bad = {k: v for k, v in r["outcomes"].items() if k != "OK"}
assert r["outcomes"].get("OK", 0) > 0, "no submission was answered OK"
assert not bad, f"submissions failed: {bad}"
assert r["not_arrived"] == 0, f"{r['not_arrived']} referrals did not reach an inbox"
cpu = r["cpu"]
groups = dict(cpu["by_group"])
assert cpu["ms_per_referral"] > 0 and groups.get("fengqiao (standalone)", 0) > 0, f"no CPU counted for fengqiao: {cpu}"
stages = {s["stage"]: s for s in r["gateway_stages"] or []}
# A new case's owner row is written in the audit commit: no ownership stage for the bench's new cases.
missing = {"authorize", "claim", "work", "hand_over", "audit"} - set(stages)
assert not missing, f"the gateway's stages lack {missing}: {r['gateway_stages']}"
assert stages["work"]["calls"] == r["outcomes"]["OK"], f"every submission passed the work stage: {stages['work']}"
print(f"smoke: {r['outcomes']['OK']} submitted, all in an inbox; p99 submit {r['submit_latency']['p99']:.1f} ms, "
      f"{cpu['ms_per_referral']:.1f} ms CPU per referral (debug build)")
PY
fi
