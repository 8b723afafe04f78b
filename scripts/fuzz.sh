#!/usr/bin/env bash
# Runs every fuzz target longer than CI does: the config loader, the file parsers and
# writer, every connector's response decoding (record/replay against the platform fakes,
# with echoing error bodies), the HTTP helpers and the BigCommerce pacer.
#
#   bash scripts/fuzz.sh            # 20,000 cases per property (several minutes each)
#   bash scripts/fuzz.sh 200000     # more
#
# Cases per property come from INVSYNC_FUZZ_CASES (the first argument). The replay
# properties make HTTP calls and are slower per case; they get a tenth of the cases, the
# Shopify bulk one (which polls its operation) a hundredth. A failure shrinks to a minimal
# input, saved under proptest-regressions/ and replayed first by every later run: keep it,
# and add the input as a named regression test with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-20000}"
export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
run() { # cases package filter...
  local n=$1 package=$2
  shift 2
  echo "== $package $* ($n cases)"
  INVSYNC_FUZZ_CASES="$n" cargo test --release --locked -p "$package" "$@"
}
run "$cases" invsync-config --test fuzz
run "$cases" invsync-connectors --lib -- file::tests::props fuzz::units bigcommerce::pace
run "$((cases / 10))" invsync-connectors --lib -- fuzz::platforms --skip shopify_bulk
run "$((cases / 100 + 1))" invsync-connectors --lib -- fuzz::platforms::shopify_bulk
