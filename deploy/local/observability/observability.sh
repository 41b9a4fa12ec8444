# Sourced by deploy/local/stack.sh: the local trace backend and metrics server, without Docker.
#   Zipkin (its server's executable jar from Maven Central, ZIPKIN_VERSION in deploy/versions.env; spans in as Zipkin
#   JSON v2, kept in memory, with its web UI and query API) and Prometheus (Debian package) scraping the four
#   services' /<service>/metrics and loading the alert rules of deploy/prometheus/alerts.yml (the file compose's
#   Prometheus loads). Compose runs the OpenTelemetry Collector and Jaeger instead; the services speak OTLP there and
#   Zipkin JSON here (BPASS_OTEL_EXPORTER, exported by `stack.sh env` while Zipkin runs).
# Ports (127.0.0.1 only): BPASS_ZIPKIN_PORT (39411: UI at /zipkin/, API at /api/v2/, spans in at /api/v2/spans),
# BPASS_PROMETHEUS_PORT (39090).
# State (pid files, logs, Prometheus' data) in BPASS_OBSERVABILITY_DIR (default $VAR/observability).
# shellcheck shell=bash

ZIPKIN_PORT="${BPASS_ZIPKIN_PORT:-39411}"
PROMETHEUS_PORT="${BPASS_PROMETHEUS_PORT:-39090}"
OBS_DIR="${BPASS_OBSERVABILITY_DIR:-$VAR/observability}"
[[ $OBS_DIR == /* ]] || OBS_DIR="$PWD/$OBS_DIR"
OBS_TEMPLATES="$HERE/observability"
ALERT_RULES="$ROOT/deploy/prometheus/alerts.yml"
PROMETHEUS_CONF="$OBS_DIR/prometheus.yml"

zipkin_version() {
  local v; v=$(sed -n 's/^BPASS_ZIPKIN_VERSION=//p' "$ROOT/deploy/versions.env")
  [[ -n $v ]] || die "deploy/versions.env names no BPASS_ZIPKIN_VERSION"
  printf '%s' "$v"
}
zipkin_jar() { printf '%s' "$VAR/zipkin/zipkin-server-$(zipkin_version)-exec.jar"; }
# Fetched once per version from Maven Central (io.zipkin:zipkin-server, classifier exec: ~130 MB), under a lock.
install_zipkin() {
  local jar; jar=$(zipkin_jar)
  [[ -s $jar ]] && return 0
  have java || die "zipkin: Java not found (the stack installs it with Kafka: run 'make stack' first)"
  have mvn || die "zipkin: mvn not found (the stack installs it with Kafka: run 'make stack' first)"
  mkdir -p "$VAR/zipkin" "$LOG_DIR"
  exec 8>"$VAR/zipkin/.fetch.lock"
  flock 8
  if [[ ! -s $jar ]]; then
    local log="$LOG_DIR/zipkin-fetch.log" t0 version; t0=$(now_us); version=$(zipkin_version)
    say "zipkin: fetching io.zipkin:zipkin-server:$version (exec jar) from Maven Central (once; log $(rel "$log"))"
    mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact="io.zipkin:zipkin-server:$version:jar:exec" -DoutputDirectory="$VAR/zipkin/tmp" </dev/null >"$log" 2>&1 \
      || die_log "zipkin: mvn could not fetch io.zipkin:zipkin-server:$version:jar:exec" "$log"
    mv "$VAR/zipkin/tmp/zipkin-server-$version-exec.jar" "$jar"
    rmdir "$VAR/zipkin/tmp" 2>/dev/null || true
    say "zipkin: $(rel "$jar") in $(since "$t0")"
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
zipkin_pid() { obs_pid zipkin "zipkin-server-"; }
prometheus_pid() { obs_pid prometheus "$PROMETHEUS_CONF"; }
obs_render() { # obs_render TEMPLATE OUT
  sed -e "s|\${HOST}|$HOST|g" \
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
start_zipkin() {
  local t0 pid; t0=$(now_us)
  install_zipkin
  mkdir -p "$OBS_DIR"
  pid=$(zipkin_pid)
  if [[ -n $pid ]] && port_open "$ZIPKIN_PORT"; then say "zipkin: already running on $HOST:$ZIPKIN_PORT (pid $pid)"; return; fi
  [[ -z $pid ]] || die "zipkin: running (pid $pid) but not listening on $HOST:$ZIPKIN_PORT; run 'stack.sh observability down' then up again"
  check_port_free zipkin "$ZIPKIN_PORT" BPASS_ZIPKIN_PORT
  # In-memory storage (a local stack's traces; MEM_MAX_SPANS bounds it), bound to $HOST only, a small JVM.
  STORAGE_TYPE=mem MEM_MAX_SPANS=200000 QUERY_PORT="$ZIPKIN_PORT" \
    obs_launch zipkin java -Xms64m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -jar "$(zipkin_jar)" \
    --armeria.ports[0].ip="$HOST" --armeria.ports[0].port="$ZIPKIN_PORT" --armeria.ports[0].protocols=http \
    --logging.pattern.console='%d{yyyy-MM-dd HH:mm:ss.SSS} %-5level [%thread] %logger{36} - %msg%n' --spring.main.banner-mode=off
  obs_wait zipkin zipkin_pid "$ZIPKIN_PORT"
  # Listening is not ready: spans sent before its storage is up would be refused.
  local n=300
  until [[ $(curl -fsS -m 2 "http://$HOST:$ZIPKIN_PORT/health" 2>/dev/null) == *'"UP"'* ]]; do
    ((n-- > 0)) || die_log "zipkin: /health not UP after 30 s" "$OBS_DIR/zipkin.log"
    sleep 0.1
  done
  say "zipkin: started on $HOST:$ZIPKIN_PORT (pid $(zipkin_pid)) in $(since "$t0")"
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
observability_up() { start_prometheus; start_zipkin; }
observability_down() {
  [[ -d $OBS_DIR ]] || return 0
  stop_obs zipkin zipkin_pid
  stop_obs prometheus prometheus_pid
}
observability_status() {
  local pid
  pid=$(zipkin_pid)
  status_line zipkin "$([[ -n $pid ]] && echo running || echo stopped)" "$pid" "$HOST:$ZIPKIN_PORT" \
    "$(rel "$OBS_DIR") ($([[ -s $(zipkin_jar) ]] && echo "$(rel "$(zipkin_jar)")" || echo "not fetched yet"))"
  pid=$(prometheus_pid)
  status_line prometheus "$([[ -n $pid ]] && echo running || echo stopped)" "$pid" "$HOST:$PROMETHEUS_PORT" \
    "$(rel "$OBS_DIR/prometheus") (rules $(rel "$ALERT_RULES"))"
}
# The services export spans only to a backend that runs (else every batch of spans would fail to send).
observability_env() {
  [[ -n $(zipkin_pid) ]] || return 0
  printf 'export BPASS_OTEL_ENDPOINT=http://%s:%s\n' "$HOST" "$ZIPKIN_PORT"
  printf 'export BPASS_OTEL_EXPORTER=zipkin\n'
}
observability_urls() {
  say "traces:  http://$HOST:$ZIPKIN_PORT/zipkin/ (Zipkin: 'Run query', or a trace id from any JSON log line at /zipkin/traces/<trace_id>)"
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
