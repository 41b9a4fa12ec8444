#!/usr/bin/env bash
# promtool (and prometheus) from Debian's `prometheus` package, for the alert-rule tests (tests/unit/test_alerts.py)
# and a local Prometheus (idempotent; run by `make install`). The package's own service is not left running.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
echo "==> installing prometheus (Debian package: promtool for the alert-rule tests)"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
log="$(mktemp)"
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends prometheus; } >"$log" 2>&1; then
  echo "==> ERROR: could not install prometheus with apt-get; last lines:" >&2
  tail -n 20 "$log" | sed 's/^/    | /' >&2
  exit 1
fi
# Where an init system started the packaged Prometheus (port 9090, the package's config), stop it: the platform
# runs its own with deploy/prometheus/alerts.yml.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
echo "==> promtool: $(promtool --version 2>&1 | head -1)"
