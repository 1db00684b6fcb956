#!/usr/bin/env bash
# `make e2e-node` (opt-in, never part of `make test`): the operator image built here, installed with the chart onto
# a real kubelet node, running as a pod under the chart's ServiceAccount.
#
#   1. build: kubelet/scheduler/versioned apiserver (tests/node/build.sh), helm (tests/tools/build.sh), the operator
#      image (tests/node/image.sh, `make image`), the NocoBase image (tests/node/nocobase-image.sh, from the NocoBase
#      `make test` installs) and the Graph emulator; all cached
#   2. a fresh one-node cluster (tests/node/with-cluster.sh): control plane + kube-scheduler + kubelet/containerd
#   3. both images imported into the node's containerd; helm install with image.pullPolicy=Never
#   4. the operator pod Ready, as UID 65532 on a read-only root filesystem, under the chart's ServiceAccount, holding
#      the leader Lease; kubectl logs shows its JSON logs
#   5. a Graph emulator on the host: EntraTenant and NocoBaseMailIntegration Ready, the Secret written
#   6. helm upgrade (new pod, Lease handed over, integration still Ready)
#   7. a rotation: the consumer, a real NocoBase Deployment (pod on the CNI bridge, the integration's Secret as env,
#      readiness = NocoBase's health check), is rolled out by the real kubelet: a new pod with the new secret in its
#      environment becomes Ready, the old pod goes, and only after that Ready transition the old key is revoked
#      (timestamps: the pod's Ready condition vs the emulator's removePassword log line)
#   8. helm uninstall leaves CRDs and custom resources
#
# Needs root (kubelet, containerd), Debian's containerd/runc/containernetworking-plugins (installed if missing).
# E2E_KEEP=1 keeps the work directory and TESTBED_KEEP=1 the cluster's logs. E2E_SKIP_BUILD=1 uses the image archive
# and emulator already built (E2E_IMAGE_TAG, E2E_EMULATOR=path); the NocoBase image is cached by its own stamp.
# Secret values are never printed: the script compares SHA-256 hashes of them.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export TESTBIN="${TESTBIN:-${CARGO_TARGET_DIR:-$repo/target}/testbin}"
target="${CARGO_TARGET_DIR:-$repo/target}"
export E2E_IMAGE_REPOSITORY="${E2E_IMAGE_REPOSITORY:-ghcr.io/entramail/entramail-operator}"
export E2E_IMAGE_TAG="${E2E_IMAGE_TAG:-dev}"

t0="${E2E_T0:-$(date +%s)}"
elapsed() { printf '%3ds' $(($(date +%s) - t0)); }
step() { printf '\n==> [%s] %s\n' "$(elapsed)" "$*"; }
fail() {
  printf '\ne2e-node: FAILED: %s\n' "$*" >&2
  exit 1
}

# Outside the cluster: build everything first (the cluster would idle during a cold build), then re-run this script
# inside a fresh cluster.
if [[ -z "${NODE_DIR:-}" ]]; then
  [[ $EUID -eq 0 ]] || fail "needs root (kubelet and containerd)"
  step "Building kubelet, kube-scheduler, kube-apiserver (version-stamped), pause image"
  "$here/build.sh"
  step "Building helm"
  "$here/../tools/build.sh" helm
  if [[ "${E2E_SKIP_BUILD:-0}" != 1 ]]; then
    step "Building the operator image (make image)"
    IMAGE_REPOSITORY="$E2E_IMAGE_REPOSITORY" IMAGE_TAG="$E2E_IMAGE_TAG" "$here/image.sh"
    step "Building the Graph emulator"
    (cd "$repo" && cargo build --release --locked -p graph-emulator)
  fi
  step "Building the NocoBase image (tests/node/nocobase-image.sh; cached)"
  E2E_NOCOBASE_ARCHIVE="$("$here/nocobase-image.sh")"
  export E2E_NOCOBASE_ARCHIVE
  step "Starting a one-node cluster"
  export E2E_T0=$t0
  exec "$here/with-cluster.sh" "$0" "$@"
fi

helm="$TESTBIN/helm"
archive="$target/image/entramail-operator-$E2E_IMAGE_TAG.oci.tar"
emulator="${E2E_EMULATOR:-$target/release/graph-emulator}"
release=entramail-operator
ns=entramail-system
app_ns=nocobase
tenant_id=11111111-2222-3333-4444-555555555555
operator_client_id=66666666-7777-8888-9999-000000000000
work="$(mktemp -d "${TMPDIR:-/tmp}/entramail-e2e-node.XXXXXX")"
emulator_pid=
cleanup() {
  local rc=$?
  [[ -n "$emulator_pid" ]] && kill "$emulator_pid" 2>/dev/null && wait "$emulator_pid" 2>/dev/null
  if [[ $rc -ne 0 ]]; then
    echo "--- pods, events ---" >&2
    kubectl get pods -A -o wide >&2 || true
    kubectl get events -n "$ns" --sort-by=.lastTimestamp 2>/dev/null | tail -n 15 >&2 || true
    echo "--- operator logs ---" >&2
    kubectl logs -n "$ns" deploy/"$release" --tail=20 >&2 2>/dev/null || true
    [[ -s "$work/emulator.log" ]] && { echo "--- emulator log ---" >&2; tail -n 10 "$work/emulator.log" >&2; }
  fi
  if [[ "${E2E_KEEP:-0}" == 1 || $rc -ne 0 ]]; then echo "e2e-node: work directory kept: $work" >&2; else rm -rf "$work"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=tests/lib.sh
source "$here/../lib.sh" # free_port, wait_for
operator_pod() {
  kubectl get pods -n "$ns" -l app.kubernetes.io/instance="$release" \
    --field-selector=status.phase=Running -o jsonpath='{.items[*].metadata.name}'
}
lease_holder() { kubectl get lease -n "$ns" entramail-operator -o jsonpath='{.spec.holderIdentity}'; }
holder_is() { [[ "$(lease_holder)" == "$1" ]]; }
# host_pid NAMESPACE POD: the host PID of the pod's (first) container's process, from containerd's task list.
host_pid() {
  local cid pid
  cid="$(kubectl get pod -n "$1" "$2" -o jsonpath='{.status.containerStatuses[0].containerID}')"
  cid="${cid#containerd://}"
  pid="$(ctr --address "$NODE_DIR/containerd/containerd.sock" -n k8s.io tasks ls | awk -v c="$cid" '$1 == c { print $2 }')"
  [[ -n "$pid" ]] || fail "no task for container $cid of pod $1/$2"
  echo "$pid"
}

step "Importing the operator image ($E2E_IMAGE_REPOSITORY:$E2E_IMAGE_TAG) and the NocoBase image into the node"
"$NODE_CTL" import "$NODE_DIR" "$archive" "$E2E_NOCOBASE_ARCHIVE"
nocobase_image="$(tar -xOf "$E2E_NOCOBASE_ARCHIVE" index.json | jq -r '.manifests[0].annotations["io.containerd.image.name"]')"

step "Starting the Graph emulator on the host (the hostNetwork pod reaches it on loopback)"
emu_port="$(free_port)"
operator_secret="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
# Debug level for its own crate: one "graph request" line per Graph call (method, route, status; never secrets), with
# a UTC timestamp: the removePassword line is when the old key went.
RUST_LOG=info,graph_emulator=debug NO_COLOR=1 \
  "$emulator" --bind "127.0.0.1:$emu_port" --tenant "$tenant_id" --client-id "$operator_client_id" \
  --client-secret "$operator_secret" --ca-out "$work/emulator-ca.pem" >"$work/emulator.log" 2>&1 &
emulator_pid=$!
wait_for 30 "the emulator" curl -fsS --cacert "$work/emulator-ca.pem" "https://127.0.0.1:$emu_port/_emulator/clock"

step "Namespace, tenant credential Secret, emulator CA ConfigMap"
kubectl create namespace "$ns"
kubectl create secret generic entra-operator-credentials -n "$ns" --from-literal=clientSecret="$operator_secret"
kubectl create configmap entramail-e2e-ca -n "$ns" --from-file=ca.pem="$work/emulator-ca.pem"

api_port="$(sed -n 's/^--secure-port=//p' "$TESTBED_DIR/apiserver.args")"
metrics_port="$(free_port)"
cat >"$work/values.yaml" <<EOF
image:
  repository: $E2E_IMAGE_REPOSITORY
  tag: "$E2E_IMAGE_TAG"
  pullPolicy: Never
metrics:
  # hostNetwork: a free host port, not 8080.
  port: $metrics_port
extraEnv:
  # No kube-proxy and an apiserver on loopback: in-cluster config pointed at it directly.
  - {name: KUBERNETES_SERVICE_HOST, value: "127.0.0.1"}
  - {name: KUBERNETES_SERVICE_PORT, value: "$api_port"}
  - {name: EXTRA_CA_FILE, value: /etc/entramail-e2e/ca.pem}
EOF
export E2E_CA_CONFIGMAP=entramail-e2e-ca

step "helm install (image.pullPolicy=Never; post-renderer: hostNetwork, Recreate, emulator CA)"
"$helm" install "$release" "$repo/charts/entramail-operator" -n "$ns" -f "$work/values.yaml" \
  --post-renderer "$here/postrender.py" --wait --timeout 3m --hide-notes
kubectl get pods -n "$ns" -o wide

step "The operator pod: Ready, ServiceAccount, UID 65532, read-only root, leader Lease"
pod="$(operator_pod)"
[[ -n "$pod" && "$pod" != *" "* ]] || fail "expected one running operator pod, got '$pod'"
kubectl wait -n "$ns" --for=condition=Ready "pod/$pod" --timeout=60s
sa="$(kubectl get deploy -n "$ns" "$release" -o jsonpath='{.spec.template.spec.serviceAccountName}')"
[[ "$(kubectl get pod -n "$ns" "$pod" -o jsonpath='{.spec.serviceAccountName}')" == "$sa" ]] || fail "pod not under $sa"
kubectl get serviceaccount -n "$ns" "$sa" >/dev/null || fail "ServiceAccount $sa missing"
# The container's process as the host sees it: its credentials and its root mount.
pid="$(host_pid "$ns" "$pod")"
uids="$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")"
gids="$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")"
[[ "$uids" == "65532 65532 65532 65532" && "$gids" == "65532 65532 65532 65532" ]] \
  || fail "operator runs as uid/gid '$uids'/'$gids', not 65532"
root_opts="$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo")"
[[ ",$root_opts," == *,ro,* ]] || fail "root filesystem mounted '$root_opts', not read-only"
caps="$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")"
[[ "$caps" == 0000000000000000 ]] || fail "effective capabilities $caps, expected none"
echo "pod $pod: serviceAccount $sa, uid/gid 65532, root mount ($root_opts), no capabilities, host pid $pid"
wait_for 60 "pod $pod to hold the leader Lease" holder_is "$pod"
echo "Lease $ns/entramail-operator held by $(lease_holder)"
kubectl logs -n "$ns" "$pod" --tail=3
kubectl logs -n "$ns" "$pod" | grep -q '"acquired leadership' || fail "no 'acquired leadership' in the pod's logs"
curl -fsS "http://127.0.0.1:$metrics_port/readyz" >/dev/null || fail "/readyz on host port $metrics_port"

step "EntraTenant + NocoBaseMailIntegration against the emulator"
# Own manifests (not examples/demo/, which follows the demo): the tenant is the emulator, the integration's only
# delivery is the consumer Deployment below, whose finished rollout confirms a new secret (no acknowledgement).
kubectl apply -f - <<EOF
apiVersion: entramail.io/v1alpha1
kind: EntraTenant
metadata: {name: e2e}
spec:
  tenantId: $tenant_id
  cloud: Custom
  endpoints:
    authorityHost: https://127.0.0.1:$emu_port
    graphEndpoint: https://127.0.0.1:$emu_port
  auth:
    clientSecret:
      clientId: $operator_client_id
      secretRef: {name: entra-operator-credentials, key: clientSecret}
  allowedNamespaces:
    names: [$app_ns]
EOF
kubectl create namespace "$app_ns"
# The consumer the operator rollout-restarts: a real NocoBase (tests/node/nocobase-image.sh), reading the Secret the
# operator writes as environment variables, Ready only when NocoBase's health check answers (200 "ok" only once its
# main app is running, docs/nocobase.md). Until the Secret exists its pod waits in CreateContainerConfigError.
# SQLite on an emptyDir, seeded from the image's template by the entry point; a random APP_KEY.
kubectl create secret generic nocobase-app-key -n "$app_ns" \
  --from-literal=APP_KEY="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
kubectl apply -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: nocobase, namespace: $app_ns}
spec:
  replicas: 1
  # The default RollingUpdate (maxSurge 1, maxUnavailable 0 for one replica): the new pod is Ready before the old goes.
  selector: {matchLabels: {app: nocobase}}
  template:
    metadata: {labels: {app: nocobase}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532}
      terminationGracePeriodSeconds: 10
      containers:
        - name: nocobase
          image: $nocobase_image
          imagePullPolicy: Never
          ports: [{name: http, containerPort: 13000}]
          env:
            - {name: APP_KEY, valueFrom: {secretKeyRef: {name: nocobase-app-key, key: APP_KEY}}}
            - {name: ENTRA_CLIENT_ID, valueFrom: {secretKeyRef: {name: nocobase-mail-entra, key: clientId}}}
            - {name: ENTRA_CLIENT_SECRET, valueFrom: {secretKeyRef: {name: nocobase-mail-entra, key: clientSecret}}}
            - {name: ENTRA_TENANT_ID, valueFrom: {secretKeyRef: {name: nocobase-mail-entra, key: tenantId}}}
          readinessProbe:
            httpGet: {path: /api/__health_check, port: http}
            periodSeconds: 2
            timeoutSeconds: 2
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
          volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, emptyDir: {}}]
EOF
# Short durations so that a rotation happens within two minutes (after the first NocoBase pod is Ready): lifetime
# 3m, renewed with 1m left, overlap 15s.
kubectl apply -f - <<EOF
apiVersion: entramail.io/v1alpha1
kind: NocoBaseMailIntegration
metadata: {name: nocobase-mail, namespace: $app_ns}
spec:
  tenantRef: {name: e2e}
  application:
    displayName: NocoBase mail (e2e-node)
    signInAudience: AzureADMyOrg
    nocobaseOrigin: https://nocobase.example.com
    adminConsent: true
  secret: {name: nocobase-mail-entra, lifetime: 3m, renewBefore: 1m}
  rotation:
    overlap: 15s
    consumers:
      - {kind: Deployment, name: nocobase}
  delivery: {acknowledgement: NotRequired}
  deletionPolicy: Delete
EOF
kubectl wait --for=condition=Ready --timeout=90s entratenant/e2e
kubectl wait --for=condition=Ready --timeout=120s -n "$app_ns" nocobasemailintegration/nocobase-mail
kubectl get secret -n "$app_ns" nocobase-mail-entra -o json \
  | jq -e '.data.clientId and .data.clientSecret' >/dev/null || fail "Secret nocobase-mail-entra incomplete"
kubectl get entratenant,nocobasemailintegration -A

step "helm upgrade (logLevel=debug): a new pod takes the Lease over"
"$helm" upgrade "$release" "$repo/charts/entramail-operator" -n "$ns" -f "$work/values.yaml" \
  --set logLevel=debug --post-renderer "$here/postrender.py" --wait --timeout 3m --hide-notes
new_pod_ready() {
  local p
  p="$(operator_pod)"
  [[ -n "$p" && "$p" != "$pod" && "$p" != *" "* ]] || return 1
  kubectl wait -n "$ns" --for=condition=Ready "pod/$p" --timeout=1s
}
wait_for 120 "the upgraded operator pod" new_pod_ready
new_pod="$(operator_pod)"
wait_for 60 "pod $new_pod to hold the leader Lease" holder_is "$new_pod"
[[ "$(kubectl get deploy -n "$ns" "$release" -o jsonpath='{.spec.template.spec.containers[0].env[0].value}')" == debug ]] \
  || fail "upgrade did not set RUST_LOG=debug"
echo "Lease held by $new_pod (was $pod); revision $("$helm" status "$release" -n "$ns" -o json | jq .version)"
kubectl wait --for=condition=Ready --timeout=60s -n "$app_ns" nocobasemailintegration/nocobase-mail

step "A rotation confirmed by a real NocoBase rollout: a new pod with the new secret Ready, the old pod gone, then the old key revoked"
# The operator revokes the old key only after the consumer Deployment finished rolling out (and the overlap passed),
# which here a real kubelet and the deployment controller do with a real NocoBase (no test double).
cr_field() { kubectl get -n "$app_ns" nocobasemailintegration nocobase-mail -o "jsonpath=$1"; }
live_keys() {
  curl -fsS --cacert "$work/emulator-ca.pem" "https://127.0.0.1:$emu_port/_emulator/tenants/$tenant_id/applications" \
    | jq -r --arg app "$(cr_field '{.status.appId}')" '.[] | select(.appId == $app) | .passwordCredentials[].keyId'
}
key_changed() { [[ "$(cr_field '{.status.currentCredential.keyId}')" != "$1" ]]; }
lacks_key() { ! live_keys | grep -qx "$1"; }
# Secret values only ever pass through this: the first 16 hex digits of their SHA-256 are what the log shows.
fingerprint() { sha256sum | cut -c1-16; }
secret_fingerprint() {
  kubectl get secret -n "$app_ns" nocobase-mail-entra -o 'jsonpath={.data.clientSecret}' | base64 -d | fingerprint
}
# The consumer's pods that are not terminating: name, UID, phase, pod IP, Ready status.
consumer_pods() {
  kubectl get pods -n "$app_ns" -l app=nocobase -o json | jq -r '.items[] | select(.metadata.deletionTimestamp == null)
    | "\(.metadata.name) \(.metadata.uid) \(.status.phase) \(.status.podIP // "-")"
      + " \([.status.conditions[]? | select(.type == "Ready") | .status][0] // "Unknown")"'
}
consumer_ready_on_bridge() { [[ "$(consumer_pods)" =~ ^[^$'\n']+\ Running\ 10\.244\.0\.[0-9]+\ True$ ]]; }
# ENTRA_CLIENT_SECRET as the container's process has it, fingerprinted. kubectl exec (through the apiserver and the
# kubelet's streaming server) when it works; the image has no shell or printenv, so Node prints the variable. Else
# the process's /proc/<pid>/environ on the host. choose_env_method (run once, not in a subshell) decides.
env_method=
choose_env_method() {
  if kubectl exec -n "$app_ns" "$1" -c nocobase -- node -e 'process.exit(0)' >/dev/null 2>"$work/exec.err"; then
    env_method="kubectl exec POD -- node -e (prints the variable into a pipe to sha256sum)"
  else
    env_method="/proc/<pid>/environ of the container's process on the host (kubectl exec failed: $(head -c 300 "$work/exec.err"))"
  fi
}
container_env_fingerprint() {
  local pod=$1 pid
  if [[ "$env_method" == "kubectl exec"* ]]; then
    kubectl exec -n "$app_ns" "$pod" -c nocobase -- \
      node -e 'process.stdout.write(process.env.ENTRA_CLIENT_SECRET || "")' | fingerprint
  else
    pid="$(host_pid "$app_ns" "$pod")"
    tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^ENTRA_CLIENT_SECRET=//p' | tr -d '\n' | fingerprint
  fi
}
ready_since() {
  kubectl get pod -n "$app_ns" "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].lastTransitionTime}'
}
# The emulator's "graph request" log lines of removePassword calls that succeeded (204), in order.
removals() { sed -n '/graph request/{/route=\/applications\/{id}\/removePassword status=204/p}' "$work/emulator.log"; }

wait_for 240 "the NocoBase pod Ready on the pod network (CNI bridge)" consumer_ready_on_bridge
read -r old_pod old_uid _ old_ip _ <<<"$(consumer_pods)"
choose_env_method "$old_pod"
echo "reading the containers' environment with: $env_method"
in_sync() { [[ "$(container_env_fingerprint "$old_pod")" == "$(secret_fingerprint)" ]]; }
wait_for 60 "pod $old_pod's environment to hold the Secret's clientSecret" in_sync
old_key="$(cr_field '{.status.currentCredential.keyId}')"
old_fp="$(secret_fingerprint)"
removals_before="$(removals | wc -l)"
health="$(curl -fsS -m 5 "http://$old_ip:13000/api/__health_check")" || fail "NocoBase at $old_ip:13000 does not answer"
[[ "$health" == ok ]] || fail "NocoBase's health check at $old_ip answered '$health'"
nb_pid="$(host_pid "$app_ns" "$old_pod")"
[[ "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$nb_pid/status")" == "65532 65532 65532 65532" ]] \
  || fail "NocoBase does not run as UID 65532"
echo "NocoBase pod $old_pod (uid $old_uid) Ready since $(ready_since "$old_pod") at $old_ip, process UID 65532;" \
  "GET http://$old_ip:13000/api/__health_check -> $health"
echo "its ENTRA_CLIENT_SECRET: sha256 $old_fp... = the Secret's clientSecret (key $old_key)"

wait_for 180 "a new credential" key_changed "$old_key"
new_key="$(cr_field '{.status.currentCredential.keyId}')"
live_keys | grep -qx "$old_key" || fail "old key $old_key revoked as soon as the new one was issued"
secret_changed() { [[ "$(secret_fingerprint)" != "$old_fp" ]]; }
wait_for 60 "the Secret to hold the new client secret" secret_changed
new_fp="$(secret_fingerprint)"
echo "new key $new_key issued; the Secret's clientSecret: sha256 $new_fp... (was $old_fp...)"
# A pod other than the old one, Ready. (Whether the old key outlived that is decided below from timestamps: the
# operator may revoke a second after the rollout completes, faster than this loop polls.)
new_consumer_ready() { consumer_pods | awk -v old="$old_uid" '$2 != old && $5 == "True" { f = 1 } END { exit !f }'; }
wait_for 240 "a new NocoBase pod Ready" new_consumer_ready
read -r new_pod new_uid _ new_ip _ <<<"$(consumer_pods | awk -v old="$old_uid" '$2 != old && $5 == "True"' | head -n1)"
new_ready_at="$(ready_since "$new_pod")"
restarted="$(kubectl get deploy -n "$app_ns" nocobase -o 'jsonpath={.spec.template.metadata.annotations.entramail\.io/restartedAt}')"
[[ -n "$restarted" ]] || fail "the consumer Deployment was not restarted by the operator"
new_env_fp="$(container_env_fingerprint "$new_pod")"
[[ "$new_env_fp" == "$new_fp" ]] || fail "new pod $new_pod's ENTRA_CLIENT_SECRET (sha256 $new_env_fp...) is not the new secret"
echo "new NocoBase pod $new_pod (uid $new_uid, $new_ip) Ready at $new_ready_at, restartedAt $restarted;" \
  "its ENTRA_CLIENT_SECRET: sha256 $new_env_fp... = the new secret"
old_pod_gone() { ! kubectl get pods -n "$app_ns" -o json | jq -e --arg uid "$old_uid" 'any(.items[]; .metadata.uid == $uid)'; }
wait_for 90 "the old NocoBase pod $old_pod to be gone" old_pod_gone
echo "old pod $old_pod (uid $old_uid) is gone"
wait_for 120 "old key $old_key to be revoked after the rollout and the overlap" lacks_key "$old_key"
seen_revoked="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
# The emulator's removePassword that took the old key out: the first one after the key was recorded.
removal="$(removals | sed -n "$((removals_before + 1))p")"
removed_at="$(awk '{ print $1 }' <<<"$removal")"
[[ -n "$removed_at" ]] || fail "no removePassword in the emulator's log after $removals_before earlier ones"
removed_ms="$(date -d "$removed_at" +%s%3N)"
# When the new pod became Ready, two ways: the kubelet's readiness probe result (its log, millisecond precision; the
# kubelet runs in this host's time zone) and the API's Ready condition (lastTransitionTime, whole seconds, truncated,
# written a moment after the probe). The removal must come after both.
probe_line="$(grep -F '"SyncLoop (probe)" probe="readiness" status="ready"' "$NODE_DIR/kubelet.log" \
  | grep -F "pod=\"$app_ns/$new_pod\"" | head -n1)"
[[ -n "$probe_line" ]] || fail "no readiness probe success for $new_pod in the kubelet's log"
probe_at="$(awk '{ print substr($1, 2), $2 }' <<<"$probe_line")" # MMDD hh:mm:ss.micro
probe_ms="$(date -d "$(date +%Y)-${probe_at:0:2}-${probe_at:2:2} ${probe_at:5}" +%s%3N)"
ready_s="$(date -d "$new_ready_at" +%s)"
((removed_ms > probe_ms)) \
  || fail "old key removed at $removed_at, before the new pod's readiness probe succeeded ($probe_at)"
((removed_ms >= ready_s * 1000)) \
  || fail "old key removed at $removed_at, before the new pod's Ready condition ($new_ready_at)"
echo "old key $old_key removed by the emulator at $removed_at (removePassword 204): $(((removed_ms - probe_ms) / 1000)).$(printf '%03d' $(((removed_ms - probe_ms) % 1000)))s" \
  "after the new pod's readiness probe succeeded (kubelet $(date -u -d "@${probe_ms:0:-3}.${probe_ms: -3}" +%H:%M:%S.%3N)Z), Ready" \
  "condition since $new_ready_at; seen gone at $seen_revoked"
# With a 3m lifetime the next rotation may already have restarted the consumer again; let that settle too.
kubectl rollout status -n "$app_ns" deploy/nocobase --timeout=180s >/dev/null
echo "consumer after: $(consumer_pods | awk '{ print $1, $3, $4, "ready=" $5 }')"

step "helm uninstall: the operator goes, CRDs and custom resources stay"
"$helm" uninstall "$release" -n "$ns" --wait --timeout 2m
no_operator_pods() { [[ -z "$(kubectl get pods -n "$ns" -l app.kubernetes.io/instance="$release" -o name)" ]]; }
wait_for 60 "the operator pods to go" no_operator_pods
kubectl get crd entratenants.entramail.io nocobasemailintegrations.entramail.io
kubectl get nocobasemailintegration -n "$app_ns" nocobase-mail >/dev/null || fail "the integration went with the chart"

printf '\ne2e-node PASSED in %s: images built here, chart installed on a real node, operator pod Ready under its ServiceAccount with the Lease, integration Ready against the emulator, upgrade, rotation through a real NocoBase rollout (new pod Ready with the new secret before the old key was revoked), uninstall.\n' \
  "$(elapsed)"
