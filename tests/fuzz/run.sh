#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each) from the committed seed corpus,
# with libFuzzer's memory limits, and fails on the first crash, panic, timeout or oversized
# allocation. New inputs the fuzzer finds go to a scratch corpus, not the repository; a failing
# input is left in tests/fuzz/artifacts/<target>/, to reproduce with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz <target> tests/fuzz/artifacts/<target>/<file>
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# cargo fuzz (crates.io) is installed if missing. It needs nightly compiler features (the
# address sanitizer, coverage instrumentation): RUSTC_BOOTSTRAP=1 lets the machine's stable
# toolchain provide them, so no nightly toolchain is needed.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(json_decoder protobuf_decoder snapshot_decoder config_loader)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
export RUSTC_BOOTSTRAP=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo fuzz build --fuzz-dir tests/fuzz
for target in "${targets[@]}"; do
  rm -rf "tests/fuzz/artifacts/$target"
  mkdir -p "$scratch/$target"
  echo "fuzzing $target for ${seconds}s"
  status=0
  cargo fuzz run --fuzz-dir tests/fuzz "$target" "$scratch/$target" "tests/fuzz/corpus/$target" \
    -- -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
    -print_final_stats=1 >"$scratch/$target.log" 2>&1 || status=$?
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+ +DONE" "$scratch/$target.log" || true
  if ((status != 0)); then
    tail -n 60 "$scratch/$target.log" >&2
    echo "fuzz target $target failed; its input is in tests/fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
echo "fuzzing: every target ran ${seconds}s without a failure"
