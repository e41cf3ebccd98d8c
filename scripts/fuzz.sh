#!/usr/bin/env bash
# Fuzzes every parser of outside input with cargo-fuzz (libFuzzer, AddressSanitizer):
#   scripts/fuzz.sh            30 s per target
#   scripts/fuzz.sh 600        the long run (10 min per target)
#   scripts/fuzz.sh 30 json_body   one target
# Seeds are in fuzz/seeds/<target>; what the fuzzer learns goes to
# fuzz/corpus/<target> (not committed); a crash is written to
# fuzz/artifacts/<target>/ and the script fails, printing how to replay it.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-30}"
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo-fuzz passes -Z flags (sanitizer, coverage) to rustc; this machine has
# only the stable toolchain, which accepts them when told it may.
export RUSTC_BOOTSTRAP=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
echo "building ${#targets[@]} fuzz targets (release, AddressSanitizer; the first build takes minutes)"
cargo fuzz build
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  echo "=== $target: ${seconds} s"
  if ! cargo fuzz run "$target" "corpus/$target" "${seeds[@]}" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>"corpus/$target.log"; then
    tail -n 40 "corpus/$target.log"
    echo "fuzz target $target failed; replay with: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target artifacts/$target/<file>)" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|new_units_added)' "corpus/$target.log" | tr '\n' ' '
  echo
done
