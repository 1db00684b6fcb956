#!/usr/bin/env bash
# `make e2e-node` (opt-in, never part of `make test`): the operator image built here, installed with the chart onto
# a real kubelet node, running as a pod under the chart's ServiceAccount.
#
#   1. build: kubelet/scheduler/versioned apiserver (tests/node/build.sh), helm (tests/tools/build.sh), the operator
#      image (tests/node/image.sh, `make image`) and the Graph emulator; all cached
#   2. a fresh one-node cluster (tests/node/with-cluster.sh): control plane + kube-scheduler + kubelet/containerd
#   3. the image imported into the node's containerd; helm install with image.pullPolicy=Never
#   4. the operator pod Ready, as UID 65532 on a read-only root filesystem, under the chart's ServiceAccount, holding
#      the leader Lease; kubectl logs shows its JSON logs
#   5. a Graph emulator on the host: EntraTenant and NocoBaseMailIntegration Ready, the Secret written
#   6. helm upgrade (new pod, Lease handed over, integration still Ready)
#   7. a rotation: the consumer Deployment (a pod on the CNI bridge) is rolled out by the real kubelet, and only then
#      the old key is revoked
#   8. helm uninstall leaves CRDs and custom resources
#
# Needs root (kubelet, containerd), Debian's containerd/runc/containernetworking-plugins (installed if missing).
# E2E_KEEP=1 keeps the work directory and TESTBED_KEEP=1 the cluster's logs. E2E_SKIP_BUILD=1 uses the image archive
# and emulator already built (E2E_IMAGE_TAG, E2E_EMULATOR=path).
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

step "Importing the operator image into the node ($E2E_IMAGE_REPOSITORY:$E2E_IMAGE_TAG)"
"$NODE_CTL" import "$NODE_DIR" "$archive"

step "Starting the Graph emulator on the host (the hostNetwork pod reaches it on loopback)"
emu_port="$(free_port)"
operator_secret="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
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
cid="$(kubectl get pod -n "$ns" "$pod" -o jsonpath='{.status.containerStatuses[0].containerID}')"
cid="${cid#containerd://}"
pid="$(ctr --address "$NODE_DIR/containerd/containerd.sock" -n k8s.io tasks ls | awk -v c="$cid" '$1 == c { print $2 }')"
[[ -n "$pid" ]] || fail "no task for container $cid"
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
# The consumer the operator rollout-restarts: a pause container (no registry here; the image is on the node).
kubectl apply -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: nocobase, namespace: $app_ns}
spec:
  replicas: 1
  selector: {matchLabels: {app: nocobase}}
  template:
    metadata: {labels: {app: nocobase}}
    spec:
      containers:
        - name: nocobase
          image: entramail.test/pause:local
          imagePullPolicy: Never
EOF
# Short durations so that a rotation happens within a minute: lifetime 2m, renewed with 1m left, overlap 15s.
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
  secret: {name: nocobase-mail-entra, lifetime: 2m, renewBefore: 1m}
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

step "A rotation confirmed by a real rollout: the consumer's new pod runs on the node, then the old key goes"
# The operator revokes the old key only after the consumer Deployment finished rolling out (and the overlap passed),
# which here a real kubelet and the deployment controller do (no test double).
cr_field() { kubectl get -n "$app_ns" nocobasemailintegration nocobase-mail -o "jsonpath=$1"; }
live_keys() {
  curl -fsS --cacert "$work/emulator-ca.pem" "https://127.0.0.1:$emu_port/_emulator/tenants/$tenant_id/applications" \
    | jq -r --arg app "$(cr_field '{.status.appId}')" '.[] | select(.appId == $app) | .passwordCredentials[].keyId'
}
key_changed() { [[ "$(cr_field '{.status.currentCredential.keyId}')" != "$1" ]]; }
lacks_key() { ! live_keys | grep -qx "$1"; }
# The consumer's pods that are not terminating: name, phase, pod IP.
consumer_pods() {
  kubectl get pods -n "$app_ns" -l app=nocobase -o json \
    | jq -r '.items[] | select(.metadata.deletionTimestamp == null) | "\(.metadata.name) \(.status.phase) \(.status.podIP // "")"'
}
consumer_on_bridge() { [[ "$(consumer_pods)" =~ ^[^$'\n']+\ Running\ 10\.244\.0\.[0-9]+$ ]]; }
wait_for 60 "the consumer pod running on the pod network (CNI bridge)" consumer_on_bridge
old_key="$(cr_field '{.status.currentCredential.keyId}')"
old_consumer="$(consumer_pods)"
echo "consumer before: $old_consumer"
wait_for 120 "a new credential" key_changed "$old_key"
live_keys | grep -qx "$old_key" || fail "old key $old_key revoked as soon as the new one was issued"
restarted="$(kubectl get deploy -n "$app_ns" nocobase -o 'jsonpath={.spec.template.metadata.annotations.entramail\.io/restartedAt}')"
[[ -n "$restarted" ]] || fail "the consumer Deployment was not restarted"
kubectl rollout status -n "$app_ns" deploy/nocobase --timeout=60s
wait_for 90 "old key $old_key to be revoked after the rollout and the overlap" lacks_key "$old_key"
echo "key $old_key -> $(cr_field '{.status.currentCredential.keyId}'); consumer restarted at $restarted"
# With a 2m lifetime the next rotation may already have restarted the consumer again; let that settle too.
kubectl rollout status -n "$app_ns" deploy/nocobase --timeout=60s >/dev/null
echo "consumer after: $(consumer_pods) (restartedAt $(kubectl get deploy -n "$app_ns" nocobase \
  -o 'jsonpath={.spec.template.metadata.annotations.entramail\.io/restartedAt}'))"
[[ "$(consumer_pods)" != "$old_consumer" ]] || fail "the consumer pod was not replaced"

step "helm uninstall: the operator goes, CRDs and custom resources stay"
"$helm" uninstall "$release" -n "$ns" --wait --timeout 2m
no_operator_pods() { [[ -z "$(kubectl get pods -n "$ns" -l app.kubernetes.io/instance="$release" -o name)" ]]; }
wait_for 60 "the operator pods to go" no_operator_pods
kubectl get crd entratenants.entramail.io nocobasemailintegrations.entramail.io
kubectl get nocobasemailintegration -n "$app_ns" nocobase-mail >/dev/null || fail "the integration went with the chart"

printf '\ne2e-node PASSED in %s: image built here, chart installed on a real node, operator pod Ready under its ServiceAccount with the Lease, integration Ready against the emulator, upgrade, rotation through a real rollout, uninstall.\n' \
  "$(elapsed)"
