#!/usr/bin/env bash
# Node.js and the pinned npm packages of package-lock.json in ./node_modules (idempotent): the official AsyncAPI
# parser that validates docs/asyncapi/ in the tests, and the AsyncAPI React component's standalone bundle that
# renders /docs/events.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "==> installing nodejs and npm (Debian packages, for the AsyncAPI parser and event docs)"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  log="$(mktemp)"
  if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends nodejs npm; } >"$log" 2>&1; then
    echo "==> ERROR: could not install nodejs / npm with apt-get; last lines:" >&2
    tail -n 20 "$log" | sed 's/^/    | /' >&2
    exit 1
  fi
fi
stamp=node_modules/.installed
if [[ -f $stamp && $stamp -nt package-lock.json && $stamp -nt package.json ]]; then
  exit 0
fi
echo "==> npm packages: npm ci (locked, no install scripts)"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
touch "$stamp"
