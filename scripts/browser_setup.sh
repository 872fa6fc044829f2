#!/usr/bin/env bash
# Make sure Debian's chromium is on PATH for the browser test (Playwright drives it; nothing
# downloads a browser). Installs it with apt when running as root or with password-less sudo.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "chromium is missing: install it with 'sudo apt-get install -y chromium' and run the tests again" >&2
  exit 1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
chromium --version
