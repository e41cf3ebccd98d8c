#!/usr/bin/env bash
# The console in a real browser: Debian's Chromium driven by playwright-core
# (tests/browser). Installs Chromium (apt) and playwright-core (npm) if
# missing, builds fengqiao, and runs tests/browser/console.test.mjs against a
# standalone fengqiao in a temporary directory.
#   scripts/browser-tests.sh                 run
#   SCREENSHOTS=docs/console scripts/browser-tests.sh   also refresh the screenshots in docs/console.md
set -euo pipefail
cd "$(dirname "$0")/.."
# Chromium, and a CJK font so the pages' Chinese renders in screenshots.
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk"; then
  echo "installing Debian's chromium and fonts-wqy-microhei (apt)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei > /dev/null
fi
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
cargo build -q -p fengqiao
if [ -n "${SCREENSHOTS:-}" ]; then SCREENSHOTS="$(realpath -m "$SCREENSHOTS")"; export SCREENSHOTS; fi
cd tests/browser
node --test --test-reporter=spec console.test.mjs
