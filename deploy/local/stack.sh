#!/usr/bin/env bash
# Local, Docker-free infrastructure for the battery-passport platform:
#   PostgreSQL (Debian package binaries), Redis (Debian package), Apache Kafka 4.x in KRaft mode (jars from
#   Maven Central, or a distribution in $KAFKA_HOME) and an nginx gateway in front of the four services.
#
#   bash deploy/local/stack.sh install        install what is missing (apt packages, Kafka jars)
#   bash deploy/local/stack.sh up             install, then start everything not yet running (idempotent)
#   bash deploy/local/stack.sh down [--wipe]  stop what this script started; --wipe also deletes the data
#   bash deploy/local/stack.sh wipe           same as down --wipe
#   bash deploy/local/stack.sh status         one line per component
#   bash deploy/local/stack.sh observability [up|down|status|urls]
#                                             Zipkin (traces)  and Prometheus (metrics, alert rules), also started by
#                                             `up` when BPASS_LOCAL_OBSERVABILITY=1 (deploy/local/observability/)
#   bash deploy/local/stack.sh env            export lines for the services: eval "$(bash deploy/local/stack.sh env)"
#                                             (Kafka's SASL user, database and Redis URLs, with their generated passwords)
#
# All state (data, logs, pid files, generated passwords in secrets/) lives under $BPASS_LOCAL_VAR (default
# <repo>/var/local). Everything binds to 127.0.0.1; Kafka authenticates clients (SASL/SCRAM), Redis and PostgreSQL
# require passwords (docs/security/kafka.md). Ports: BPASS_KAFKA_PORT (39092), BPASS_KAFKA_CONTROLLER_PORT (39093), BPASS_PG_PORT (35432),
# BPASS_REDIS_PORT (36379), BPASS_HTTP_PORT (8080); upstreams BPASS_IDENTITY_PORT (8101), BPASS_CUSTODY_PORT (8102),
# BPASS_RECOVERY_PORT (8103), BPASS_REPORTING_PORT (8104). BPASS_LOCAL_NGINX=0 leaves nginx out.
# BPASS_KAFKA_BROKERS=3 runs a three-node KRaft cluster instead of one broker (node i on BPASS_KAFKA_PORT + 10*(i-1)
# and BPASS_KAFKA_CONTROLLER_PORT + 10*(i-1)); topics get three replicas, min.insync.replicas=2 (see the kafka part).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VAR="${BPASS_LOCAL_VAR:-$ROOT/var/local}"
[[ $VAR == /* ]] || VAR="$PWD/$VAR"
VAR="${VAR%/}"

HOST=127.0.0.1
KAFKA_PORT="${BPASS_KAFKA_PORT:-39092}"
KAFKA_CONTROLLER_PORT="${BPASS_KAFKA_CONTROLLER_PORT:-39093}"
PG_PORT="${BPASS_PG_PORT:-35432}"
REDIS_PORT="${BPASS_REDIS_PORT:-36379}"
HTTP_PORT="${BPASS_HTTP_PORT:-8080}"
IDENTITY_PORT="${BPASS_IDENTITY_PORT:-8101}"
CUSTODY_PORT="${BPASS_CUSTODY_PORT:-8102}"
RECOVERY_PORT="${BPASS_RECOVERY_PORT:-8103}"
REPORTING_PORT="${BPASS_REPORTING_PORT:-8104}"
WITH_NGINX="${BPASS_LOCAL_NGINX:-1}"
KAFKA_TIMEOUT="${BPASS_KAFKA_TIMEOUT:-90}"
KAFKA_HEAP_OPTS="${BPASS_KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"

PG_DB=bpass PG_ROLE=bpass
KAFKA_ADMIN_USER=bpass-platform  # the platform's own Kafka user (the services, the CLI, the tests): a super user

KAFKA_DIR="$VAR/kafka"
REDIS_DIR="$VAR/redis"
NGINX_DIR="$VAR/nginx"
LOG_DIR="$VAR/logs"          # install logs (apt, mvn)
SECRETS_DIR="$VAR/secrets"   # generated passwords, one file each, 0600 (directory 0700)

# ---------------------------------------------------------------------------------------------------- helpers
say()  { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die()  { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }
# die_log MESSAGE LOGFILE: the message, then the last lines of the log.
die_log() {
  printf '==> ERROR: %s\n' "$1" >&2
  if [[ -s ${2:-} ]]; then
    printf '    --- last lines of %s ---\n' "$(rel "$2")" >&2
    tail -n "${3:-25}" "$2" | sed 's/^/    | /' >&2
  fi
  exit 1
}
rel() { local p=$1; [[ $p == "$ROOT"/* ]] && p=${p#"$ROOT"/}; printf '%s' "$p"; }
now_us() { local t=${EPOCHREALTIME/[.,]/}; printf '%s' "$t"; }
since() { local d=$(( $(now_us) - $1 )); printf '%d.%ds' $((d / 1000000)) $(((d % 1000000) / 100000)); }
is_root() { [[ $EUID -eq 0 ]]; }
have() { command -v "$1" >/dev/null 2>&1; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
# Who listens on a port: "pid 123 (redis-server 127.0.0.1:6379)" or "an unknown process".
port_owner() {
  local line pid=""
  if have ss; then
    line=$(ss -Hltnp "sport = :$1" 2>/dev/null | head -n1 || true)
    [[ $line =~ pid=([0-9]+) ]] && pid=${BASH_REMATCH[1]}
  fi
  if [[ -z $pid ]] && have fuser; then
    pid=$(fuser -n tcp "$1" 2>/dev/null | awk '{print $1}' || true)
  fi
  if [[ -n $pid ]]; then
    local c; c=$(cmdline "$pid")
    if [[ $c == java\ * || $c == */java\ * ]]; then  # java: the main class and its arguments say more than the options
      c="java ... $(awk '{for (i = 1; i < NF; i++) if ($i !~ /^-/ && $(i-1) !~ /^-(cp|classpath)$/ && i > 1) {s = $i; for (j = i + 1; j <= NF; j++) s = s " " $j; print s; exit}}' <<<"$c")"
    fi
    printf 'pid %s (%s)' "$pid" "$(cut -c1-160 <<<"$c")"
  else
    printf 'an unknown process (try: ss -ltnp "sport = :%s")' "$1"
  fi
}
cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }
read_pid() { [[ -f $1 ]] && head -n1 "$1" | tr -dc '0-9' || true; }
# pid_is PID PATTERN: the process is alive and its command line contains PATTERN.
pid_is() {
  [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null || return 1
  local c; c=$(cmdline "$1")
  [[ $c == *"$2"* ]]
}
# wait_gone PID SECONDS
wait_gone() {
  local pid=$1 n=$(($2 * 10))
  while kill -0 "$pid" 2>/dev/null && ((n-- > 0)); do sleep 0.1; done
  ! kill -0 "$pid" 2>/dev/null
}
check_port_free() { # check_port_free COMPONENT PORT ENV-VAR
  if port_open "$2"; then
    die "$1: port $HOST:$2 is already in use by $(port_owner "$2"). Stop that process or choose another port ($3=...)."
  fi
}

# ---------------------------------------------------------------------------------------------------- secrets
# Every password of the local stack is generated once, on this machine, and kept in $SECRETS_DIR (0700, files
# 0600): PostgreSQL's three roles, Redis, the platform's Kafka user. Nothing here is a default anyone could guess.
secret() { # secret NAME: prints the password NAME, generating it on first use
  local f="$SECRETS_DIR/$1"
  if [[ ! -s $f ]]; then
    (umask 077; mkdir -p "$SECRETS_DIR"; chmod 0700 "$SECRETS_DIR"
     head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 >"$f.tmp" && mv "$f.tmp" "$f")
  fi
  chmod 0600 "$f"
  cat "$f"
}
# applied COMPONENT: its server now requires the generated password. `env` exports a component's generated
# credentials only then: until the next `up` migrates a stack an earlier version of this script started (PLAINTEXT
# Kafka, PostgreSQL roles with their names as passwords, Redis without one), `env` still describes that stack.
applied() { mkdir -p "$SECRETS_DIR"; : >"$SECRETS_DIR/.applied-$1"; }
is_applied() { [[ -f $SECRETS_DIR/.applied-$1 ]]; }
ensure_secrets() {
  local name
  for name in postgres-bpass postgres-bpass_app postgres-bpass_platform redis "kafka-$KAFKA_ADMIN_USER"; do
    secret "$name" >/dev/null
  done
  # Files an earlier version of this script (or the CLI) left readable by others.
  local f
  for f in "$VAR/demo-keys.json" "$VAR/api-keys.json"; do [[ ! -f $f ]] || chmod 0600 "$f"; done
}

# ---------------------------------------------------------------------------------------------------- install
APT_UPDATED=0
apt_install() { # apt_install PACKAGE...
  if ! is_root; then
    die "missing: $*. Install with: sudo apt-get install -y $* (or run this script as root)"
  fi
  mkdir -p "$LOG_DIR"
  local log="$LOG_DIR/apt.log" t0; t0=$(now_us)
  export DEBIAN_FRONTEND=noninteractive
  if [[ $APT_UPDATED == 0 ]]; then
    apt-get update >>"$log" 2>&1 || die_log "apt-get update failed: see $(rel "$log")" "$log"
    APT_UPDATED=1
  fi
  apt-get install -y --no-install-recommends "$@" </dev/null >>"$log" 2>&1 \
    || die_log "apt-get install $* failed: see $(rel "$log")" "$log"
  say "apt: installed $* in $(since "$t0")"
}
# A Debian package's postinst may start its own service (redis on 6379, nginx on 80): stop and disable it, the
# stack runs its own instances.
stop_package_service() {
  local svc=$1
  if have systemctl && [[ -d /run/systemd/system ]]; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  else
    service "$svc" stop >/dev/null 2>&1 || true
    have update-rc.d && { update-rc.d "$svc" disable >/dev/null 2>&1 || true; }
  fi
  # No init system at all: the package's daemon may still be running from its own pid file.
  local pidf
  for pidf in "/run/$svc/$svc.pid" "/run/${svc%-server}/$svc.pid" "/run/$svc.pid" "/var/run/$svc/$svc.pid" "/var/run/$svc.pid"; do
    local pid; pid=$(read_pid "$pidf")
    if pid_is "$pid" "$svc"; then kill "$pid" 2>/dev/null || true; fi
  done
}

pg_bindir() {
  local d
  if [[ -n ${BPASS_PG_BIN:-} ]]; then printf '%s' "$BPASS_PG_BIN"; return; fi
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  if [[ -n $d && -x $d/initdb ]]; then printf '%s' "$d"; return; fi
  if have initdb; then dirname "$(command -v initdb)"; fi
}

java_major() { # prints the major version of `java`, or nothing
  have java || return 0
  java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}' \
    | sed 's/^1\.//; s/\..*//'
}
need_java() {
  local v; v=$(java_major)
  if [[ -z $v ]] && is_root; then apt_install default-jre-headless; v=$(java_major); fi
  [[ -n $v ]] || die "Java 17+ not found: install openjdk-17-jre-headless (apt-get install -y openjdk-17-jre-headless)"
  ((v >= 17)) || die "Java 17+ not found (java on PATH is version $v): install openjdk-17-jre-headless"
}

install_packages() {
  local missing=()
  have redis-server && have redis-cli || missing+=(redis-server)
  [[ $WITH_NGINX == 1 ]] && ! have nginx && missing+=(nginx)
  [[ -n $(pg_bindir) ]] || missing+=(postgresql)
  if ((${#missing[@]})); then
    apt_install "${missing[@]}"
    local p
    for p in "${missing[@]}"; do
      case $p in
        redis-server) stop_package_service redis-server ;;
        nginx) stop_package_service nginx ;;
        postgresql) stop_package_service postgresql ;;
      esac
    done
  fi
  have redis-server || die "redis-server not found after installing redis-server"
  [[ $WITH_NGINX != 1 ]] || have nginx || die "nginx not found after installing nginx"
  [[ -n $(pg_bindir) ]] || die "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin): apt-get install postgresql"
}

# The Kafka version of deploy/versions.env, the one place it is pinned (docker-compose.yml's image tag reads it too).
kafka_pinned_version() {
  local v; v=$(sed -n 's/^BPASS_KAFKA_VERSION=//p' "$ROOT/deploy/versions.env")
  [[ -n $v ]] || die "deploy/versions.env names no BPASS_KAFKA_VERSION"
  printf '%s' "$v"
}
kafka_libs() { if [[ -n ${KAFKA_HOME:-} ]]; then printf '%s' "$KAFKA_HOME/libs"; else printf '%s' "$KAFKA_DIR/libs"; fi; }
kafka_version() {
  local j; j=$(ls "$(kafka_libs)"/kafka_2.13-*.jar 2>/dev/null | grep -v -e '-test' -e '-sources' | head -n1 || true)
  j=${j##*/kafka_2.13-}; printf '%s' "${j%.jar}"
}
install_kafka() {
  need_java
  if [[ -n ${KAFKA_HOME:-} ]]; then
    compgen -G "$KAFKA_HOME/libs/kafka_2.13-*.jar" >/dev/null \
      || die "KAFKA_HOME=$KAFKA_HOME has no libs/kafka_2.13-*.jar: point it at an unpacked Kafka 4.x distribution or unset it"
    return
  fi
  local libs="$KAFKA_DIR/libs" pom="$HERE/kafka/pom.xml" stamp want version
  version=$(kafka_pinned_version)
  want=$({ sha256sum "$pom" | cut -d' ' -f1; printf '%s\n' "$version"; } | sha256sum | cut -d' ' -f1)
  stamp="$libs/.pom.sha256"
  if [[ -f $stamp && $(<"$stamp") == "$want" ]] && compgen -G "$libs/kafka_2.13-*.jar" >/dev/null; then
    return
  fi
  have mvn || apt_install maven
  mkdir -p "$LOG_DIR" "$KAFKA_DIR"
  local log="$LOG_DIR/mvn.log" tmp="$libs.tmp" t0; t0=$(now_us)
  rm -rf "$tmp"
  say "kafka: fetching the Kafka $version broker jars from Maven Central ($(rel "$pom"), deploy/versions.env)"
  mvn -B -q -f "$pom" -Dkafka.version="$version" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" </dev/null >"$log" 2>&1 \
    || die_log "mvn dependency:copy-dependencies failed: see $(rel "$log")" "$log"
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die_log "mvn ran but no kafka_2.13 jar was copied: see $(rel "$log")" "$log"
  rm -rf "$libs"; mv "$tmp" "$libs"; printf '%s\n' "$want" >"$stamp"
  say "kafka: $(ls "$libs"/*.jar | wc -l) jars (Kafka $(kafka_version)) in $(rel "$libs") in $(since "$t0")"
}

ensure_gitignore() {
  # State lives in <repo>/var/: keep it out of git.
  [[ $VAR == "$ROOT"/var/* && -d $ROOT/.git ]] || return 0
  local gi="$ROOT/.gitignore"
  if ! grep -qxE '/?var/?(\*)?' "$gi" 2>/dev/null; then
    { [[ -s $gi && -n $(tail -c1 "$gi") ]] && echo; echo 'var/'; } >>"$gi"
  fi
}

do_install() {
  mkdir -p "$VAR"
  ensure_gitignore
  install_packages
  install_kafka
}

# ---------------------------------------------------------------------------------------------------- postgres
# PostgreSQL refuses to run as root: as root it runs as the `postgres` system user (created if missing, normally by
# the Debian package), which then owns var/local/postgres. That user must be able to traverse every parent directory
# of var/local; if it cannot (e.g. a repo under a 0700 home directory), the cluster goes to
# /var/tmp/bpass-postgres-<hash of var dir> instead, and `status` shows where.
PG_OS_USER=""
PG_DIR=""
PGBIN=""
pg_setup() {
  PGBIN=$(pg_bindir)
  [[ -n $PGBIN ]] || die "postgres: server binaries not found: run 'bash deploy/local/stack.sh install'"
  if is_root; then
    PG_OS_USER=postgres
    if ! id -u postgres >/dev/null 2>&1; then
      useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres \
        || die "postgres: could not create the 'postgres' system user (PostgreSQL refuses to run as root)"
    fi
  else
    PG_OS_USER=$(id -un)
  fi
  PG_DIR="${BPASS_PG_DIR:-$VAR/postgres}"
  local alt; alt="/var/tmp/bpass-postgres-$(printf '%s' "$VAR" | sha256sum | cut -c1-12)"
  if is_root && [[ -z ${BPASS_PG_DIR:-} ]]; then
    if [[ -d $alt && ! -d $PG_DIR ]]; then
      PG_DIR=$alt                                  # chosen by an earlier 'up'
    elif [[ ${1:-} == create ]]; then
      mkdir -p "$PG_DIR"
      if ! runuser -u postgres -- test -x "$PG_DIR" 2>/dev/null; then
        rmdir "$PG_DIR" 2>/dev/null || true
        PG_DIR=$alt
        info "postgres: user postgres cannot reach $(rel "$VAR"); using $PG_DIR instead"
      fi
    fi
  fi
}
as_pg() {
  if is_root; then (cd / && runuser -u "$PG_OS_USER" -- "$@"); else (cd / && "$@"); fi
}
pg_data() { printf '%s' "$PG_DIR/data"; }
pg_sockdir() { printf '%s' "$PG_DIR/run"; }
pg_pid() { local p; p=$(read_pid "$(pg_data)/postmaster.pid"); pid_is "$p" postgres && printf '%s' "$p" || true; }
psql_admin() {
  as_pg "$PGBIN/psql" -h "$(pg_sockdir)" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAtX "$@"
}
pg_write_conf() {
  cat >"$(pg_data)/bpass-local.conf" <<EOF
# Written by deploy/local/stack.sh on every 'up' (edit the script, not this file).
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$(pg_sockdir)'
max_connections = 200
shared_buffers = 256MB
fsync = on
# A bulk mint or a replay writes hundreds of MB at once: room for that WAL between checkpoints. Durability is
# unchanged (fsync and synchronous commit stay on). WAL compression is left off: on two cores its CPU cost (about
# 1 s of a 100,000-passport mint) outweighed the I/O it saved. Reloaded on every 'up'.
max_wal_size = 4GB
checkpoint_timeout = 15min
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
timezone = 'UTC'
EOF
  if is_root; then chown "$PG_OS_USER": "$(pg_data)/bpass-local.conf"; fi
}
start_postgres() {
  local t0; t0=$(now_us)
  pg_setup create
  local data; data=$(pg_data)
  local log="$PG_DIR/postgres.log" pid
  mkdir -p "$PG_DIR" "$(pg_sockdir)"
  is_root && chown "$PG_OS_USER": "$PG_DIR" "$(pg_sockdir)"
  chmod 0700 "$(pg_sockdir)" 2>/dev/null || true
  (( ${#PG_DIR} < 90 )) || die "postgres: $PG_DIR is too long for a unix socket path; set BPASS_PG_DIR to a shorter directory"

  pid=$(pg_pid)
  if [[ -n $pid ]] && port_open "$PG_PORT"; then
    pg_ensure_db
    pg_write_conf  # settings a reload takes (WAL, checkpoints) apply to a running server too
    psql_admin -c "SELECT pg_reload_conf()" >/dev/null || info "postgres: could not reload its configuration"
    say "postgres: already running on $HOST:$PG_PORT (pid $pid)"
    return
  fi
  if [[ -n $pid ]]; then
    die "postgres: running (pid $pid, data $(rel "$data")) but not listening on $HOST:$PG_PORT; run 'stack.sh down' then 'up' again"
  fi
  check_port_free postgres "$PG_PORT" BPASS_PG_PORT

  if [[ ! -f $data/PG_VERSION ]]; then
    local tmp="$PG_DIR/data.tmp" locale_opt=(--no-locale)
    locale -a 2>/dev/null | grep -qix 'c.utf-\?8' && locale_opt=(--locale=C.UTF-8)
    rm -rf "$tmp"
    as_pg "$PGBIN/initdb" -D "$tmp" -U postgres -E UTF8 "${locale_opt[@]}" \
      --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 \
      || die_log "postgres: initdb failed (as user $PG_OS_USER): see $(rel "$PG_DIR/initdb.log")" "$PG_DIR/initdb.log"
    printf "\n# Local stack settings (port, sockets, tuning)\ninclude_if_exists = 'bpass-local.conf'\n" >>"$tmp/postgresql.conf"
    rm -rf "$data"; mv "$tmp" "$data"
    info "postgres: initialised $(rel "$data") (superuser postgres via unix socket; over TCP the roles log in with the passwords of $(rel "$SECRETS_DIR"))"
  fi
  pg_write_conf
  if ! as_pg "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null 2>&1; then
    die_log "postgres: failed to start on $HOST:$PG_PORT" "$log"
  fi
  pg_ensure_db
  say "postgres: started on $HOST:$PG_PORT (pid $(pg_pid)) in $(since "$t0")"
}
# The owner of the tables (migrations only; BYPASSRLS so that data migrations see every tenant) and the
# services' two roles, bpass_app (row-level security) and bpass_platform: see deploy/postgres/roles.sql.
pg_ensure_db() {
  psql_admin -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
        CREATE ROLE $PG_ROLE LOGIN CREATEDB;
      END IF;
      ALTER ROLE $PG_ROLE NOSUPERUSER BYPASSRLS;
      END \$\$;" >/dev/null \
    || die "postgres: could not create role $PG_ROLE"
  psql_admin -f - <"$ROOT/deploy/postgres/roles.sql" >/dev/null \
    || die "postgres: could not create the roles of deploy/postgres/roles.sql"
  # Each role's generated password, set on every 'up' (an earlier stack's roles had their names as passwords).
  # Given on standard input, never on a command line another user could read.
  psql_admin -f - >/dev/null <<EOF || die "postgres: could not set the roles' passwords"
ALTER ROLE $PG_ROLE PASSWORD '$(secret postgres-bpass)';
ALTER ROLE bpass_app PASSWORD '$(secret postgres-bpass_app)';
ALTER ROLE bpass_platform PASSWORD '$(secret postgres-bpass_platform)';
EOF
  applied postgres
  if [[ $(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") != 1 ]]; then
    psql_admin -c "CREATE DATABASE $PG_DB OWNER $PG_ROLE" >/dev/null || die "postgres: could not create database $PG_DB"
  fi
}
stop_postgres() {
  pg_setup
  local pid; pid=$(pg_pid)
  if [[ -z $pid ]]; then say "postgres: not running"; return; fi
  as_pg "$PGBIN/pg_ctl" -D "$(pg_data)" -m fast -w -t 60 stop >/dev/null 2>&1 \
    || die_log "postgres: pg_ctl stop failed" "$PG_DIR/postgres.log"
  say "postgres: stopped (was pid $pid)"
}

# ---------------------------------------------------------------------------------------------------- redis
redis_pid() { local p; p=$(read_pid "$REDIS_DIR/redis.pid"); pid_is "$p" redis-server && printf '%s' "$p" || true; }
# The password travels in REDISCLI_AUTH (the environment), never on redis-cli's command line.
redis_cli() { REDISCLI_AUTH=$(secret redis) redis-cli --no-auth-warning -h "$HOST" -p "$REDIS_PORT" "$@"; }
redis_ping() { [[ $(redis_cli ping 2>/dev/null) == PONG ]]; }
# A Redis started by an earlier version of this script has no password: give it one, live (its configuration file is
# written again, with requirepass, on its next start).
redis_require_password() {
  [[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] || return 0
  printf '%s' "$(secret redis)" | redis-cli -h "$HOST" -p "$REDIS_PORT" -x CONFIG SET requirepass >/dev/null \
    || die "redis: could not set its password"
  applied redis
  info "redis: password required from now on (it had none)"
}
start_redis() {
  local t0 pid; t0=$(now_us)
  mkdir -p "$REDIS_DIR"
  pid=$(redis_pid)
  [[ -z $pid ]] || redis_require_password
  if [[ -n $pid ]] && redis_ping; then applied redis; say "redis: already running on $HOST:$REDIS_PORT (pid $pid)"; return; fi
  [[ -z $pid ]] || die "redis: running (pid $pid) but not answering on $HOST:$REDIS_PORT; run 'stack.sh down' then 'up' again"
  check_port_free redis "$REDIS_PORT" BPASS_REDIS_PORT
  (umask 077; : >"$REDIS_DIR/redis.conf")
  cat >"$REDIS_DIR/redis.conf" <<EOF
# Written by deploy/local/stack.sh on every 'up' (edit the script, not this file).
bind $HOST
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile "$REDIS_DIR/redis.pid"
logfile "$REDIS_DIR/redis.log"
dir "$REDIS_DIR"
appendonly yes
appendfsync everysec
save 3600 1 300 100 60 10000
requirepass $(secret redis)
EOF
  chmod 0600 "$REDIS_DIR/redis.conf"
  redis-server "$REDIS_DIR/redis.conf" >>"$REDIS_DIR/redis.log" 2>&1 || die_log "redis: redis-server failed to start" "$REDIS_DIR/redis.log"
  local n=150
  until redis_ping; do
    ((n-- > 0)) || die_log "redis: not answering PING on $HOST:$REDIS_PORT after 15 s" "$REDIS_DIR/redis.log"
    sleep 0.1
  done
  applied redis
  say "redis: started on $HOST:$REDIS_PORT (pid $(redis_pid)) in $(since "$t0")"
}
stop_redis() {
  local pid; pid=$(redis_pid)
  if [[ -z $pid ]]; then say "redis: not running"; return; fi
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" 30 || { kill -KILL "$pid" 2>/dev/null || true; say "redis: killed (pid $pid did not stop in 30 s)"; return; }
  say "redis: stopped (was pid $pid)"
}

# ---------------------------------------------------------------------------------------------------- kafka
# BPASS_KAFKA_BROKERS=1 (the default): one KRaft node, broker and controller in one JVM, its files straight under
# var/local/kafka (data, logs, server.properties, kafka.pid), as always. BPASS_KAFKA_BROKERS=N (2..9): N such
# combined nodes from the same jars, one directory each (var/local/kafka/broker-<i>), one cluster id, a static
# N-voter controller quorum. Node i listens on BPASS_KAFKA_PORT + 10*(i-1) (clients) and
# BPASS_KAFKA_CONTROLLER_PORT + 10*(i-1) (controller). Combined nodes rather than a separate controller quorum:
# three JVMs instead of six on a two-core machine, and a killed node takes a broker and a voter with it, so the
# failure tests exercise a controller failover as well as a partition leader's (2 of 3 voters keep a quorum).
# The count is recorded (kafka/brokers) the first time a var dir's cluster is formatted; a var dir holds one
# cluster shape ('down --wipe' to change it).
KAFKA_BROKERS_STAMP="$KAFKA_DIR/brokers"
kafka_brokers_wanted() {
  local recorded=""; [[ -f $KAFKA_BROKERS_STAMP ]] && recorded=$(tr -dc '0-9' <"$KAFKA_BROKERS_STAMP")
  local n=${BPASS_KAFKA_BROKERS:-${recorded:-1}}
  [[ $n =~ ^[1-9]$ ]] || die "BPASS_KAFKA_BROKERS=$n: give a number of brokers from 1 to 9"
  printf '%s' "$n"
}
KAFKA_BROKERS=$(kafka_brokers_wanted)
# Replication of the cluster's own topics (consumer offsets, transactions) and of topics created on first use; the
# platform's topics get theirs from services/common/messaging.py (topic_replication), by the same rule: three
# copies of everything once there are three brokers, two of which must have a write (min.insync.replicas=2), so
# that one broker may fail with no acknowledged write lost and no partition refusing writes.
KAFKA_RF=$(( KAFKA_BROKERS < 3 ? KAFKA_BROKERS : 3 ))
KAFKA_MIN_ISR=$(( KAFKA_RF >= 3 ? 2 : 1 ))
if [[ -z ${BPASS_KAFKA_HEAP_OPTS:-} ]] && ((KAFKA_BROKERS > 1)); then KAFKA_HEAP_OPTS="-Xms128m -Xmx512m"; fi

# kafka_node I: the paths and ports of node I (1-based) in NODE_* variables.
NODE="" NODE_DIR="" NODE_PORT="" NODE_CPORT="" KAFKA_PROPS="" KAFKA_AUTH_STAMP=""
kafka_node() {
  NODE=$1
  if ((KAFKA_BROKERS == 1)); then NODE_DIR=$KAFKA_DIR; else NODE_DIR="$KAFKA_DIR/broker-$1"; fi
  NODE_PORT=$(( KAFKA_PORT + 10 * ($1 - 1) ))
  NODE_CPORT=$(( KAFKA_CONTROLLER_PORT + 10 * ($1 - 1) ))
  KAFKA_PROPS="$NODE_DIR/server.properties"
  # The data directory was formatted for SASL with the platform user's current password (a stamp written after the
  # format holds a digest of it). A directory of an earlier PLAINTEXT stack, or one whose password was lost, is not.
  KAFKA_AUTH_STAMP="$NODE_DIR/data/bpass-sasl-scram.sha256"
}
kafka_node 1
kafka_nodes() { seq 1 "$KAFKA_BROKERS"; }
kafka_label() { if ((KAFKA_BROKERS == 1)); then printf 'kafka'; else printf 'kafka-%s' "$NODE"; fi; }
kafka_bootstrap() { # every node's client address, comma separated
  local i out=()
  for i in $(kafka_nodes); do out+=("$HOST:$(( KAFKA_PORT + 10 * (i - 1) ))"); done
  local IFS=,; printf '%s' "${out[*]}"
}
kafka_voters() {
  local i out=()
  for i in $(kafka_nodes); do out+=("$i@$HOST:$(( KAFKA_CONTROLLER_PORT + 10 * (i - 1) ))"); done
  local IFS=,; printf '%s' "${out[*]}"
}
kafka_pid() { local p; p=$(read_pid "$NODE_DIR/kafka.pid"); pid_is "$p" "$KAFKA_PROPS" && printf '%s' "$p" || true; }
kafka_jvm_args() { # the java command line before the main class, one word per line
  local a
  for a in $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
           -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true; do printf '%s\n' "$a"; done
  printf '%s\n' "-Dkafka.logs.dir=$NODE_DIR/logs" "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.yaml" \
    -cp "$(kafka_libs)/*"
}
kafka_render_props() {
  local data="$NODE_DIR/data"
  sed -e "s|^node\.id=.*|node.id=$NODE|" \
      -e "s|^controller\.quorum\.voters=.*|controller.quorum.voters=$(kafka_voters)|" \
      -e "s|^listeners=.*|listeners=SASL_PLAINTEXT://$HOST:$NODE_PORT,CONTROLLER://$HOST:$NODE_CPORT|" \
      -e "s|^advertised\.listeners=.*|advertised.listeners=SASL_PLAINTEXT://$HOST:$NODE_PORT|" \
      -e "s|^super\.users=.*|super.users=User:$KAFKA_ADMIN_USER|" \
      -e "s|^log\.dirs=.*|log.dirs=$data|" \
      -e "s|^\(offsets\.topic\.replication\.factor\)=.*|\1=$KAFKA_RF|" \
      -e "s|^\(transaction\.state\.log\.replication\.factor\)=.*|\1=$KAFKA_RF|" \
      -e "s|^\(share\.coordinator\.state\.topic\.replication\.factor\)=.*|\1=$KAFKA_RF|" \
      -e "s|^\(transaction\.state\.log\.min\.isr\)=.*|\1=$KAFKA_MIN_ISR|" \
      -e "s|^\(share\.coordinator\.state\.topic\.min\.isr\)=.*|\1=$KAFKA_MIN_ISR|" \
      -e "s|^\(default\.replication\.factor\)=.*|\1=$KAFKA_RF|" \
      -e "s|^\(min\.insync\.replicas\)=.*|\1=$KAFKA_MIN_ISR|" \
      "$HERE/kafka/server.properties" >"$KAFKA_PROPS.tmp"
  local password; password=$(secret "kafka-$KAFKA_ADMIN_USER")
  chmod 0600 "$KAFKA_PROPS.tmp"
  cat >>"$KAFKA_PROPS.tmp" <<PROPS

# [written by stack.sh] the platform user's credentials: as the broker's own client (inter-broker, controller), and
# the controller's one PLAIN user.
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$KAFKA_ADMIN_USER" password="$password";
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$KAFKA_ADMIN_USER" password="$password" user_$KAFKA_ADMIN_USER="$password";
PROPS
  mv "$KAFKA_PROPS.tmp" "$KAFKA_PROPS"
}
kafka_auth_digest() { printf 'SCRAM-SHA-512 %s %s' "$KAFKA_ADMIN_USER" "$(secret "kafka-$KAFKA_ADMIN_USER")" | sha256sum | cut -d' ' -f1; }
kafka_auth_current() { [[ -f $KAFKA_AUTH_STAMP && $(<"$KAFKA_AUTH_STAMP") == "$(kafka_auth_digest)" ]]; }
# A var dir formatted for another number of brokers is refused (its nodes' quorum and replicas would not match).
kafka_check_shape() {
  local recorded=""; [[ -f $KAFKA_BROKERS_STAMP ]] && recorded=$(tr -dc '0-9' <"$KAFKA_BROKERS_STAMP")
  if [[ -z $recorded ]]; then
    # A var dir of a single broker formatted before the count was recorded.
    [[ -f $KAFKA_DIR/data/meta.properties ]] && recorded=1
  fi
  if [[ -n $recorded && $recorded != "$KAFKA_BROKERS" ]]; then
    die "kafka: $(rel "$KAFKA_DIR") holds a $recorded-broker cluster, BPASS_KAFKA_BROKERS=$KAFKA_BROKERS asks for $KAFKA_BROKERS: 'stack.sh down --wipe' first (drops its topics), or use another BPASS_LOCAL_VAR"
  fi
  mkdir -p "$KAFKA_DIR"; printf '%s\n' "$KAFKA_BROKERS" >"$KAFKA_BROKERS_STAMP"
}
# Reformat such a directory: SCRAM users of KRaft live in the metadata log and the first one can only be added by
# `storage format`. The broker is stopped first if it runs; its topics and consumer offsets are lost (local data).
kafka_migrate_auth() {
  [[ -f $NODE_DIR/data/meta.properties ]] || return 0
  kafka_auth_current && return 0
  if [[ -n $(kafka_pid) ]]; then
    info "$(kafka_label): the running broker does not authenticate clients (an earlier PLAINTEXT stack): restarting it with SASL"
    stop_kafka_node
  fi
  rm -rf "$NODE_DIR/data"
  mkdir -p "$NODE_DIR/data"
  info "$(kafka_label): reformatting $(rel "$NODE_DIR/data") for SASL/SCRAM (its earlier topics and offsets are dropped)"
}
KAFKA_T0=""
# Per node: when it was launched, as Kafka's log lines stamp their time ("%Y-%m-%d %H:%M:%S"); whether this run
# launched it (or found it booting); the launching shell's pid.
declare -A KAFKA_LAUNCHED_AT=() KAFKA_STARTING=() KAFKA_LAUNCH_PID=()
# awk: p is set from a file's first line stamped at or after t (a stack trace's lines carry no stamp of their own)
KAFKA_SINCE_LAUNCH='FNR == 1 { p = 0 } !p && substr($0, 1, 1) == "[" && substr($0, 1, 20) >= t { p = 1 }'
kafka_launch() { # starts node $NODE in the background; kafka_wait waits for it
  kafka_migrate_auth
  local pid; pid=$(kafka_pid)
  mkdir -p "$NODE_DIR/logs" "$NODE_DIR/data"
  KAFKA_STARTING[$NODE]=0
  if [[ -n $pid ]] && port_open "$NODE_PORT"; then
    say "$(kafka_label): already running on $HOST:$NODE_PORT (pid $pid)"
    return
  fi
  if [[ -n $pid ]]; then  # started by an earlier 'up' and still booting
    KAFKA_STARTING[$NODE]=1; KAFKA_LAUNCH_PID[$NODE]=$pid
    KAFKA_LAUNCHED_AT[$NODE]=$(date -d "$(ps -o lstart= -p "$pid")" '+%F %T' 2>/dev/null || date '+%F %T'); return
  fi
  check_port_free "$(kafka_label)" "$NODE_PORT" BPASS_KAFKA_PORT
  check_port_free "$(kafka_label) (controller)" "$NODE_CPORT" BPASS_KAFKA_CONTROLLER_PORT
  need_java
  kafka_render_props
  if [[ ! -f $NODE_DIR/data/meta.properties ]]; then
    local id_file="$KAFKA_DIR/cluster.id" id
    # A Kafka cluster id is a base64url-encoded random 16-byte UUID (what `kafka-storage random-uuid` prints). Like
    # Kafka's Uuid.randomUuid(), never one that starts with '-': the storage tool would read it as an option. Every
    # node of a cluster is formatted with the same one.
    id=$(cat "$id_file" 2>/dev/null || true)
    while [[ ${#id} -ne 22 || $id == -* ]]; do
      id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    done
    printf '%s' "$id" >"$id_file"
    local jvm; mapfile -t jvm < <(kafka_jvm_args)
    # The platform user's SCRAM credential (the storage tool takes it only as an argument: visible in the process
    # list for the few seconds the format lasts, on this machine only).
    java "${jvm[@]}" kafka.tools.StorageTool format --cluster-id="$id" -c "$KAFKA_PROPS" --ignore-formatted \
      --add-scram "SCRAM-SHA-512=[name=$KAFKA_ADMIN_USER,password=$(secret "kafka-$KAFKA_ADMIN_USER")]" \
      </dev/null >"$NODE_DIR/logs/format.log" 2>&1 \
      || die_log "$(kafka_label): formatting storage failed (kafka.tools.StorageTool format)" "$NODE_DIR/logs/format.log"
    kafka_auth_digest >"$KAFKA_AUTH_STAMP"
    info "$(kafka_label): formatted $(rel "$NODE_DIR/data") (cluster id $id; SASL/SCRAM user $KAFKA_ADMIN_USER)"
  fi
  KAFKA_LAUNCHED_AT[$NODE]=$(date '+%F %T')
  printf '\n==== %s stack.sh up: starting Kafka %s\n' "$(date -u +%FT%TZ)" "$(kafka_version)" >>"$NODE_DIR/logs/kafka.out"
  # setsid: own session, so Ctrl-C in the calling terminal does not stop the broker; the wrapper shell writes its
  # own pid and then becomes java (exec), so the pid file holds the broker's pid.
  local jvm; mapfile -t jvm < <(kafka_jvm_args)
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$NODE_DIR/kafka.pid" java "${jvm[@]}" kafka.Kafka "$KAFKA_PROPS" \
    </dev/null >>"$NODE_DIR/logs/kafka.out" 2>&1 &
  KAFKA_LAUNCH_PID[$NODE]=$!
  KAFKA_STARTING[$NODE]=1
}
kafka_logged() { # kafka_logged TEXT: has node $NODE logged TEXT since it was launched?
  # By time stamp, not by file offset: a broker with many topics and groups logs more than one 50 MB file while
  # it starts, so server.log rolls over to server.log.N under our feet.
  local since=${KAFKA_LAUNCHED_AT[$NODE]}
  local files; mapfile -t files < <(find "$NODE_DIR/logs" -maxdepth 1 -name 'server.log*' \
    -newermt "$since" -exec grep -lF -- "$1" {} + 2>/dev/null)
  ((${#files[@]})) || return 1  # grep first: awk reads the few files that hold TEXT at all
  awk -v t="[$since" -v text="$1" "$KAFKA_SINCE_LAUNCH"' p && index($0, text) { f = 1; exit }
    END { exit !f }' "${files[@]}"
}
kafka_started_logged() { kafka_logged 'Kafka Server started'; }
kafka_fail() { # kafka_fail MESSAGE: the message, then what the JVM printed and the new part of server.log
  printf '==> ERROR: %s\n' "$1" >&2
  local out="$NODE_DIR/logs/kafka.out" log="$NODE_DIR/logs/server.log"
  if [[ -s $out ]] && [[ -n $(sed -n '/^==== .* stack.sh up: starting/h; //!H; ${x; /\n./p}' "$out") ]]; then
    printf '    --- JVM output (%s) ---\n' "$(rel "$out")" >&2
    sed -n '/^==== .* stack.sh up: starting/h; //!H; ${x; p}' "$out" | tail -n 15 | sed 's/^/    | /' >&2
  fi
  local recent; recent=$(awk -v t="[${KAFKA_LAUNCHED_AT[$NODE]}" "$KAFKA_SINCE_LAUNCH"' p' "$log" 2>/dev/null | tail -n 25 || true)
  if [[ -n $recent ]]; then
    printf '    --- last lines of %s ---\n' "$(rel "$log")" >&2
    sed 's/^/    | /' <<<"$recent" >&2
  fi
  exit 1
}
kafka_bind_failed() { # did the broker that just exited fail to bind one of its ports?
  kafka_logged 'Address already in use'
}
kafka_launch_all() {
  KAFKA_T0=$(now_us)
  local i; for i in $(kafka_nodes); do kafka_node "$i"; kafka_launch; done
}
# Waits for every node launched: a node of a cluster reports 'started' only once the controller quorum has a
# leader, so the nodes are launched together and waited for together.
kafka_wait() {
  local i; for i in $(kafka_nodes); do kafka_node "$i"; kafka_wait_node; done
}
kafka_wait_node() {
  [[ ${KAFKA_STARTING[$NODE]:-0} == 1 ]] || return 0
  local deadline=$(( $(now_us) + KAFKA_TIMEOUT * 1000000 )) pid
  pid=$(read_pid "$NODE_DIR/kafka.pid"); pid=${pid:-${KAFKA_LAUNCH_PID[$NODE]}}
  local attempt=1
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      # Kafka's ports lie in Linux's ephemeral range, so a client socket (even the broker's own first connection
      # to its controller) can hold one for a moment. The port is free again soon after: launch again, twice.
      if (( attempt < 3 )) && kafka_bind_failed; then
        info "$(kafka_label): a port was taken for a moment (Address already in use); starting again (attempt $((attempt + 1)) of 3)"
        attempt=$((attempt + 1)); sleep 2
        kafka_launch
        pid=${KAFKA_LAUNCH_PID[$NODE]}; deadline=$(( $(now_us) + KAFKA_TIMEOUT * 1000000 ))
        continue
      fi
      kafka_fail "$(kafka_label): the broker exited during startup (pid $pid); logs in $(rel "$NODE_DIR/logs")"
    fi
    if port_open "$NODE_PORT" && kafka_started_logged; then break; fi
    if (( $(now_us) > deadline )); then
      kafka_fail "$(kafka_label): not ready on $HOST:$NODE_PORT after ${KAFKA_TIMEOUT} s (pid $pid left running; 'stack.sh down' stops it)"
    fi
    sleep 0.25
    [[ -s $NODE_DIR/kafka.pid ]] && pid=$(read_pid "$NODE_DIR/kafka.pid")
  done
  KAFKA_STARTING[$NODE]=0
  say "$(kafka_label): started on $HOST:$NODE_PORT (pid $pid, Kafka $(kafka_version)$( ((KAFKA_BROKERS > 1)) && printf ', node %s of %s' "$NODE" "$KAFKA_BROKERS")) in $(since "$KAFKA_T0")"
}
stop_kafka_node() {
  local pid; pid=$(kafka_pid)
  if [[ -z $pid ]]; then say "$(kafka_label): not running"; return; fi
  local t0; t0=$(now_us)
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" 60; then
    kill -KILL "$pid" 2>/dev/null || true
    say "$(kafka_label): killed (pid $pid did not stop within 60 s)"
    return
  fi
  say "$(kafka_label): stopped (was pid $pid) in $(since "$t0")"
}
# Every node is asked to stop at once: one by one, the last ones would wait for a controller quorum already gone.
stop_kafka() {
  local i pids=() t0; t0=$(now_us)
  for i in $(kafka_nodes); do
    kafka_node "$i"; local pid; pid=$(kafka_pid)
    if [[ -z $pid ]]; then say "$(kafka_label): not running"; continue; fi
    kill -TERM "$pid" 2>/dev/null || true; pids+=("$i:$pid")
  done
  local entry
  for entry in "${pids[@]}"; do
    kafka_node "${entry%%:*}"; local pid=${entry#*:}
    if ! wait_gone "$pid" 60; then
      kill -KILL "$pid" 2>/dev/null || true
      say "$(kafka_label): killed (pid $pid did not stop within 60 s)"
      continue
    fi
    say "$(kafka_label): stopped (was pid $pid) in $(since "$t0")"
  done
  kafka_node 1
}

# ---------------------------------------------------------------------------------------------------- nginx
NGINX_CONF="$NGINX_DIR/nginx.conf"
nginx_cmd() { nginx -p "$NGINX_DIR/" -c "$NGINX_CONF" -e "$NGINX_DIR/logs/error.log" "$@"; }
nginx_pid() { local p; p=$(read_pid "$NGINX_DIR/nginx.pid"); pid_is "$p" "$NGINX_CONF" && printf '%s' "$p" || true; }
nginx_render() {
  mkdir -p "$NGINX_DIR/logs" "$NGINX_DIR/tmp"
  sed -e "s|\${BPASS_HTTP_PORT}|$HTTP_PORT|g" \
      -e "s|\${BPASS_IDENTITY_PORT}|$IDENTITY_PORT|g" \
      -e "s|\${BPASS_CUSTODY_PORT}|$CUSTODY_PORT|g" \
      -e "s|\${BPASS_RECOVERY_PORT}|$RECOVERY_PORT|g" \
      -e "s|\${BPASS_REPORTING_PORT}|$REPORTING_PORT|g" \
      "$HERE/nginx.conf.template" >"$NGINX_CONF.tmp"
  if grep -q '\${BPASS_[A-Z_]*}' "$NGINX_CONF.tmp"; then
    die "nginx: unfilled placeholder in $(rel "$HERE/nginx.conf.template"): $(grep -o '\${BPASS_[A-Z_]*}' "$NGINX_CONF.tmp" | head -n1)"
  fi
  mv "$NGINX_CONF.tmp" "$NGINX_CONF"
  nginx_cmd -t >"$NGINX_DIR/logs/configtest.log" 2>&1 \
    || die_log "nginx: configuration test failed" "$NGINX_DIR/logs/configtest.log"
}
start_nginx() {
  local t0 pid; t0=$(now_us)
  pid=$(nginx_pid)
  if [[ -n $pid ]] && port_open "$HTTP_PORT"; then
    nginx_render
    nginx_cmd -s reload >/dev/null 2>&1 || true
    say "nginx: already running on $HOST:$HTTP_PORT (pid $pid), configuration reloaded"
    return
  fi
  [[ -z $pid ]] || die "nginx: running (pid $pid) but not listening on $HOST:$HTTP_PORT; run 'stack.sh down' then 'up' again"
  check_port_free nginx "$HTTP_PORT" BPASS_HTTP_PORT
  nginx_render
  nginx_cmd >>"$NGINX_DIR/logs/error.log" 2>&1 || die_log "nginx: failed to start" "$NGINX_DIR/logs/error.log"
  local n=100
  until [[ -n $(nginx_pid) ]] && port_open "$HTTP_PORT"; do
    ((n-- > 0)) || die_log "nginx: not listening on $HOST:$HTTP_PORT after 10 s" "$NGINX_DIR/logs/error.log"
    sleep 0.1
  done
  say "nginx: started on $HOST:$HTTP_PORT (pid $(nginx_pid)) in $(since "$t0")"
}
stop_nginx() {
  local pid; pid=$(nginx_pid)
  if [[ -z $pid ]]; then say "nginx: not running"; return; fi
  kill -QUIT "$pid" 2>/dev/null || true
  wait_gone "$pid" 10 || { kill -TERM "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true; }
  say "nginx: stopped (was pid $pid)"
}

# ---------------------------------------------------------------------------------------------------- observability
# Zipkin and Prometheus: deploy/local/observability/observability.sh (start_zipkin, start_prometheus, ...).
source "$HERE/observability/observability.sh"
WITH_OBSERVABILITY="${BPASS_LOCAL_OBSERVABILITY:-0}"

# ---------------------------------------------------------------------------------------------------- commands
preflight() {
  # Fail before starting anything when a port of a component that is not running yet is taken.
  pg_setup
  [[ -n $(pg_pid) ]] || check_port_free postgres "$PG_PORT" BPASS_PG_PORT
  [[ -n $(redis_pid) ]] || check_port_free redis "$REDIS_PORT" BPASS_REDIS_PORT
  local i
  for i in $(kafka_nodes); do
    kafka_node "$i"
    if [[ -z $(kafka_pid) ]]; then
      check_port_free "$(kafka_label)" "$NODE_PORT" BPASS_KAFKA_PORT
      check_port_free "$(kafka_label) (controller)" "$NODE_CPORT" BPASS_KAFKA_CONTROLLER_PORT
    fi
  done
  if [[ $WITH_NGINX == 1 && -z $(nginx_pid) ]]; then check_port_free nginx "$HTTP_PORT" BPASS_HTTP_PORT; fi
}

do_up() {
  local t0; t0=$(now_us)
  kafka_check_shape     # before installing or starting anything
  do_install
  ensure_secrets
  preflight
  kafka_launch_all      # the JVMs boot in the background while the others start
  start_postgres
  start_redis
  [[ $WITH_NGINX != 1 ]] || start_nginx
  kafka_wait
  [[ $WITH_OBSERVABILITY != 1 ]] || observability_up
  say "stack: up in $(since "$t0") (state in $(rel "$VAR"); service settings: eval \"\$(bash $(rel "$HERE")/stack.sh env)\")"
}

do_down() {
  # Stops only processes recorded in this var dir's pid files; data stays unless wiping.
  [[ -d $VAR ]] || { say "stack: nothing to stop ($(rel "$VAR") does not exist)"; return; }
  observability_down
  if have nginx || [[ -f $NGINX_DIR/nginx.pid ]]; then stop_nginx; fi
  stop_kafka
  stop_redis
  if [[ -n $(pg_bindir) ]]; then stop_postgres; fi
}

do_wipe() {
  [[ -n $VAR && $VAR != / && -d $VAR ]] || return 0
  [[ -n $(pg_bindir) ]] && pg_setup
  # Kafka jars (kafka/libs) are a download cache, not data: kept.
  rm -rf "$VAR/postgres" "$VAR/redis" "$VAR/nginx" "$VAR/logs" "$OBS_DIR" \
         "$KAFKA_DIR/data" "$KAFKA_DIR/logs" "$KAFKA_DIR/cluster.id" "$KAFKA_DIR/server.properties" \
         "$KAFKA_DIR/kafka.pid" "$KAFKA_DIR"/broker-* "$KAFKA_BROKERS_STAMP"
  [[ -n $PG_DIR && $PG_DIR != "$VAR/postgres" && $PG_DIR == /var/tmp/bpass-postgres-* ]] && rm -rf "$PG_DIR"
  say "stack: wiped data and logs under $(rel "$VAR") (kept the Kafka jars in $(rel "$KAFKA_DIR/libs"))"
}

status_line() { # COMPONENT STATE PID ADDR DIR
  printf '%-9s %-8s %-11s %-16s %s\n' "$1" "$2" "${3:+pid $3}" "$4" "$5"
}
do_status() {
  local pid
  if [[ -n $(pg_bindir) ]]; then
    pg_setup; pid=$(pg_pid)
    status_line postgres "$([[ -n $pid ]] && echo running || echo stopped)" "$pid" "$HOST:$PG_PORT" "$(rel "$(pg_data)")"
  else
    status_line postgres "missing" "" "$HOST:$PG_PORT" "(PostgreSQL not installed)"
  fi
  pid=$(redis_pid)
  status_line redis "$([[ -n $pid ]] && echo running || echo stopped)" "$pid" "$HOST:$REDIS_PORT" "$(rel "$REDIS_DIR")"
  local i
  for i in $(kafka_nodes); do
    kafka_node "$i"; pid=$(kafka_pid)
    local kstate=stopped
    if [[ -n $pid ]]; then port_open "$NODE_PORT" && kstate=running || kstate=starting; fi
    local what="Kafka $(kafka_version || true), libs $(rel "$(kafka_libs)")"
    ((KAFKA_BROKERS == 1)) || what="broker+controller, node $i of $KAFKA_BROKERS, controller :$NODE_CPORT, $what"
    status_line "$(kafka_label)" "$kstate" "$pid" "$HOST:$NODE_PORT" "$(rel "$NODE_DIR/data") ($what)"
  done
  if [[ $WITH_NGINX == 1 ]]; then
    pid=$(nginx_pid)
    status_line nginx "$([[ -n $pid ]] && echo running || echo stopped)" "$pid" "$HOST:$HTTP_PORT" "$(rel "$NGINX_DIR") (-> :$IDENTITY_PORT :$CUSTODY_PORT :$RECOVERY_PORT :$REPORTING_PORT)"
  fi
  observability_status
}

do_env() {
  ensure_secrets
  printf 'export BPASS_KAFKA_BOOTSTRAP=%s\n' "$(kafka_bootstrap)"
  printf 'export BPASS_KAFKA_BROKERS=%s\n' "$KAFKA_BROKERS"
  if kafka_auth_current; then
    cat <<EOF
export BPASS_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT
export BPASS_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
export BPASS_KAFKA_SASL_USERNAME=$KAFKA_ADMIN_USER
export BPASS_KAFKA_SASL_PASSWORD=$(secret "kafka-$KAFKA_ADMIN_USER")
EOF
  else
    echo "export BPASS_KAFKA_SECURITY_PROTOCOL=PLAINTEXT  # an earlier stack's broker: 'up' moves it to SASL"
  fi
  if is_applied postgres; then
    cat <<EOF
export BPASS_DATABASE_URL=postgresql://$PG_ROLE:$(secret postgres-bpass)@$HOST:$PG_PORT/$PG_DB
export BPASS_APP_DATABASE_PASSWORD=$(secret postgres-bpass_app)
export BPASS_PLATFORM_DATABASE_PASSWORD=$(secret postgres-bpass_platform)
EOF
  else
    echo "export BPASS_DATABASE_URL=postgresql://$PG_ROLE:$PG_ROLE@$HOST:$PG_PORT/$PG_DB  # until 'up' sets the generated passwords"
  fi
  if is_applied redis; then
    echo "export BPASS_REDIS_URL=redis://:$(secret redis)@$HOST:$REDIS_PORT/0"
  else
    echo "export BPASS_REDIS_URL=redis://$HOST:$REDIS_PORT/0  # until 'up' sets its password"
  fi
  cat <<EOF
export BPASS_SECRETS_DIR=$SECRETS_DIR
export BPASS_KAFKA_LIBS=$(kafka_libs)
EOF
  observability_env
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

main() {
  local cmd=${1:-}; shift || true
  case $cmd in
    install)
      do_install
      say "install: redis-server, $([[ $WITH_NGINX == 1 ]] && echo 'nginx, ')PostgreSQL $(basename "$(dirname "$(pg_bindir)")"), Java $(java_major), Kafka $(kafka_version) jars ($(rel "$(kafka_libs)")): present" ;;
    up) do_up ;;
    down)
      case ${1:-} in
        "") do_down ;;
        --wipe) do_down; do_wipe ;;
        *) usage >&2; exit 2 ;;
      esac ;;
    wipe) do_down; do_wipe ;;
    status) do_status ;;
    observability) observability_main "$@" ;;
    env) do_env ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}
main "$@"
