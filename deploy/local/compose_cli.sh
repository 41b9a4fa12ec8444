#!/usr/bin/env bash
# Docker Compose's command line (the `docker compose` plugin), built once from its Go module into
# var/local/bin/docker-compose, for tests/unit/test_compose.py to run `docker compose config` on docker-compose.yml
# on a machine without Docker (`config` needs no Docker engine). Idempotent, under a lock.
# Usage: bash deploy/local/compose_cli.sh [--print-path]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VAR="$ROOT/var/local"
COMPOSE_MODULE=github.com/docker/compose/v5
COMPOSE_VERSION=v5.6.0
OUT="$VAR/bin/docker-compose"
# shellcheck source=deploy/local/go_program.sh
source "$ROOT/deploy/local/go_program.sh"

mkdir -p "$VAR/bin"
exec 9>"$VAR/bin/.docker-compose.lock"
flock 9
go_program "$COMPOSE_MODULE" "$COMPOSE_VERSION" ./cmd "$OUT" "$VAR/logs/docker-compose-build.log"
exec 9>&-
[[ ${1:-} != --print-path ]] || printf '%s\n' "$OUT"
