#!/usr/bin/env bash
# Runs a command with one real NocoBase: installs the pinned NocoBase if needed (install.sh), starts a fresh instance
# in a temp dir (nocobase.sh), runs "$@", stops it.
#
#   tests/nocobase/with-nocobase.sh cargo test --locked --test nocobase_delivery
#
# Exports: NOCOBASE_URL, NOCOBASE_DIR (the instance's directory: api-key, api-key-variables, api-key-mailsettings,
# api-key-none, record-id; see nocobase.sh), NOCOBASE_API_KEY (root's API key), NOCOBASE_SCRIPT (this directory's
# nocobase.sh, for tests that start their own instances), NOCOBASE_HOME (the install cache).
# NOCOBASE_KEEP=1 keeps the directory (logs) after the run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export NOCOBASE_HOME="${NOCOBASE_HOME:-$HOME/.cache/entramail-operator/nocobase}"

"$here/install.sh"

NOCOBASE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/entramail-nocobase.XXXXXX")"
cleanup() {
  local rc=$?
  "$here/nocobase.sh" stop "$NOCOBASE_DIR" || true
  if [[ $rc -ne 0 ]]; then
    echo "nocobase: command failed ($rc); NocoBase log tail:" >&2
    tail -n 15 "$NOCOBASE_DIR/nocobase.log" >&2 || true
  fi
  if [[ "${NOCOBASE_KEEP:-0}" == 1 ]]; then
    echo "nocobase: kept $NOCOBASE_DIR" >&2
  else
    rm -rf "$NOCOBASE_DIR"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/nocobase.sh" start "$NOCOBASE_DIR"
NOCOBASE_URL="$(cat "$NOCOBASE_DIR/url")"
NOCOBASE_API_KEY="$(cat "$NOCOBASE_DIR/api-key")"
export NOCOBASE_DIR NOCOBASE_URL NOCOBASE_API_KEY NOCOBASE_SCRIPT="$here/nocobase.sh"
"$@"
