# shellcheck shell=bash
# Shell helpers shared by the test bed scripts (sourced, not run).

# A free TCP port on loopback (the kernel picks it; there is a tiny race until the server binds it).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND every second until it succeeds; else calls the caller's
# `fail` with a message.
wait_for() {
  local timeout=$1 what=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for $what"
    sleep 1
  done
}

# stop_pid PIDFILE [GRACE_SECONDS]: SIGTERM the process whose pid the file holds, SIGKILL it if it is still there
# after GRACE_SECONDS (default 5), remove the file. Nothing to do without the file.
stop_pid() {
  local f="$1" grace="${2:-5}" pid
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}
