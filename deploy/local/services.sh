#!/usr/bin/env bash
# Start, stop and inspect the four platform services as local processes (after stack.sh up).
#
#   bash deploy/local/services.sh up       start the services not yet running, wait until each is ready
#   bash deploy/local/services.sh down     stop them
#   bash deploy/local/services.sh status   one line per service
#
# Logs: var/local/services/<service>.log (JSON lines). Configuration: the BPASS_* environment (see README).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VAR="${BPASS_LOCAL_VAR:-$ROOT/var/local}"
DIR="$VAR/services"
PY="$ROOT/.venv/bin/python"
SERVICES=(identity custody recovery reporting)
READY_TIMEOUT="${BPASS_READY_TIMEOUT:-90}"
mkdir -p "$DIR"

declare -A PORT=(
  [identity]="${BPASS_IDENTITY_PORT:-8101}" [custody]="${BPASS_CUSTODY_PORT:-8102}"
  [recovery]="${BPASS_RECOVERY_PORT:-8103}" [reporting]="${BPASS_REPORTING_PORT:-8104}"
)
export BPASS_API_KEYS_FILE="${BPASS_API_KEYS_FILE:-$VAR/api-keys.json}"

say() { printf '==> %s\n' "$*"; }
running() { local pid; pid=$(cat "$DIR/$1.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; }

up() {
  [[ -x $PY ]] || { say "ERROR: $PY missing: run 'make install' first"; exit 1; }
  local s started=()
  for s in "${SERVICES[@]}"; do
    if running "$s"; then
      say "$s: already running (pid $(cat "$DIR/$s.pid")) on 127.0.0.1:${PORT[$s]}"
      continue
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$s]}") 2>/dev/null; then
      say "ERROR: $s: port ${PORT[$s]} is taken by another process; free it or set BPASS_${s^^}_PORT"
      exit 1
    fi
    (cd "$ROOT" && exec nohup "$PY" -m "services.$s" >>"$DIR/$s.log" 2>&1) &
    echo $! >"$DIR/$s.pid"
    started+=("$s")
  done
  for s in "${started[@]}"; do
    local t0=$SECONDS
    until curl -fsS "http://127.0.0.1:${PORT[$s]}/$s/health/ready" >/dev/null 2>&1; do
      if ! running "$s"; then
        say "ERROR: $s exited during start-up; last lines of $DIR/$s.log:"
        tail -n 30 "$DIR/$s.log" | sed 's/^/    | /'
        exit 1
      fi
      if (( SECONDS - t0 > READY_TIMEOUT )); then
        say "ERROR: $s not ready after ${READY_TIMEOUT}s; readiness says:"
        curl -sS "http://127.0.0.1:${PORT[$s]}/$s/health/ready" | sed 's/^/    | /' || true
        tail -n 20 "$DIR/$s.log" | sed 's/^/    | /'
        exit 1
      fi
      sleep 0.5
    done
    say "$s: ready on 127.0.0.1:${PORT[$s]} (pid $(cat "$DIR/$s.pid")) in $((SECONDS - t0))s"
  done
}

down() {
  local s pid
  for s in "${SERVICES[@]}"; do
    if running "$s"; then
      pid=$(cat "$DIR/$s.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
      say "$s: stopped"
    fi
    rm -f "$DIR/$s.pid"
  done
}

status() {
  local s
  for s in "${SERVICES[@]}"; do
    if running "$s"; then
      printf '%-10s running  pid %-7s http://127.0.0.1:%s/%s/health/ready\n' "$s" "$(cat "$DIR/$s.pid")" "${PORT[$s]}" "$s"
    else
      printf '%-10s stopped\n' "$s"
    fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
