#!/usr/bin/env bash
# Installs a pinned, real NocoBase (from the npm registry, as `create-nocobase-app` does) into a cache, once:
#
#   tests/nocobase/install.sh            # cold: a few minutes; afterwards instant (stamp)
#
# Cache: ${NOCOBASE_HOME:-$HOME/.cache/entramail-operator/nocobase}
#   tools/     yarn + create-nocobase-app (npm --prefix)
#   app/       the NocoBase application (node_modules, SQLite driver compiled from source)
#   template/  db.sqlite + storage/ right after `nocobase install` (nocobase.sh copies it for each instance)
#   yarn-cache/ yarn's download cache (only used while installing)
#   stamp      hash of everything that decides the install; a matching stamp means "installed"
#
# Pins live here and in this directory's package.json + yarn.lock (the full dependency tree; `resolved` URLs are
# stripped so yarn fetches from the configured registry, integrity hashes still pin every tarball).
# Workarounds (see docs/nocobase.md): --skip-dev-dependencies (@nocobase/devtools is not on npm), xlsx resolution
# (@nocobase/ai points at a CDN tarball), yarn's registry pinned to npm's, sqlite3 built with npm_config_nodedir.
set -euo pipefail

NOCOBASE_VERSION=2.2.15
YARN_VERSION=1.22.22
SQLITE3_VERSION=5.1.7 # also in package.json + yarn.lock
# The template's APP_KEY: API keys are JWTs signed with it, so every instance made from the template shares it.
TEMPLATE_APP_KEY=entramail-nocobase-testbed-app-key-not-a-secret
# Bump when this script changes what it installs or how (the stamp covers the pins above, package.json, yarn.lock).
INSTALL_LAYOUT=1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NOCOBASE_HOME="${NOCOBASE_HOME:-$HOME/.cache/entramail-operator/nocobase}"
mkdir -p "$NOCOBASE_HOME"

log() { echo "nocobase-install: $*" >&2; }

stamp_of() {
  {
    echo "$NOCOBASE_VERSION $YARN_VERSION $SQLITE3_VERSION $TEMPLATE_APP_KEY $INSTALL_LAYOUT node=$(node --version)"
    cat "$here/package.json" "$here/yarn.lock"
  } | sha256sum | cut -d' ' -f1
}

exec 9>"$NOCOBASE_HOME/.lock"
flock 9 # one installer at a time; a second caller waits, then finds the stamp

want="$(stamp_of)"
if [[ -f "$NOCOBASE_HOME/stamp" && "$(cat "$NOCOBASE_HOME/stamp")" == "$want" ]]; then
  log "NocoBase $NOCOBASE_VERSION cached in $NOCOBASE_HOME"
  exit 0
fi

for tool in node npm python3 make g++ flock setsid curl; do
  command -v "$tool" >/dev/null || { log "missing $tool (needed to install NocoBase; .ci/run installs it)"; exit 1; }
done

t0=$SECONDS
rm -f "$NOCOBASE_HOME/stamp"
rm -rf "$NOCOBASE_HOME/tools" "$NOCOBASE_HOME/app" "$NOCOBASE_HOME/app.new" "$NOCOBASE_HOME/template"

# Everything below talks to the registry npm is configured with; yarn 1 would otherwise use its own default.
registry="$(npm config get registry)"
node_prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
[[ -f "$node_prefix/include/node/node_version.h" ]] || {
  log "node headers not found under $node_prefix/include/node (needed to compile sqlite3)"
  exit 1
}
export npm_config_nodedir="$node_prefix" # node-gyp: use the installed headers, downloading them is not possible
export YARN_CACHE_FOLDER="$NOCOBASE_HOME/yarn-cache"
unset NODE_ENV

log "installing yarn $YARN_VERSION and create-nocobase-app $NOCOBASE_VERSION"
npm install --silent --no-audit --no-fund --no-save --prefix "$NOCOBASE_HOME/tools" \
  "yarn@$YARN_VERSION" "create-nocobase-app@$NOCOBASE_VERSION" >/dev/null
export PATH="$NOCOBASE_HOME/tools/node_modules/.bin:$PATH"

log "scaffolding the app (create-nocobase-app --skip-dev-dependencies)"
(cd "$NOCOBASE_HOME" && create-nocobase-app app.new --skip-dev-dependencies >/dev/null)
app="$NOCOBASE_HOME/app.new"
cp "$here/package.json" "$here/yarn.lock" "$app/"
printf 'registry "%s"\n' "$registry" >"$app/.yarnrc"
# The scaffold's .env (postgres) must never be what an instance runs with: instances pass APP_ENV_PATH.
printf '# unused: every test instance runs with APP_ENV_PATH=<instance>/env (tests/nocobase/nocobase.sh)\n' >"$app/.env"

t1=$SECONDS
log "yarn install (production, frozen lockfile; compiles sqlite3 $SQLITE3_VERSION from source)"
(cd "$app" && yarn install --production --frozen-lockfile --ignore-engines --non-interactive --network-timeout 600000 \
  >"$NOCOBASE_HOME/yarn-install.log" 2>&1) || {
  log "yarn install failed; last lines of $NOCOBASE_HOME/yarn-install.log:"
  tail -n 30 "$NOCOBASE_HOME/yarn-install.log" >&2
  exit 1
}
[[ -f "$app/node_modules/sqlite3/build/Release/node_sqlite3.node" ]] || { log "sqlite3 native module missing"; exit 1; }
log "yarn install took $((SECONDS - t1))s"
mv "$app" "$NOCOBASE_HOME/app"
app="$NOCOBASE_HOME/app"

# The template: a freshly installed NocoBase (root user, system collections), SQLite, no instance-specific state.
t2=$SECONDS
tmpl="$NOCOBASE_HOME/template.new"
rm -rf "$tmpl"
mkdir -p "$tmpl/storage"
cat >"$tmpl/env" <<EOF
APP_ENV=production
APP_KEY=$TEMPLATE_APP_KEY
APP_HOST=127.0.0.1
APP_PORT=13000
DB_DIALECT=sqlite
DB_STORAGE=$tmpl/db.sqlite
STORAGE_PATH=$tmpl/storage
INIT_ROOT_EMAIL=admin@nocobase.com
INIT_ROOT_PASSWORD=admin123
INIT_ROOT_NICKNAME=Super Admin
INIT_ROOT_USERNAME=nocobase
EOF
(cd "$app" && env -i PATH="$PATH" HOME="$HOME" LANG=C.UTF-8 APP_ENV_PATH="$tmpl/env" \
  "$app/node_modules/.bin/nocobase-v1" install --lang=en-US >"$NOCOBASE_HOME/template-install.log" 2>&1) || {
  log "nocobase install failed; last lines of $NOCOBASE_HOME/template-install.log:"
  tail -n 30 "$NOCOBASE_HOME/template-install.log" >&2
  exit 1
}
rm -rf "$tmpl/storage/logs" "$tmpl/storage/.pm2"
mv "$tmpl" "$NOCOBASE_HOME/template"
log "nocobase install (template) took $((SECONDS - t2))s"

# yarn-cache/ stays: deleting its ~2 GB of small files takes longer than it saves; it makes a re-install faster.
echo "$want" >"$NOCOBASE_HOME/stamp"
log "NocoBase $NOCOBASE_VERSION installed in $NOCOBASE_HOME in $((SECONDS - t0))s"
