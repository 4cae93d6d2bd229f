#!/usr/bin/env bash
# Install Debian's chromium for the browser tests when it is missing (they skip with a message otherwise).
set -uo pipefail
if [ -x /usr/bin/chromium ]; then echo "chromium: $(/usr/bin/chromium --version 2>/dev/null)" >&2; exit 0; fi
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1
fi
[ -x /usr/bin/chromium ] && echo "chromium installed" >&2 || echo "chromium: not available, browser tests will skip" >&2
exit 0
