#!/usr/bin/env bash
# One real NocoBase instance for tests (installed by install.sh), with its own SQLite database and storage in DIR.
#
#   nocobase.sh start DIR    new DIR: copy the template, start on a free loopback port, provision (below)
#                            existing DIR: start the same data on the same port again (after `stop`)
#   nocobase.sh stop DIR     stop it (kills the process group; data stays)
#   nocobase.sh restart DIR  stop + start
#
# DIR after `start`: url (http://127.0.0.1:PORT), port, env (NocoBase env file), db.sqlite, storage/, nocobase.log,
# pid (process group), and from the first start's provisioning (provision.py):
#   api-key            API key of root
#   api-key-variables  API key of a role with only the `pm.environment-variables` snippet (least privilege)
#   api-key-mailsettings  API key of a role with only view + update on mailSettings (fields clientId, clientSecret,
#                      tenantId: least privilege for the record delivery)
#   api-key-none       API key of a role with no permissions at all (for 403 tests)
#   record-id          id of the one record in collection mailSettings (clientId, clientSecret, tenantId, provider:
#                      string fields, the shape of the email manager's collection)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NOCOBASE_HOME="${NOCOBASE_HOME:-$HOME/.cache/entramail-operator/nocobase}"
app="$NOCOBASE_HOME/app"
template="$NOCOBASE_HOME/template"

log() { echo "nocobase: $*" >&2; }

# shellcheck source=tests/lib.sh
source "$here/../lib.sh" # free_port, wait_for

# RSS of every process in the group, in MiB.
group_rss_mib() {
  ps -o rss= -g "$1" 2>/dev/null | awk '{s+=$1} END {printf "%d", s/1024}'
}

init_dir() {
  local dir="$1" port app_key
  [[ -f "$NOCOBASE_HOME/stamp" && -d "$template" ]] || { log "not installed: run tests/nocobase/install.sh"; exit 1; }
  mkdir -p "$dir"
  cp "$template/db.sqlite" "$dir/db.sqlite"
  cp -r "$template/storage" "$dir/storage"
  port="$(free_port)"
  app_key="$(sed -n 's/^APP_KEY=//p' "$template/env")"
  # NocoBase never overrides variables already in its environment; `launch` starts it with an empty one.
  cat >"$dir/env" <<EOF
APP_ENV=production
APP_KEY=$app_key
APP_HOST=127.0.0.1
APP_PORT=$port
DB_DIALECT=sqlite
DB_STORAGE=$dir/db.sqlite
STORAGE_PATH=$dir/storage
INIT_ROOT_EMAIL=admin@nocobase.com
INIT_ROOT_PASSWORD=admin123
INIT_ROOT_NICKNAME=Super Admin
INIT_ROOT_USERNAME=nocobase
EOF
  echo "$port" >"$dir/port"
}

launch() {
  local dir="$1" port pid i t0=$SECONDS
  port="$(cat "$dir/port")"
  # Own session (setsid) so that stop can kill NocoBase's CLI and the server it spawns as one process group.
  (
    cd "$app"
    exec env -i PATH="$NOCOBASE_HOME/tools/node_modules/.bin:$PATH" HOME="$HOME" LANG=C.UTF-8 \
      APP_ENV_PATH="$dir/env" setsid "$app/node_modules/.bin/nocobase-v1" start --launch-mode=node \
      >>"$dir/nocobase.log" 2>&1 </dev/null
  ) &
  pid=$!
  echo "$pid" >"$dir/pid"
  for i in $(seq 1 600); do
    if curl -fsS -m 2 "http://127.0.0.1:$port/api/__health_check" >/dev/null 2>&1; then
      log "up at http://127.0.0.1:$port after $((SECONDS - t0))s (pid $pid, RSS $(group_rss_mib "$pid") MiB)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "NocoBase exited during start; last lines of $dir/nocobase.log:"
      tail -n 30 "$dir/nocobase.log" >&2
      return 1
    fi
    sleep 0.2
  done
  log "not healthy after 120s; last lines of $dir/nocobase.log:"
  tail -n 30 "$dir/nocobase.log" >&2
  return 1
}

stop() {
  local dir="$1" pid i
  [[ -f "$dir/pid" ]] || return 0
  pid="$(cat "$dir/pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
      ps -o pid= -g "$pid" >/dev/null 2>&1 || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pid"
}

start() {
  local dir="$1"
  if [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    log "already running from $dir"
    return 0
  fi
  if [[ -f "$dir/url" ]]; then
    launch "$dir" || { stop "$dir"; return 1; }
    return 0
  fi
  [[ ! -e "$dir/port" ]] || { log "$dir holds a half-provisioned instance; use a fresh directory"; exit 1; }
  init_dir "$dir"
  launch "$dir" || { stop "$dir"; return 1; }
  python3 "$here/provision.py" "http://127.0.0.1:$(cat "$dir/port")" "$dir" || { stop "$dir"; return 1; }
  echo "http://127.0.0.1:$(cat "$dir/port")" >"$dir/url" # last: marks a provisioned instance
}

cmd="${1:-}"
dir="${2:-}"
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 start|stop|restart DIR" >&2; exit 2; }
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
case "$cmd" in
  start) start "$dir" ;;
  stop) stop "$dir" ;;
  restart) stop "$dir"; start "$dir" ;;
  *) echo "usage: $0 start|stop|restart DIR" >&2; exit 2 ;;
esac
