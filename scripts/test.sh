#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (unit and property tests,
# store tests on real Postgres and SQLite, connector tests, end-to-end tests of the built
# binary). Starts the local Postgres first (idempotent); tests that need Postgres fail —
# never skip — when it is not reachable.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/start-postgres.sh
# `systemd-analyze security` rates the unit in deploy/ (tests/e2e/deploy.rs).
if ! command -v systemd-analyze >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi
# The qbXML tests validate every request against the real XSDs with xmllint.
if ! command -v xmllint >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libxml2-utils >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libxml2-utils >/dev/null; }
fi
# The web page's browser tests (tests/e2e/web.rs) drive headless Chromium through its
# WebDriver.
if [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
