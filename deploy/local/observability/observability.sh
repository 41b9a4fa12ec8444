# Sourced by deploy/local/stack.sh: the local trace backend and metrics server, without Docker.
#   Jaeger v2 (JAEGER_VERSION, built once from its Go module into $VAR/bin; OTLP/HTTP in, in-memory storage, query
#   API and UI) and Prometheus (Debian package) scraping the four services' /<service>/metrics and loading the
#   alert rules of deploy/prometheus/alerts.yml (the file compose's Prometheus loads).
# Ports (127.0.0.1 only): BPASS_JAEGER_UI_PORT (36686, UI and /api/ query API), BPASS_JAEGER_GRPC_PORT (36685, query
# gRPC), BPASS_OTLP_HTTP_PORT (34318, where the services send spans), BPASS_PROMETHEUS_PORT (39090).
# State (pid files, logs, Prometheus' data) in BPASS_OBSERVABILITY_DIR (default $VAR/observability).
# shellcheck shell=bash

JAEGER_VERSION=v1.75.0  # the Go module's tag; its cmd/jaeger is Jaeger v2
JAEGER_MODULE=github.com/jaegertracing/jaeger
JAEGER_UI_PORT="${BPASS_JAEGER_UI_PORT:-36686}"
JAEGER_GRPC_PORT="${BPASS_JAEGER_GRPC_PORT:-36685}"
OTLP_HTTP_PORT="${BPASS_OTLP_HTTP_PORT:-34318}"
PROMETHEUS_PORT="${BPASS_PROMETHEUS_PORT:-39090}"
OBS_DIR="${BPASS_OBSERVABILITY_DIR:-$VAR/observability}"
[[ $OBS_DIR == /* ]] || OBS_DIR="$PWD/$OBS_DIR"
OBS_TEMPLATES="$HERE/observability"
ALERT_RULES="$ROOT/deploy/prometheus/alerts.yml"
JAEGER_BIN="$VAR/bin/jaeger-$JAEGER_VERSION"
JAEGER_CONF="$OBS_DIR/jaeger.yaml"
PROMETHEUS_CONF="$OBS_DIR/prometheus.yml"

go_cmd() {
  if have go; then command -v go; elif [[ -x /usr/local/go/bin/go ]]; then printf '%s' /usr/local/go/bin/go; fi
}
# Built once per version (a few minutes on two cores), under a lock: two callers at once build it once.
install_jaeger() {
  [[ -x $JAEGER_BIN ]] && return 0
  local go; go=$(go_cmd)
  [[ -n $go ]] || die "jaeger: Go not found (Go 1.24+ builds Jaeger $JAEGER_VERSION from its module): install Go or put it on PATH"
  mkdir -p "$VAR/bin" "$LOG_DIR"
  exec 8>"$VAR/bin/.jaeger.lock"
  flock 8
  if [[ ! -x $JAEGER_BIN ]]; then
    local log="$LOG_DIR/jaeger-build.log" t0 dir; t0=$(now_us)
    say "jaeger: building $JAEGER_MODULE/cmd/jaeger@$JAEGER_VERSION from the Go module proxy (once; log $(rel "$log"))"
    # `go install pkg@version` refuses a module whose go.mod has replace directives: build inside the module
    # instead, with its own go.mod and go.sum (-mod=readonly: exactly the versions the release pins).
    dir=$("$go" mod download -json "$JAEGER_MODULE@$JAEGER_VERSION" 2>>"$log" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -n $dir && -d $dir ]] || die_log "jaeger: go mod download $JAEGER_MODULE@$JAEGER_VERSION failed" "$log"
    (cd "$dir" && GOFLAGS="-trimpath -mod=readonly" GOTOOLCHAIN=local CGO_ENABLED=0 \
      "$go" build -o "$JAEGER_BIN.tmp" ./cmd/jaeger) >>"$log" 2>&1 </dev/null \
      || die_log "jaeger: go build failed: see $(rel "$log")" "$log"
    mv "$JAEGER_BIN.tmp" "$JAEGER_BIN"
    say "jaeger: built $(rel "$JAEGER_BIN") in $(since "$t0")"
  fi
  exec 8>&-
}
install_prometheus() {
  have prometheus && return 0
  apt_install prometheus
  stop_package_service prometheus  # the package's own server on :9090; the stack runs its own
  have prometheus || die "prometheus not found after installing prometheus"
}

obs_pid() { local p; p=$(read_pid "$OBS_DIR/$1.pid"); pid_is "$p" "$2" && printf '%s' "$p" || true; }
jaeger_pid() { obs_pid jaeger "$JAEGER_CONF"; }
prometheus_pid() { obs_pid prometheus "$PROMETHEUS_CONF"; }
obs_render() { # obs_render TEMPLATE OUT
  sed -e "s|\${HOST}|$HOST|g" \
      -e "s|\${BPASS_JAEGER_UI_PORT}|$JAEGER_UI_PORT|g" \
      -e "s|\${BPASS_JAEGER_GRPC_PORT}|$JAEGER_GRPC_PORT|g" \
      -e "s|\${BPASS_OTLP_HTTP_PORT}|$OTLP_HTTP_PORT|g" \
      -e "s|\${BPASS_PROMETHEUS_PORT}|$PROMETHEUS_PORT|g" \
      -e "s|\${BPASS_IDENTITY_PORT}|$IDENTITY_PORT|g" \
      -e "s|\${BPASS_CUSTODY_PORT}|$CUSTODY_PORT|g" \
      -e "s|\${BPASS_RECOVERY_PORT}|$RECOVERY_PORT|g" \
      -e "s|\${BPASS_REPORTING_PORT}|$REPORTING_PORT|g" \
      -e "s|\${ALERT_RULES}|$ALERT_RULES|g" \
      "$OBS_TEMPLATES/$1" >"$2.tmp"
  if grep -q '\${[A-Z_]*}' "$2.tmp"; then
    die "observability: unfilled placeholder in $(rel "$OBS_TEMPLATES/$1"): $(grep -o '\${[A-Z_]*}' "$2.tmp" | head -n1)"
  fi
  mv "$2.tmp" "$2"
}
# obs_launch NAME PIDFILE-PATTERN COMMAND...: in its own session (Ctrl-C in the terminal leaves it running)
obs_launch() {
  local name=$1; shift
  printf '\n==== %s stack.sh: starting %s\n' "$(date -u +%FT%TZ)" "$name" >>"$OBS_DIR/$name.log"
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$OBS_DIR/$name.pid" "$@" </dev/null >>"$OBS_DIR/$name.log" 2>&1 &
}
obs_wait() { # obs_wait NAME PID-FUNCTION PORT...
  local name=$1 pidf=$2 n=300 port; shift 2
  for port in "$@"; do
    until port_open "$port"; do
      [[ -n $($pidf) ]] || { sleep 0.3; [[ -n $($pidf) ]] || die_log "$name: exited during startup" "$OBS_DIR/$name.log"; }
      ((n-- > 0)) || die_log "$name: not listening on $HOST:$port after 30 s" "$OBS_DIR/$name.log"
      sleep 0.1
    done
  done
}
start_jaeger() {
  local t0 pid; t0=$(now_us)
  install_jaeger
  mkdir -p "$OBS_DIR"
  obs_render jaeger.yaml "$JAEGER_CONF"
  pid=$(jaeger_pid)
  if [[ -n $pid ]] && port_open "$JAEGER_UI_PORT"; then say "jaeger: already running on $HOST:$JAEGER_UI_PORT (pid $pid)"; return; fi
  [[ -z $pid ]] || die "jaeger: running (pid $pid) but not listening on $HOST:$JAEGER_UI_PORT; run 'stack.sh observability down' then up again"
  check_port_free jaeger "$JAEGER_UI_PORT" BPASS_JAEGER_UI_PORT
  check_port_free "jaeger (gRPC)" "$JAEGER_GRPC_PORT" BPASS_JAEGER_GRPC_PORT
  check_port_free "jaeger (OTLP)" "$OTLP_HTTP_PORT" BPASS_OTLP_HTTP_PORT
  obs_launch jaeger "$JAEGER_BIN" --config "file:$JAEGER_CONF"
  obs_wait jaeger jaeger_pid "$OTLP_HTTP_PORT" "$JAEGER_UI_PORT"
  say "jaeger: started on $HOST:$JAEGER_UI_PORT, OTLP/HTTP on $HOST:$OTLP_HTTP_PORT (pid $(jaeger_pid)) in $(since "$t0")"
}
start_prometheus() {
  local t0 pid; t0=$(now_us)
  install_prometheus
  mkdir -p "$OBS_DIR/prometheus"
  [[ -f $ALERT_RULES ]] || die "prometheus: the alert rules $(rel "$ALERT_RULES") are missing"
  obs_render prometheus.yml "$PROMETHEUS_CONF"
  promtool check config "$PROMETHEUS_CONF" >"$OBS_DIR/promtool.log" 2>&1 \
    || die_log "prometheus: promtool check config failed (rules $(rel "$ALERT_RULES"))" "$OBS_DIR/promtool.log"
  pid=$(prometheus_pid)
  if [[ -n $pid ]] && port_open "$PROMETHEUS_PORT"; then
    kill -HUP "$pid" 2>/dev/null || true  # configuration and rules read again
    say "prometheus: already running on $HOST:$PROMETHEUS_PORT (pid $pid), configuration reloaded"
    return
  fi
  [[ -z $pid ]] || die "prometheus: running (pid $pid) but not listening on $HOST:$PROMETHEUS_PORT; run 'stack.sh observability down' then up again"
  check_port_free prometheus "$PROMETHEUS_PORT" BPASS_PROMETHEUS_PORT
  obs_launch prometheus prometheus --config.file="$PROMETHEUS_CONF" --storage.tsdb.path="$OBS_DIR/prometheus" \
    --storage.tsdb.retention.time=2d --web.listen-address="$HOST:$PROMETHEUS_PORT"
  obs_wait prometheus prometheus_pid "$PROMETHEUS_PORT"
  say "prometheus: started on $HOST:$PROMETHEUS_PORT (pid $(prometheus_pid)) in $(since "$t0")"
}
stop_obs() { # stop_obs NAME PID-FUNCTION
  local pid; pid=$($2)
  if [[ -z $pid ]]; then say "$1: not running"; return; fi
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" 20 || { kill -KILL "$pid" 2>/dev/null || true; say "$1: killed (pid $pid did not stop in 20 s)"; return; }
  say "$1: stopped (was pid $pid)"
}
observability_up() { start_prometheus; start_jaeger; }
observability_down() {
  [[ -d $OBS_DIR ]] || return 0
  stop_obs jaeger jaeger_pid
  stop_obs prometheus prometheus_pid
}
observability_status() {
  local pid
  pid=$(jaeger_pid)
  status_line jaeger "$([[ -n $pid ]] && echo running || echo stopped)" "$pid" "$HOST:$JAEGER_UI_PORT" \
    "$(rel "$OBS_DIR") (OTLP/HTTP :$OTLP_HTTP_PORT; $([[ -x $JAEGER_BIN ]] && echo "$(rel "$JAEGER_BIN")" || echo "not built yet"))"
  pid=$(prometheus_pid)
  status_line prometheus "$([[ -n $pid ]] && echo running || echo stopped)" "$pid" "$HOST:$PROMETHEUS_PORT" \
    "$(rel "$OBS_DIR/prometheus") (rules $(rel "$ALERT_RULES"))"
}
# The services export spans only to a backend that runs (else every batch of spans would fail to send).
observability_env() {
  [[ -z $(jaeger_pid) ]] || printf 'export BPASS_OTEL_ENDPOINT=http://%s:%s\n' "$HOST" "$OTLP_HTTP_PORT"
}
observability_urls() {
  say "traces:  http://$HOST:$JAEGER_UI_PORT/search (Jaeger; query API http://$HOST:$JAEGER_UI_PORT/api/traces?service=bpass-identity)"
  # Debian's Prometheus ships the classic web UI only (/classic/...), not the React one
  say "metrics: http://$HOST:$PROMETHEUS_PORT/classic/targets, alerts http://$HOST:$PROMETHEUS_PORT/classic/alerts (Prometheus)"
}
observability_main() {
  case ${1:-up} in
    up) observability_up; observability_urls ;;
    down) observability_down ;;
    status) observability_status ;;
    urls) observability_urls ;;
    *) usage >&2; exit 2 ;;
  esac
}
