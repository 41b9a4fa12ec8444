#!/usr/bin/env bash
# Headless Chromium and its driver from Debian packages, for the dashboard's browser tests (idempotent).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
echo "==> installing chromium and chromium-driver (Debian packages, for the browser tests)"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
log="$(mktemp)"
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver; } >"$log" 2>&1; then
  echo "==> ERROR: could not install chromium / chromium-driver with apt-get; last lines:" >&2
  tail -n 20 "$log" | sed 's/^/    | /' >&2
  exit 1
fi
echo "==> chromium: $(chromium --version 2>/dev/null | head -1)"
