#!/usr/bin/env bash
# Start, stop and inspect the four platform services as local processes (after stack.sh up).
#
#   bash deploy/local/services.sh up [service...]      start the services not yet running, wait until each is ready
#   bash deploy/local/services.sh down [service...]    stop them
#   bash deploy/local/services.sh status [service...]  one line per service
#
# Logs: var/local/services/<service>.log (JSON lines). Configuration: the BPASS_* environment (see README).
# A service's pid file holds its pid and its start time (field 22 of /proc/<pid>/stat): a pid the kernel gave to
# another process since is not taken for the service, nor is a process that is dying (SIGKILL pending, exiting or a
# zombie: `kill -0` succeeds on those); `up` waits for such an old process to be gone, then starts the service.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VAR="${BPASS_LOCAL_VAR:-$ROOT/var/local}"
DIR="$VAR/services"
PY="${BPASS_SERVICES_PYTHON:-$ROOT/.venv/bin/python}"
ALL_SERVICES=(identity custody recovery reporting)
SERVICES=("${ALL_SERVICES[@]}")
READY_TIMEOUT="${BPASS_READY_TIMEOUT:-90}"
mkdir -p "$DIR"

declare -A PORT=(
  [identity]="${BPASS_IDENTITY_PORT:-8101}" [custody]="${BPASS_CUSTODY_PORT:-8102}"
  [recovery]="${BPASS_RECOVERY_PORT:-8103}" [reporting]="${BPASS_REPORTING_PORT:-8104}"
)
export BPASS_API_KEYS_FILE="${BPASS_API_KEYS_FILE:-$VAR/api-keys.json}"
# EPCIS webhooks may be delivered to receivers on this machine (plain http on loopback) in the local set-up.
export BPASS_EPCIS_WEBHOOK_ALLOW_LOCAL="${BPASS_EPCIS_WEBHOOK_ALLOW_LOCAL:-true}"

say() { printf '==> %s\n' "$*"; }
EXIT_WAIT="${BPASS_EXIT_WAIT:-30}"

# "<start time> <state> <flags>" of a pid (fields 22, 3 and 9 of /proc/<pid>/stat; the name, field 2, may hold
# spaces and parentheses: the fields are counted after its last ")").
proc_stat() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  # shellcheck disable=SC2086 # split on purpose
  set -- $rest
  echo "${20} $1 $7"
}

# True when a SIGKILL is pending for the pid: it is dying, though its state still reads running or sleeping.
kill_pending() {
  local mask
  for mask in $(awk '/^(SigPnd|ShdPnd):/ {print $2}' "/proc/$1/status" 2>/dev/null); do
    (( (16#$mask >> 8) & 1 )) && return 0
  done
  return 1
}

# The pid and start time a service's pid file records ("" when none).
recorded() { cat "$DIR/$1.pid" 2>/dev/null || true; }
pid_of() { local pid; read -r pid _ <<<"$(recorded "$1")"; echo "$pid"; }

# The recorded process still exists as itself (same start time), dead or alive: 0; else 1.
present() {
  local pid start now
  read -r pid start <<<"$(recorded "$1")"
  [[ -n $pid ]] || return 1
  now=$(proc_stat "$pid") || return 1
  [[ -z $start || ${now%% *} == "$start" ]]
}

# The service runs: its recorded process exists as itself and is neither exiting (PF_EXITING, 0x4, in its flags),
# a zombie or dead, nor being killed (SIGKILL pending).
running() {
  local pid now start state flags
  present "$1" || return 1
  read -r pid _ <<<"$(recorded "$1")"
  now=$(proc_stat "$pid") || return 1
  read -r start state flags <<<"$now"
  [[ $state != [ZXx] ]] && (( (flags & 4) == 0 )) && ! kill_pending "$pid"
}

# Wait until the service's recorded process is gone (a zombie counts as gone: it holds no port, no file).
wait_gone() {
  local pid t0=$SECONDS state
  read -r pid _ <<<"$(recorded "$1")"
  while present "$1"; do
    state=$(proc_stat "$pid") && state=${state#* } && [[ ${state%% *} == Z ]] && break
    if (( SECONDS - t0 > EXIT_WAIT )); then
      say "ERROR: $1: its old process $pid is still exiting after ${EXIT_WAIT}s"
      exit 1
    fi
    sleep 0.1
  done
  rm -f "$DIR/$1.pid"
}

up() {
  [[ -x $PY ]] || { say "ERROR: $PY missing: run 'make install' first"; exit 1; }
  local s started=()
  for s in "${SERVICES[@]}"; do
    if running "$s"; then
      say "$s: already running (pid $(pid_of "$s")) on 127.0.0.1:${PORT[$s]}"
      continue
    fi
    if present "$s"; then
      say "$s: waiting for its old process $(pid_of "$s") to exit"
      wait_gone "$s"
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$s]}") 2>/dev/null; then
      say "ERROR: $s: port ${PORT[$s]} is taken by another process; free it or set BPASS_${s^^}_PORT"
      exit 1
    fi
    (cd "$ROOT" && exec nohup "$PY" -m "services.$s" >>"$DIR/$s.log" 2>&1) &
    local pid=$! stat
    stat=$(proc_stat "$pid") || stat=""  # the same start time once it execs the interpreter
    echo "$pid ${stat%% *}" >"$DIR/$s.pid"
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
      sleep 0.2
    done
    say "$s: ready on 127.0.0.1:${PORT[$s]} (pid $(pid_of "$s")) in $((SECONDS - t0))s"
  done
}

down() {
  local s pid
  for s in "${SERVICES[@]}"; do
    if running "$s"; then
      pid=$(pid_of "$s")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do running "$s" || break; sleep 0.25; done
      running "$s" && kill -9 "$pid" 2>/dev/null
      wait_gone "$s"
      say "$s: stopped"
    elif present "$s"; then
      wait_gone "$s"
    fi
    rm -f "$DIR/$s.pid"
  done
}

status() {
  local s
  for s in "${SERVICES[@]}"; do
    if running "$s"; then
      printf '%-10s running  pid %-7s http://127.0.0.1:%s/%s/health/ready\n' "$s" "$(pid_of "$s")" "${PORT[$s]}" "$s"
    else
      printf '%-10s stopped\n' "$s"
    fi
  done
}

command="${1:-}"
if (($# > 1)); then
  shift
  for s in "$@"; do
    [[ " ${ALL_SERVICES[*]} " == *" $s "* ]] || { echo "unknown service: $s (one of ${ALL_SERVICES[*]})" >&2; exit 2; }
  done
  SERVICES=("$@")
fi

case "$command" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status [service...]" >&2; exit 2 ;;
esac
