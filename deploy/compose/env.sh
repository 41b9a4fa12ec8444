#!/usr/bin/env bash
# Writes .env (repository root; git-ignored, mode 0600) for docker compose: the versions of deploy/versions.env,
# rewritten on every run, and the Grafana admin password compose requires (there is no default), generated once
# and then kept. Other lines (BPASS_BIND_ADDRESS, KAFKA_*_PASSWORD) are kept. Idempotent: `make compose-env`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ENV_FILE="${1:-$ROOT/.env}"
VERSIONS="$ROOT/deploy/versions.env"

secret() { head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c 32; }
# The value of KEY in the current .env, if any.
current() { [[ -f $ENV_FILE ]] && sed -n "s/^$1=//p" "$ENV_FILE" | tail -n1 || true; }

umask 077
tmp="$(mktemp "$ENV_FILE.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
{
  echo "# Written by deploy/compose/env.sh (make compose-env). Versions come from deploy/versions.env and are"
  echo "# rewritten on every run; the password is generated once and kept. Keep this file private."
  grep -E '^[A-Z0-9_]+=' "$VERSIONS"
  value="$(current GRAFANA_ADMIN_PASSWORD)"
  echo "GRAFANA_ADMIN_PASSWORD=${value:-$(secret)}"
  # Anything else set by hand (BPASS_BIND_ADDRESS, KAFKA_*_PASSWORD, ...) is kept as it was.
  if [[ -f $ENV_FILE ]]; then
    grep -E '^[A-Z0-9_]+=' "$ENV_FILE" | grep -v -E '^GRAFANA_ADMIN_PASSWORD=' \
      | grep -v -F -f <(grep -E '^[A-Z0-9_]+=' "$VERSIONS" | cut -d= -f1 | sed 's/$/=/') || true
  fi
} >"$tmp"
mv "$tmp" "$ENV_FILE"
trap - EXIT
echo "==> $(basename "$ENV_FILE"): versions from deploy/versions.env; Grafana admin password: grep GRAFANA_ADMIN_PASSWORD $ENV_FILE"
