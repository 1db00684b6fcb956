#!/usr/bin/env bash
# The first-run demo: the operator provisions a NocoBase mail app registration and rotates its client secret,
# live, with no Azure account and no cluster. Run it with `make demo`, which starts a throw-away kube-apiserver
# (tests/testbed/with-control-plane.sh) and runs this script inside it. It doubles as a smoke test: every step
# checks its outcome and the script exits non-zero if one does not happen.
#
# What it runs: the Graph emulator (tests/graph-emulator, HTTPS with a private CA) standing in for Microsoft
# Entra, the operator binary on this machine, and the manifests in examples/demo/.
#
# Environment:
#   DEMO_ROUNDS=N        rotations to watch (default 2; each takes about a minute)
#   DEMO_PROFILE=release build and run release binaries (default: debug, faster to build)
#   DEMO_KEEP_LOGS=1     keep the working directory with the operator and emulator logs
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

rounds="${DEMO_ROUNDS:-2}"
profile="${DEMO_PROFILE:-debug}"
tenant_id=11111111-2222-3333-4444-555555555555
operator_client_id=66666666-7777-8888-9999-000000000000
op_ns=entramail-system
ns=nocobase
cr=nocobase-mail
secret=nocobase-mail-entra

step_no=0
step() {
  step_no=$((step_no + 1))
  printf '\n==> %d. %s\n' "$step_no" "$*"
}
say() { printf '    %s\n' "$*"; }
fail() {
  printf '\nDEMO FAILED: %s\n' "$*" >&2
  exit 1
}
indent() { sed 's/^/    /'; }

if [[ -z "${KUBECONFIG:-}" ]] || ! command -v kubectl >/dev/null; then
  fail "needs a control plane: run 'make demo' (or tests/testbed/with-control-plane.sh tests/demo.sh)"
fi
for tool in curl jq; do
  command -v "$tool" >/dev/null || fail "$tool is required"
done

work="$(mktemp -d "${TMPDIR:-/tmp}/entramail-demo.XXXXXX")"
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 ]]; then
    for log in operator emulator; do
      if [[ -s "$work/$log.log" ]]; then
        echo "--- last lines of the $log log ---" >&2
        tail -n 20 "$work/$log.log" >&2
      fi
    done
  fi
  if [[ "${DEMO_KEEP_LOGS:-0}" == 1 || $rc -ne 0 ]]; then
    echo "demo: logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on loopback (the kernel picks it; there is a tiny race until the server binds it).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND every second until it succeeds.
wait_for() {
  local timeout=$1 what=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for $what"
    sleep 1
  done
}

jsonpath() { kubectl get -n "$ns" "$@"; }
cr_field() { jsonpath nocobasemailintegration "$cr" -o "jsonpath=$1"; }
# Length of a Secret value, never the value itself.
secret_len() {
  kubectl get secret -n "$ns" "$secret" -o json |
    jq -r --arg k "$1" 'if .data[$k] then (.data[$k] | @base64d | length) else "absent" end'
}

step "Building the operator and the Graph emulator ($profile)"
build_flags=(--workspace --locked --bins)
[[ "$profile" == release ]] && build_flags+=(--release)
cargo build "${build_flags[@]}" 2>&1 | tail -n 1 | indent
bin="${CARGO_TARGET_DIR:-$repo/target}/$profile"
[[ -x "$bin/entramail-operator" && -x "$bin/graph-emulator" ]] || fail "binaries missing in $bin"

step "Starting the Microsoft Graph / Entra emulator (HTTPS, private CA)"
emu_port="$(free_port)"
emu_url="https://127.0.0.1:$emu_port"
ca="$work/emulator-ca.pem"
# The operator's own credential: random per run, only ever in this process, the emulator and a Secret.
operator_secret="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
"$bin/graph-emulator" --bind "127.0.0.1:$emu_port" --tenant "$tenant_id" \
  --client-id "$operator_client_id" --client-secret "$operator_secret" --ca-out "$ca" \
  >"$work/emulator.log" 2>&1 &
pids+=($!)
admin() { curl -fsS --cacert "$ca" "$emu_url/_emulator/$1"; }
wait_for 30 "the emulator" admin clock
say "emulator: $emu_url (tenant $tenant_id; the operator's app $operator_client_id registered)"

step "Installing the CRDs (server-side apply)"
kubectl apply --server-side -f crds/ | indent
kubectl wait --for condition=Established --timeout=60s \
  crd/nocobasemailintegrations.entramail.io crd/entratenants.entramail.io | indent

step "Creating the operator namespace and the tenant credential Secret"
kubectl create namespace "$op_ns" --dry-run=client -o yaml | kubectl apply -f - | indent
kubectl create secret generic entra-operator-credentials -n "$op_ns" \
  --from-literal=clientSecret="$operator_secret" --dry-run=client -o yaml | kubectl apply -f - | indent

step "Starting the operator (no leader election, trusting the emulator's CA)"
metrics_port="$(free_port)"
RUST_LOG="${RUST_LOG:-info,kube=warn}" "$bin/entramail-operator" --no-leader-elect \
  --operator-namespace "$op_ns" --extra-ca-file "$ca" \
  --metrics-bind-address "127.0.0.1:$metrics_port" >"$work/operator.log" 2>&1 &
operator_pid=$!
pids+=("$operator_pid")
wait_for 30 "the operator's /readyz" curl -fsS "http://127.0.0.1:$metrics_port/readyz"
say "operator pid $operator_pid, metrics on http://127.0.0.1:$metrics_port/metrics, JSON logs in $work/operator.log"

step "Applying examples/demo/ (EntraTenant -> emulator, a stand-in NocoBase Deployment, the integration)"
for f in examples/demo/*.yaml; do
  sed "s#https://127.0.0.1:8443#$emu_url#g" "$f" | kubectl apply -f - | indent
done

step "Waiting for Ready"
kubectl wait --for=condition=Ready --timeout=60s entratenant/demo | indent
kubectl wait --for=condition=Ready --timeout=90s -n "$ns" "nocobasemailintegration/$cr" | indent
kubectl get entratenant,nocobasemailintegration -A | indent

step "The Secret NocoBase reads (values hidden: only lengths are shown)"
key1="$(cr_field '{.status.currentCredential.keyId}')"
[[ -n "$key1" ]] || fail "status.currentCredential.keyId is empty"
app_id="$(cr_field '{.status.appId}')"
kubectl get secret -n "$ns" "$secret" -o json |
  jq -r '.data | to_entries[] | "\(.key): \(.value | @base64d | length) bytes"' | indent
[[ "$(kubectl get secret -n "$ns" "$secret" -o json | jq -r '.data.clientId | @base64d')" == "$app_id" ]] ||
  fail "Secret clientId does not match status.appId $app_id"
[[ "$(secret_len clientSecret)" =~ ^[0-9]+$ ]] || fail "Secret has no clientSecret"
say "clientId = $app_id (not secret); clientSecret keyId $key1, hint $(cr_field '{.status.currentCredential.hint}')..."
say "expires $(cr_field '{.status.currentCredential.notAfter}'), renewal at $(cr_field '{.status.renewalTime}')"

show_app() {
  admin "tenants/$tenant_id/applications" | jq --arg app "$app_id" '.[] | select(.appId == $app) | {
      displayName, appId, signInAudience, redirectUris: .web.redirectUris,
      delegatedScopes: [.requiredResourceAccess[].resourceAccess[].id] | length,
      passwordCredentials: [.passwordCredentials[] | {keyId, hint, endDateTime}]}' | indent
}
live_keys() {
  admin "tenants/$tenant_id/applications" |
    jq -r --arg app "$app_id" '.[] | select(.appId == $app) | .passwordCredentials[].keyId'
}
has_key() { live_keys | grep -qx "$1"; }
lacks_key() { ! live_keys | grep -qx "$1"; }

step "The app registration as Entra (the emulator) sees it"
show_app
sp_count="$(admin "tenants/$tenant_id/servicePrincipals" | jq --arg app "$app_id" '[.[] | select(.appId == $app)] | length')"
say "service principals for the app: $sp_count; admin-consent grants: $(admin "tenants/$tenant_id/oauth2PermissionGrants" | jq 'length')"
[[ "$sp_count" == 1 ]] || fail "expected one service principal for $app_id"

key_changed() { [[ "$(cr_field '{.status.currentCredential.keyId}')" != "$1" ]]; }
previous_dropped() { [[ "$(secret_len previousClientSecret)" == absent ]]; }

old="$key1"
for round in $(seq 1 "$rounds"); do
  step "Rotation $round/$rounds: waiting for the scheduled renewal (lifetime 2m, renewBefore 1m)"
  restarted_before="$(kubectl get deploy -n "$ns" nocobase -o 'jsonpath={.spec.template.metadata.annotations.entramail\.io/restartedAt}')"
  wait_for 100 "a new credential (rotation $round)" key_changed "$old"
  new="$(cr_field '{.status.currentCredential.keyId}')"
  say "new keyId      $new (was $old)"
  say "Secret:        clientSecret $(secret_len clientSecret) bytes, previousClientSecret $(secret_len previousClientSecret) bytes"
  [[ "$(secret_len previousClientSecret)" =~ ^[0-9]+$ ]] || fail "previous secret not kept in the Secret during the overlap"
  say "status.previousCredentials (kept during the overlap):"
  cr_field '{.status.previousCredentials}' | jq -c '.[] | {keyId, revokeAfter}' | indent
  has_key "$old" || fail "old key $old revoked before the overlap ended"
  say "in Entra both are live: $(live_keys | tr '\n' ' ')"
  restarted="$(kubectl get deploy -n "$ns" nocobase -o 'jsonpath={.spec.template.metadata.annotations.entramail\.io/restartedAt}')"
  [[ -n "$restarted" && "$restarted" != "$restarted_before" ]] || fail "Deployment nocobase was not restarted"
  say "Deployment nocobase restartedAt: $restarted"

  step "Rotation $round/$rounds: waiting for the overlap (20s) to end and the old key to be revoked"
  wait_for 90 "old key $old to be revoked" lacks_key "$old"
  wait_for 30 "previousClientSecret to leave the Secret" previous_dropped
  say "old keyId $old removed from Entra; previousClientSecret gone from the Secret"
  show_app
  old="$new"
done

step "Events and metrics"
kubectl get events -n "$ns" --field-selector involvedObject.name="$cr" \
  -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message --sort-by=.lastTimestamp 2>/dev/null | tail -n 10 | indent
curl -fsS "http://127.0.0.1:$metrics_port/metrics" | grep -v '^#' | grep -i entramail | head -n 12 | indent || true

step "Deleting the integration: the finalizer deletes the app registration (deletionPolicy: Delete)"
kubectl delete -n "$ns" "nocobasemailintegration/$cr" --timeout=60s | indent
app_gone() { [[ "$(admin "tenants/$tenant_id/applications" | jq --arg app "$app_id" '[.[] | select(.appId == $app)] | length')" == 0 ]]; }
wait_for 30 "the app registration to be deleted" app_gone
say "app $app_id no longer exists in Entra"

printf '\nDEMO PASSED: provisioned, rotated %d time(s) with overlap and consumer restart, cleaned up.\n' "$rounds"
