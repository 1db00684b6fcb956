#!/usr/bin/env bash
# The first-run demo: the operator provisions NocoBase mail app registrations, delivers their client secrets into a
# REAL NocoBase and rotates them, live, with no Azure account and no cluster. Run it with `make demo`, which starts a
# throw-away kube-apiserver (tests/testbed/with-control-plane.sh) and runs this script inside it. It doubles as a
# smoke test: every step checks its outcome and the script exits non-zero if one does not happen.
#
# What it runs: the Graph emulator (tests/graph-emulator, HTTPS with a private CA) standing in for Microsoft Entra;
# a real NocoBase 2.2.15 (installed from npm into a cache by tests/nocobase/install.sh, started by
# tests/nocobase/nocobase.sh, with a mailSettings collection of the email manager's shape); the operator binary on
# this machine, allowed to call only that NocoBase (--delivery-allowed-hosts=127.0.0.1); the manifests in
# examples/demo/. Two integrations:
#   A. nocobase-mail: delivered into NocoBase's mailSettings record over its API and read back; a scheduled rotation;
#      the old key revoked once NocoBase confirmed the new one.
#   B. nocobase-mail-manual: no API access, so a person pastes and acknowledges (Delivered=False,
#      ManualUpdateRequired, with the command); after a rotation the old key outlives the overlap until the
#      acknowledgement.
# Client secrets are never printed: only lengths, equality and Entra's hint (the first characters, as the portal
# shows).
#
# Environment:
#   DEMO_ROUNDS=N        scheduled rotations to watch for integration A (default 1; about 30 s each)
#   DEMO_PROFILE=release build and run release binaries (default: debug, faster to build)
#   DEMO_KEEP_LOGS=1     keep the working directory with the operator, emulator and NocoBase logs
#                        (NocoBase's request log holds the delivered secrets in plain text: docs/nocobase.md)
#   NOCOBASE_HOME        NocoBase install cache (default ~/.cache/entramail-operator/nocobase; the first run
#                        installs it from npm, a few minutes)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

rounds="${DEMO_ROUNDS:-1}"
profile="${DEMO_PROFILE:-debug}"
tenant_id=11111111-2222-3333-4444-555555555555
operator_client_id=66666666-7777-8888-9999-000000000000
op_ns=entramail-system
ns=nocobase
export NOCOBASE_HOME="${NOCOBASE_HOME:-$HOME/.cache/entramail-operator/nocobase}"
demo_t0=$SECONDS

step_no=0
step() {
  step_no=$((step_no + 1))
  printf '\n==> %d. %s\n' "$step_no" "$*"
}
section() { printf '\n######## %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }
fail() {
  printf '\nDEMO FAILED: %s\n' "$*" >&2
  exit 1
}
indent() { sed 's/^/    /'; }

if [[ -z "${KUBECONFIG:-}" ]] || ! command -v kubectl >/dev/null; then
  fail "needs a control plane: run 'make demo' (or tests/testbed/with-control-plane.sh tests/demo.sh)"
fi
for tool in curl jq python3; do
  command -v "$tool" >/dev/null || fail "$tool is required"
done

work="$(mktemp -d "${TMPDIR:-/tmp}/entramail-demo.XXXXXX")"
chmod 700 "$work"
nbdir="$work/nocobase"
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  [[ ! -d "$nbdir" ]] || tests/nocobase/nocobase.sh stop "$nbdir" 2>/dev/null || true
  if [[ $rc -ne 0 ]]; then
    for log in operator emulator nocobase-start; do
      if [[ -s "$work/$log.log" ]]; then
        echo "--- last lines of the $log log ---" >&2
        tail -n 20 "$work/$log.log" >&2
      fi
    done
    # NocoBase's own log is not shown: it holds the delivered client secrets in plain text (docs/nocobase.md).
    echo "(NocoBase's log: $nbdir/nocobase.log; it contains client secrets)" >&2
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

# shellcheck source=tests/lib.sh
source "$repo/tests/lib.sh" # free_port, wait_for


# --- Kubernetes side ---------------------------------------------------------------------------------------------
field() { kubectl get -n "$ns" nocobasemailintegration "$1" -o "jsonpath=$2"; }
key_of() { field "$1" '{.status.currentCredential.keyId}'; }
cond() { # cond CR TYPE FIELD
  kubectl get -n "$ns" nocobasemailintegration "$1" -o json |
    jq -r --arg t "$2" --arg f "$3" '.status.conditions[]? | select(.type == $t) | .[$f]'
}
has_cond() { [[ "$(cond "$1" "$2" status)/$(cond "$1" "$2" reason)" == "$3/$4" ]]; }
show_conditions() {
  kubectl get -n "$ns" nocobasemailintegration "$1" -o json |
    jq -r '.status.conditions[] | "\(.type)=\(.status) (\(.reason))"' | paste -sd' ' | fold -s -w 110 | indent
}
# Length of a Secret value, never the value itself.
secret_len() {
  kubectl get secret -n "$ns" "$1" -o json |
    jq -r --arg k "$2" 'if .data[$k] then (.data[$k] | @base64d | length) else "absent" end'
}
# The Secret's value into a file (mode 600 in $work), for comparisons; never on a command line or the screen.
secret_to_file() {
  kubectl get secret -n "$ns" "$1" -o json | jq -j --arg k "$2" '.data[$k] | @base64d' >"$3"
}
metric() { # metric NAME CR: the value of the series for CR, or "absent"
  curl -fsS "http://127.0.0.1:$metrics_port/metrics" |
    awk -v m="$1{namespace=\"$ns\",name=\"$2\"}" '$1 == m {print $2; found=1} END {if (!found) print "absent"}'
}
delivered_for() { # delivered_for CR KEY: the Secret holds KEY and Delivered=True
  [[ "$(key_of "$1")" == "$2" ]] && has_cond "$1" Delivered True Delivered
}
key_changed() { [[ "$(key_of "$1")" != "$2" ]]; }
previous_gone() { [[ "$(secret_len "$1" previousClientSecret)" == absent ]]; }
metric_is() { [[ "$(metric "$1" "$2")" == "$3" ]]; }
metric_present() { [[ "$(metric "$1" "$2")" != absent ]]; }

# --- Entra side (the emulator's admin API) -------------------------------------------------------------------------
admin() { curl -fsS --cacert "$ca" "$emu_url/_emulator/$1"; }
apps_json() { admin "tenants/$tenant_id/applications"; }
live_keys() { apps_json | jq -r --arg app "$1" '.[] | select(.appId == $app) | .passwordCredentials[].keyId'; }
has_key() { live_keys "$1" | grep -qx "$2"; }
lacks_key() { ! live_keys "$1" | grep -qx "$2"; }
show_app() {
  apps_json | jq --arg app "$1" '.[] | select(.appId == $app) | {
      displayName, appId, signInAudience, requestedAccessTokenVersion: .api.requestedAccessTokenVersion,
      redirectUris: .web.redirectUris,
      delegatedScopes: [.requiredResourceAccess[].resourceAccess[].id] | length,
      passwordCredentials: [.passwordCredentials[] | {keyId, hint, endDateTime}]}' | indent
}
app_gone() { [[ "$(apps_json | jq --arg app "$1" '[.[] | select(.appId == $app)] | length')" == 0 ]]; }

# --- NocoBase side (its HTTP API, root's API key from a header file) -----------------------------------------------
nb_record() { curl -fsS -H @"$work/nocobase-root.header" "$nb_url/api/mailSettings:get?filterByTk=$record_id"; }
# What NocoBase's record holds compared with the Secret: lengths, equality, Entra's hint. Fails on a difference.
nb_matches_secret() { # nb_matches_secret SECRET_NAME CR
  local app hint
  nb_record | jq -j '.data.clientSecret // ""' >"$work/nocobase.value"
  secret_to_file "$1" clientSecret "$work/secret.value"
  app="$(field "$2" '{.status.appId}')"
  hint="$(field "$2" '{.status.currentCredential.hint}')"
  cmp -s "$work/nocobase.value" "$work/secret.value" || return 1
  [[ "$(nb_record | jq -r '.data.clientId')" == "$app" && "$(nb_record | jq -r '.data.tenantId')" == "$tenant_id" ]] ||
    return 1
  [[ -z "$hint" || "$(head -c "${#hint}" "$work/nocobase.value")" == "$hint" ]] || return 1
}
show_nb_record() { # what the record holds, the secret as length + hint only
  local len hint
  nb_record | jq -j '.data.clientSecret // ""' >"$work/nocobase.value"
  len="$(wc -c <"$work/nocobase.value")"
  hint="$(field "$1" '{.status.currentCredential.hint}')"
  nb_record | jq -r --arg len "$len" '.data | "record \(.id) (provider \(.provider)): clientId \(.clientId), tenantId \(.tenantId), clientSecret \($len) characters"' | indent
  if [[ -n "$hint" && "$(head -c "${#hint}" "$work/nocobase.value")" == "$hint" ]]; then
    say "NocoBase's clientSecret starts with $hint..., Entra's hint for key $(key_of "$1")"
  fi
  if secret_to_file "$2" clientSecret "$work/secret.value" && cmp -s "$work/nocobase.value" "$work/secret.value"; then
    say "and it is byte for byte the clientSecret in Secret $ns/$2 (compared, not shown)"
  else
    say "it differs from the clientSecret in Secret $ns/$2"
  fi
}
# A person pasting the Secret's client ID, secret and tenant into NocoBase (Settings → Email settings saves the same
# fields through the same API).
nb_paste_from_secret() {
  kubectl get secret -n "$ns" "$1" -o json |
    jq -c '.data | {clientId: (.clientId | @base64d), clientSecret: (.clientSecret | @base64d), tenantId: (.tenantId | @base64d)}' |
    curl -fsS -o /dev/null -H @"$work/nocobase-root.header" -H 'Content-Type: application/json' --data-binary @- \
      "$nb_url/api/mailSettings:update?filterByTk=$record_id"
}

# The command the Delivered condition tells a person to run, checked to be exactly the expected annotation.
ack_command() { # ack_command CR KEY
  local msg cmd
  msg="$(cond "$1" Delivered message)"
  cmd="$(sed -n 's/.*then run: \(kubectl annotate .* --overwrite\).*/\1/p' <<<"$msg")"
  [[ "$cmd" == "kubectl annotate nocobasemailintegration $1 -n $ns entramail.io/acknowledged-key-id=$2 --overwrite" ]] ||
    fail "the Delivered message does not hold the expected command for key $2: $msg"
  printf '%s' "$cmd"
}
epoch() { date -d "$1" +%s; }

section "Setting up: NocoBase, the Entra emulator, the operator"

step "NocoBase 2.2.15 from npm (tests/nocobase/install.sh; cached in $NOCOBASE_HOME)"
t0=$SECONDS
tests/nocobase/install.sh 2>&1 | tee "$work/nocobase-install.log" | indent
nb_install_s=$((SECONDS - t0))
if grep -q 'cached in' "$work/nocobase-install.log"; then
  nb_install="warm (already installed)"
else
  nb_install="cold install ${nb_install_s}s"
  say "COLD install: NocoBase was installed in ${nb_install_s}s; later runs reuse $NOCOBASE_HOME"
fi

step "Starting a real NocoBase in the background (tests/nocobase/nocobase.sh start; SQLite, loopback)"
tests/nocobase/nocobase.sh start "$nbdir" >"$work/nocobase-start.log" 2>&1 &
nb_start_pid=$!
nb_start_t0=$SECONDS
say "instance directory $nbdir; provisioning: collection mailSettings + one record, API keys"

step "Building the operator and the Graph emulator ($profile)"
build_flags=(--workspace --locked --bins)
[[ "$profile" == release ]] && build_flags+=(--release)
cargo build "${build_flags[@]}" >"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; fail "cargo build"; }
tail -n 1 "$work/build.log" | indent
bin="${CARGO_TARGET_DIR:-$repo/target}/$profile"
[[ -x "$bin/entramail-operator" && -x "$bin/graph-emulator" ]] || fail "binaries missing in $bin"
# A CARGO_TARGET_DIR shared with another checkout can hold that checkout's binary; this demo needs NocoBase delivery.
"$bin/entramail-operator" --help | grep -q -- --delivery-allowed-hosts ||
  fail "$bin/entramail-operator has no --delivery-allowed-hosts: a stale binary (shared CARGO_TARGET_DIR?)"

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

step "Waiting for NocoBase"
wait "$nb_start_pid" || { indent <"$work/nocobase-start.log"; fail "NocoBase did not start"; }
indent <"$work/nocobase-start.log"
nb_url="$(cat "$nbdir/url")"
record_id="$(cat "$nbdir/record-id")"
# Root's API key, for the demo's own reads (and the "person" pasting by hand); in a header file, not on a command line.
printf 'Authorization: Bearer %s\n' "$(cat "$nbdir/api-key")" >"$work/nocobase-root.header"
chmod 600 "$work/nocobase-root.header"
say "NocoBase at $nb_url, ready $((SECONDS - nb_start_t0))s after the start (in parallel with the steps above)"
say "its mailSettings record $record_id, as NocoBase's API returns it now (empty):"
nb_record | jq -c '.data | {id, provider, clientId, tenantId, clientSecret}' | indent

step "Starting the operator (no leader election, trusting the emulator's CA, NocoBase delivery only to 127.0.0.1)"
metrics_port="$(free_port)"
RUST_LOG="${RUST_LOG:-info,kube=warn}" "$bin/entramail-operator" --no-leader-elect \
  --operator-namespace "$op_ns" --extra-ca-file "$ca" --delivery-allowed-hosts=127.0.0.1 \
  --metrics-bind-address "127.0.0.1:$metrics_port" >"$work/operator.log" 2>&1 &
operator_pid=$!
pids+=("$operator_pid")
wait_for 30 "the operator's /readyz" curl -fsS "http://127.0.0.1:$metrics_port/readyz"
say "operator pid $operator_pid, metrics on http://127.0.0.1:$metrics_port/metrics, JSON logs in $work/operator.log"

step "Applying examples/demo/10-entratenant.yaml and 20-namespace.yaml (EntraTenant -> the emulator)"
sed "s#https://127.0.0.1:8443#$emu_url#g" examples/demo/10-entratenant.yaml | kubectl apply -f - | indent
kubectl apply -f examples/demo/20-namespace.yaml | indent
kubectl wait --for=condition=Ready --timeout=60s entratenant/demo | indent

# ---------------------------------------------------------------------------------------------------------------------
section "A. Delivery into NocoBase's mailSettings record over its API (nocobase-mail)"
cr=nocobase-mail
secret=nocobase-mail-entra

step "A NocoBase API key for the operator, in a Secret (value not shown)"
say "the key's role may only view and update the fields clientId, clientSecret, tenantId of mailSettings"
kubectl create secret generic nocobase-api-key -n "$ns" --from-file=token="$nbdir/api-key-mailsettings" \
  --dry-run=client -o yaml | kubectl apply -f - | indent

step "Applying examples/demo/30-nocobasemailintegration.yaml (record $record_id at $nb_url)"
sed -e "s#http://127.0.0.1:13000#$nb_url#g" -e "s#filterByTk: \"1\"#filterByTk: \"$record_id\"#" \
  examples/demo/30-nocobasemailintegration.yaml | kubectl apply -f - | indent
kubectl get -n "$ns" nocobasemailintegration "$cr" -o json | jq -c '.spec.delivery' | indent

step "Provisioning: Ready, and Delivered once NocoBase read the secret back"
kubectl wait --for=condition=Ready --timeout=90s -n "$ns" "nocobasemailintegration/$cr" | indent
key1="$(key_of "$cr")"
[[ -n "$key1" ]] || fail "status.currentCredential.keyId is empty"
wait_for 60 "Delivered=True for $key1" delivered_for "$cr" "$key1"
app_id="$(field "$cr" '{.status.appId}')"
show_conditions "$cr"
say "Delivered: $(cond "$cr" Delivered message)"
say "status.delivery: $(field "$cr" '{.status.delivery}')"
[[ "$(field "$cr" '{.status.delivery.recordKeyId}')" == "$key1" ]] || fail "status.delivery.recordKeyId is not $key1"

step "The Secret the operator wrote (values hidden: only lengths are shown)"
kubectl get secret -n "$ns" "$secret" -o json |
  jq -r '.data | to_entries[] | "\(.key): \(.value | @base64d | length) bytes"' | indent
say "clientSecret keyId $key1, expires $(field "$cr" '{.status.currentCredential.notAfter}'), renewal at $(field "$cr" '{.status.renewalTime}')"

step "The secret read back from NocoBase's API (GET /api/mailSettings:get?filterByTk=$record_id)"
show_nb_record "$cr" "$secret"
nb_matches_secret "$secret" "$cr" || fail "NocoBase's record does not hold the Secret's client ID / secret / tenant"

step "The app registration as Entra (the emulator) sees it"
show_app "$app_id"
sp_count="$(admin "tenants/$tenant_id/servicePrincipals" | jq --arg app "$app_id" '[.[] | select(.appId == $app)] | length')"
say "service principals for the app: $sp_count; admin-consent grants: $(admin "tenants/$tenant_id/oauth2PermissionGrants" | jq 'length')"
[[ "$sp_count" == 1 ]] || fail "expected one service principal for $app_id"

old="$key1"
for round in $(seq 1 "$rounds"); do
  step "Rotation $round/$rounds: waiting for the scheduled renewal (lifetime 2m, renewBefore 90s)"
  wait_for 100 "a new credential (rotation $round)" key_changed "$cr" "$old"
  t_switch=$SECONDS
  new="$(key_of "$cr")"
  say "new keyId $new (was $old); Secret: clientSecret $(secret_len "$secret" clientSecret) bytes, previousClientSecret $(secret_len "$secret" previousClientSecret) bytes"
  has_key "$app_id" "$old" || fail "old key $old revoked right away"
  say "in Entra both are live: $(live_keys "$app_id" | paste -sd' ')"

  step "Rotation $round/$rounds: the new secret read back from NocoBase"
  # Until NocoBase confirmed the new key, the old one must stay live.
  deadline=$((SECONDS + 60))
  until delivered_for "$cr" "$new" && [[ "$(field "$cr" '{.status.delivery.recordKeyId}')" == "$new" ]]; do
    has_key "$app_id" "$old" || fail "old key $old revoked before NocoBase confirmed $new"
    ((SECONDS < deadline)) || fail "timed out waiting for NocoBase to confirm $new"
    sleep 1
  done
  t_confirmed=$SECONDS
  say "Delivered: $(cond "$cr" Delivered message)"
  show_nb_record "$cr" "$secret"
  nb_matches_secret "$secret" "$cr" || fail "NocoBase's record does not hold the new secret"
  revoke_after="$(field "$cr" "{.status.previousCredentials[?(@.keyId==\"$old\")].revokeAfter}")"
  say "previous key $old: revokeAfter $revoke_after (Secret switch + overlap 15s)"

  step "Rotation $round/$rounds: the old key revoked (confirmed by NocoBase, overlap over)"
  wait_for 60 "old key $old to be revoked" lacks_key "$app_id" "$old"
  t_revoked=$SECONDS
  if [[ -n "$revoke_after" ]] && (($(date +%s) < $(epoch "$revoke_after"))); then
    fail "old key $old revoked before revokeAfter $revoke_after"
  fi
  wait_for 30 "previousClientSecret to leave the Secret" previous_gone "$secret"
  say "seen: new key in the Secret at +0s, read back from NocoBase at +$((t_confirmed - t_switch))s, old key revoked at +$((t_revoked - t_switch))s"
  say "in Entra now: $(live_keys "$app_id" | paste -sd' '); previousClientSecret gone from the Secret"
  say "(the overlap is a minimum hold: had NocoBase not confirmed the new key, the old one would stay until it expires)"
  old="$new"
done

step "Metrics for $cr"
for m in entramail_integration_ready entramail_delivery_pending entramail_credential_not_after_seconds \
  entramail_credential_renewal_time_seconds entramail_previous_credential_not_after_seconds; do
  v="$(metric "$m" "$cr")"
  when=""
  [[ "$m" != *_seconds || "$v" == absent ]] || when=" ($(date -u -d "@${v%.*}" +%FT%TZ))"
  say "$m{namespace=\"$ns\",name=\"$cr\"} $v$when"
done
! metric_present entramail_previous_credential_not_after_seconds "$cr" ||
  fail "a previous secret is still waiting for $cr"
say "(no previous secret waiting, so entramail_previous_credential_not_after_seconds has no series)"
[[ "$(metric entramail_delivery_pending "$cr")" == 0 ]] || fail "entramail_delivery_pending is not 0 for $cr"

step "Deleting $cr: the finalizer deletes the app registration (deletionPolicy: Delete)"
kubectl delete -n "$ns" "nocobasemailintegration/$cr" --timeout=60s | indent
wait_for 30 "the app registration to be deleted" app_gone "$app_id"
say "app $app_id no longer exists in Entra"

# ---------------------------------------------------------------------------------------------------------------------
section "B. The manual path: a person pastes and acknowledges (nocobase-mail-manual)"
cr=nocobase-mail-manual
secret=nocobase-mail-manual-entra

step "Applying examples/demo/40-nocobasemailintegration-manual.yaml (no spec.delivery.nocobase, default audience)"
kubectl apply -f examples/demo/40-nocobasemailintegration-manual.yaml | indent
kubectl wait --for=condition=Ready --timeout=90s -n "$ns" "nocobasemailintegration/$cr" | indent
key1="$(key_of "$cr")"
app_id="$(field "$cr" '{.status.appId}')"
show_app "$app_id"
[[ "$(apps_json | jq -r --arg app "$app_id" '.[] | select(.appId == $app) | "\(.signInAudience) \(.api.requestedAccessTokenVersion)"')" == "AzureADandPersonalMicrosoftAccount 2" ]] ||
  fail "expected the default audience with v2 tokens"

step "Delivered=False, reason ManualUpdateRequired: nothing can confirm NocoBase has it, so a person is asked"
wait_for 30 "Delivered=False ManualUpdateRequired" has_cond "$cr" Delivered False ManualUpdateRequired
show_conditions "$cr"
say "Delivered message:"
cond "$cr" Delivered message | fold -s -w 106 | indent | indent
cmd="$(ack_command "$cr" "$key1")"
wait_for 15 "entramail_delivery_pending=1" metric_is entramail_delivery_pending "$cr" 1
say "metric entramail_delivery_pending{name=\"$cr\"} $(metric entramail_delivery_pending "$cr") (the chart's alert EntramailDeliveryPending fires after 30m of this)"

step "The person pastes client ID and secret into NocoBase, then runs the command from the message"
nb_paste_from_secret "$secret"
say "pasted into NocoBase's mailSettings record $record_id (here through NocoBase's API, as the Email settings page saves it)"
show_nb_record "$cr" "$secret"
say "\$ $cmd"
read -ra argv <<<"$cmd"
"${argv[@]}" | indent
wait_for 30 "Delivered=True after the acknowledgement" delivered_for "$cr" "$key1"
say "Delivered: $(cond "$cr" Delivered message)"
wait_for 15 "entramail_delivery_pending=0" metric_is entramail_delivery_pending "$cr" 0

step "A rotation (forced: kubectl annotate ... entramail.io/rotate=<now>)"
kubectl annotate -n "$ns" nocobasemailintegration "$cr" entramail.io/rotate="$(date -u +%FT%TZ)" --overwrite | indent
wait_for 60 "a new credential" key_changed "$cr" "$key1"
key2="$(key_of "$cr")"
t_switch=$SECONDS
say "new keyId $key2 (was $key1); the Secret switched; Secret previousClientSecret $(secret_len "$secret" previousClientSecret) bytes"
ack_pending() { has_cond "$cr" Delivered False ManualUpdateRequired && [[ "$(cond "$cr" Delivered message)" == *"$key2"* ]]; }
wait_for 30 "Delivered=False ManualUpdateRequired for $key2" ack_pending
say "Delivered message:"
cond "$cr" Delivered message | fold -s -w 106 | indent | indent
cmd="$(ack_command "$cr" "$key2")"
wait_for 15 "entramail_previous_credential_not_after_seconds" metric_present entramail_previous_credential_not_after_seconds "$cr"
prev_not_after="$(metric entramail_previous_credential_not_after_seconds "$cr")"
say "metric entramail_previous_credential_not_after_seconds{name=\"$cr\"} $prev_not_after = $(date -u -d "@${prev_not_after%.*}" +%FT%TZ): when the old key, which NocoBase still uses, expires (alert EntramailPreviousCredentialExpiringSoon)"

step "Nobody acknowledged yet: the old key outlives the 5s overlap"
revoke_after="$(field "$cr" "{.status.previousCredentials[?(@.keyId==\"$key1\")].revokeAfter}")"
[[ -n "$revoke_after" ]] || fail "status.previousCredentials has no $key1"
until (($(date +%s) > $(epoch "$revoke_after") + 10)); do sleep 1; done
has_key "$app_id" "$key1" || fail "old key $key1 revoked without the acknowledgement"
[[ "$(secret_len "$secret" previousClientSecret)" =~ ^[0-9]+$ ]] || fail "previousClientSecret left the Secret unacknowledged"
say "revokeAfter was $revoke_after, now $(date -u +%FT%TZ): $key1 is still live in Entra ($(live_keys "$app_id" | paste -sd' '))"
say "and still in the Secret as previousClientSecret: NocoBase, still holding it, keeps sending mail"

step "The person pastes the new secret into NocoBase and runs the new command"
nb_paste_from_secret "$secret"
show_nb_record "$cr" "$secret"
say "\$ $cmd"
read -ra argv <<<"$cmd"
t_ack=$SECONDS
"${argv[@]}" | indent
wait_for 30 "Delivered=True for $key2" delivered_for "$cr" "$key2"
wait_for 30 "old key $key1 to be revoked" lacks_key "$app_id" "$key1"
say "old key $key1 revoked $((SECONDS - t_ack))s after the acknowledgement ($((t_ack - t_switch))s after the rotation)"
say "in Entra now: $(live_keys "$app_id" | paste -sd' ')"
wait_for 30 "previousClientSecret to leave the Secret" previous_gone "$secret"

step "Events of $cr"
kubectl get events -n "$ns" --field-selector involvedObject.name="$cr" \
  -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message --sort-by=.lastTimestamp 2>/dev/null |
  cut -c1-150 | tail -n 10 | indent

step "Deleting $cr: the finalizer deletes the app registration"
kubectl delete -n "$ns" "nocobasemailintegration/$cr" --timeout=60s | indent
wait_for 30 "the app registration to be deleted" app_gone "$app_id"
say "app $app_id no longer exists in Entra"

printf '\nDEMO PASSED in %ds (NocoBase: %s): A. delivered into a real NocoBase record and read back, %d scheduled\n' \
  "$((SECONDS - demo_t0))" "$nb_install" "$rounds"
printf '   rotation(s), old key revoked after confirmation; B. manual path acknowledged twice, old key kept past the\n'
printf '   overlap until the acknowledgement; both app registrations cleaned up.\n'
