#!/usr/bin/env bash
# Compares two builds or settings with scripts/bench.sh, in pairs whose order turns (A B, B A,
# A B …) so a slow spell of the machine falls on both and a machine drifting faster or slower
# through the comparison favours neither side; prints each run, each side's median and in how many
# pairs B was ahead: on two shared cores one run against one run differs by up to a fifth, which
# hides most changes.
#   scripts/bench-compare.sh [--runs N] [--standalone | --seed CASES] A B [-- bench options]
# (--seed: each run on a database holding that many historical cases first, as scripts/bench.sh --seed)
# A and B: a fengqiao binary, optionally with settings for its run after a colon, e.g.
#   scripts/bench-compare.sh /tmp/fq-before /tmp/fq-after -- --concurrency 32 --duration 30
#   scripts/bench-compare.sh target/release/fengqiao target/release/fengqiao:FENGQIAO_BUS__CONSUMER_LANES=2
#   scripts/bench-compare.sh target/release/fengqiao target/release/fengqiao:FENGQIAO_BENCH_MODE=one-process
# Defaults: 3 runs a side, closed loop 32 for 30 s (2 s ceilings, 10 s to settle).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3 mode=()
sides=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift ;;
    --standalone) mode+=(--standalone) ;;
    --seed) mode+=(--seed "$2"); shift ;;
    --) shift; break ;;
    -*) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
    *) sides+=("$1") ;;
  esac
  shift
done
if [ "${#sides[@]}" -ne 2 ]; then
  echo "give two sides to compare, A and B (see the top of $0)" >&2; exit 2
fi
bench_args=("$@")
[ "${#bench_args[@]}" -gt 0 ] || bench_args=(--concurrency 32 --duration 30 --ceiling-secs 2 --settle 10)
for side in "${sides[@]}"; do
  bin="${side%%:*}"
  [ -x "$bin" ] || { echo "$bin is not an executable fengqiao (build it first: cargo build --release)" >&2; exit 2; }
done

reports=()
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for run in $(seq 1 "$runs"); do
  # A first in odd pairs, B first in even ones: with A B A B, B always ran later than its A.
  order="0 1"; [ $((run % 2)) -eq 0 ] && order="1 0"
  for i in $order; do
    side="${sides[$i]}" label="AB"
    bin="${side%%:*}" settings=()
    [ "$side" != "$bin" ] && IFS=',' read -r -a settings <<< "${side#*:}"
    # The last run's processes must be gone, or they take the first seconds of this one.
    while pgrep -f "fengqiao.* serve" >/dev/null; do sleep 1; done
    echo "run $run of $runs, side ${label:$i:1}: $side" >&2
    env "${settings[@]}" FENGQIAO_BIN="$bin" scripts/bench.sh "${mode[@]}" -- "${bench_args[@]}" > "$log" 2>&1 \
      || { cat "$log" >&2; echo "the run failed (its output is above)" >&2; exit 1; }
    report="$(sed -n 's/^report: //p' "$log")"
    [ -n "$report" ] || { cat "$log" >&2; echo "the run wrote no report" >&2; exit 1; }
    reports+=("${label:$i:1}=$report")
  done
done

python3 - "${sides[@]}" "${reports[@]}" <<'PY'
import json, statistics, sys
a, b, *runs = sys.argv[1:]
rows = {"A": [], "B": []}
full = 0  # open-loop runs on a full machine (the report's cpu.full; FULL in crates/bench/src/cpu.rs)
for item in runs:
    side, path = item.split("=", 1)
    r = json.load(open(path))
    # Reports from before the flag: the same threshold. The closed loop is always full, and
    # compares builds by its throughput already.
    full += "open" in r["shape"] and r["cpu"].get("full", r["cpu"]["busy_cores"] >= 0.95 * r["machine"]["cpus"])
    rows[side].append({
        "inbox/s": r["inbox_throughput"],
        "submit p50 ms": r["submit_latency"]["p50"],
        "submit p99 ms": r["submit_latency"]["p99"],
        "inbox p50 ms": r["inbox_latency"]["p50"],
        "CPU ms/ref": r["cpu"]["ms_per_referral"],
        "steal CPUs": r["cpu"].get("steal_cores", 0.0),
        "WAL KiB/ref": (r.get("database") or {}).get("wal_bytes_per_referral", 0.0) / 1024,
        "commits/ref": (r.get("database") or {}).get("commits_per_referral", 0.0),
        "checkpoints": (r.get("database") or {}).get("checkpoints", 0),
        "not OK": sum(v for k, v in r["outcomes"].items() if k != "OK") + r["not_arrived"],
        # Delivered only after the load (not in inbox/s); reports from before the field: 0.
        "late": (r.get("late_arrivals") or {}).get("count", 0),
    })
print(f"A: {a}\nB: {b}")
figures = list(rows["A"][0])
digits = {"steal CPUs": 2, "checkpoints": 0, "not OK": 0, "late": 0}
print(f"{'':18}" + "".join(f"{f:>16}" for f in figures))
for side in "AB":
    for i, row in enumerate(rows[side], 1):
        print(f"{side} run {i:<12}" + "".join(f"{row[f]:>16.{digits.get(f, 1)}f}" for f in figures))
medians = {s: {f: statistics.median(r[f] for r in rows[s]) for f in figures} for s in "AB"}
for side in "AB":
    print(f"{side} median{'':11}" + "".join(f"{medians[side][f]:>16.{digits.get(f, 1)}f}" for f in figures))
print(f"{'B / A (medians)':18}" + "".join(
    f"{medians['B'][f] / medians['A'][f]:>16.3f}" if medians["A"][f] else f"{'—':>16}" for f in figures))
pairs = list(zip(rows["A"], rows["B"]))
ahead = sum(b["inbox/s"] > a["inbox/s"] for a, b in pairs)
print(f"B ahead of A in inbox/s in {ahead} of {len(pairs)} pairs (each pair run back to back)")
if full:
    print(f"the machine was full in {full} of {len(runs)} runs: there CPU ms/ref is only the busy CPUs over the rate "
          "and cannot tell A from B; compare inbox/s in the closed loop (--concurrency)")
PY
