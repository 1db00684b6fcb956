#!/usr/bin/env bash
# A real Kubernetes control plane for tests, envtest style: etcd + kube-apiserver (+ kube-controller-manager for
# owner-reference garbage collection and namespace deletion) on free loopback ports, in one directory.
#
#   control-plane.sh start DIR              start everything, write DIR/kubeconfig, wait for /readyz
#   control-plane.sh stop DIR               stop everything started from DIR
#   control-plane.sh restart-apiserver DIR  kill -9 kube-apiserver and start it again with the same flags
#
# Authentication: an admin client certificate (O=system:masters); authorization: RBAC (so tests can run the operator
# under a ServiceAccount token and see exactly what its Role grants).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
TESTBIN="${TESTBIN:-${CARGO_TARGET_DIR:-$repo/target}/testbin}"

# shellcheck source=tests/lib.sh
source "$here/../lib.sh" # free_port, wait_for, stop_pid

gen_certs() {
  local d="$1/pki"
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=testbed-ca" 2>/dev/null
    # kube-apiserver serving certificate
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 2 -extfile apiserver.ext 2>/dev/null
    # admin client certificate: group system:masters bypasses RBAC
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=testbed-admin" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 2 -extfile client.ext 2>/dev/null
    # service-account token signing key
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
}

write_kubeconfig() {
  local dir="$1" port="$2"
  b64() { base64 -w0 <"$1"; }
  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $(b64 "$dir/pki/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$dir/pki/admin.crt")
    client-key-data: $(b64 "$dir/pki/admin.key")
contexts:
- name: testbed
  context: {cluster: testbed, user: admin}
current-context: testbed
EOF
}

wait_ready() {
  local dir="$1" port="$2" i
  for i in $(seq 1 300); do
    if curl -fsS --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
      "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$(cat "$dir/apiserver.pid")" 2>/dev/null; then
      echo "testbed: kube-apiserver exited; last log lines:" >&2
      tail -n 30 "$dir/apiserver.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "testbed: kube-apiserver not ready after 60s; last log lines:" >&2
  tail -n 30 "$dir/apiserver.log" >&2
  return 1
}

start_apiserver() {
  local dir="$1"
  # shellcheck disable=SC2046
  setsid "$TESTBIN/kube-apiserver" $(cat "$dir/apiserver.args") >>"$dir/apiserver.log" 2>&1 </dev/null &
  echo $! >"$dir/apiserver.pid"
}

start() {
  local dir="$1"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  gen_certs "$dir"
  local etcd_port etcd_peer api_port
  etcd_port="$(free_port)"
  etcd_peer="$(free_port)"
  api_port="$(free_port)"

  setsid "$TESTBIN/etcd" --data-dir "$dir/etcd" --name testbed \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "testbed=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync --log-level warn \
    >"$dir/etcd.log" 2>&1 </dev/null &
  echo $! >"$dir/etcd.pid"

  cat >"$dir/apiserver.args" <<EOF
--etcd-servers=http://127.0.0.1:$etcd_port
--bind-address=127.0.0.1
--secure-port=$api_port
--cert-dir=$dir/apiserver-certs
--tls-cert-file=$dir/pki/apiserver.crt
--tls-private-key-file=$dir/pki/apiserver.key
--client-ca-file=$dir/pki/ca.crt
--authorization-mode=RBAC
--service-account-issuer=https://kubernetes.default.svc
--service-account-key-file=$dir/pki/sa.pub
--service-account-signing-key-file=$dir/pki/sa.key
--service-cluster-ip-range=10.0.0.0/24
--allow-privileged=true
--disable-admission-plugins=ServiceAccount
--advertise-address=127.0.0.1
--endpoint-reconciler-type=none
EOF
  start_apiserver "$dir"
  write_kubeconfig "$dir" "$api_port"
  wait_ready "$dir" "$api_port"

  # Controllers: garbage collection (owner references) and namespace deletion. Deployments stay unreconciled on
  # purpose: no kubelet runs here, so rollouts never complete and the operator's overlap bound is what ends a wait.
  setsid "$TESTBIN/kube-controller-manager" --kubeconfig "$dir/kubeconfig" \
    --controllers="${TESTBED_CONTROLLERS:-garbagecollector,namespace}" \
    --leader-elect=false --secure-port=0 --use-service-account-credentials=false \
    >"$dir/controller-manager.log" 2>&1 </dev/null &
  echo $! >"$dir/controller-manager.pid"
  echo "testbed: control plane up at https://127.0.0.1:$api_port (kubeconfig $dir/kubeconfig)" >&2
}

stop() {
  local dir="$1"
  stop_pid "$dir/controller-manager.pid"
  stop_pid "$dir/apiserver.pid"
  stop_pid "$dir/etcd.pid"
}

restart_apiserver() {
  local dir="$1" port
  kill -KILL "$(cat "$dir/apiserver.pid")" 2>/dev/null || true
  sleep 0.5
  start_apiserver "$dir"
  port="$(sed -n 's/^--secure-port=//p' "$dir/apiserver.args")"
  wait_ready "$dir" "$port"
}

case "${1:-}" in
  start) start "${2:?directory}" ;;
  stop) stop "${2:?directory}" ;;
  restart-apiserver) restart_apiserver "${2:?directory}" ;;
  *) echo "usage: $0 start|stop|restart-apiserver DIR" >&2; exit 2 ;;
esac
