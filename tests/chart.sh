#!/usr/bin/env bash
# Chart checks (run by `make chart`, and by `make test` on the real test control plane):
#   1. build the pinned helm + trivy (tests/tools/build.sh; cached)
#   2. helm lint --strict with default values and every tests/chart-values/*.yaml
#   3. helm template each of those and assert what the manifests must say (tests/chart_checks.py); expand the
#      PrometheusRule's annotations as Prometheus would (Go text/template with stand-ins for Prometheus' functions)
#   4. values.schema.json negative tests: every tests/chart-values/invalid/*.yaml must make `helm template` fail
#      with a schema error
#   5. trivy config: 0 HIGH/CRITICAL misconfigurations in the chart (default values and every values file) and in
#      the Dockerfile
#   6. actionlint (pinned in tests/tools/go.mod) on .github/workflows/ (the release workflow): 0 findings; it also
#      runs the workflow's run: scripts through shellcheck when that is installed (and skips that check otherwise)
#   7. when KUBECONFIG points at the test control plane (tests/testbed/with-control-plane.sh sets
#      TESTBED_KUBECONFIG): kubectl apply --server-side --dry-run=server of every rendering (CRDs included;
#      ServiceMonitor/PrometheusRule skipped, their CRDs are not installed there), and the same for the example
#      EntraTenant/NocoBaseMailIntegration that NOTES.txt tells users to apply; then the operator binary is started
#      with each rendering's container arguments and must answer /healthz (the chart/binary flag contract)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
TESTBIN="${TESTBIN:-${CARGO_TARGET_DIR:-$repo/target}/testbin}"
case "$TESTBIN" in /*) ;; *) TESTBIN="$repo/$TESTBIN" ;; esac
export TESTBIN
chart="$repo/charts/entramail-operator"
values_dir="$here/chart-values"
release=entramail
namespace=entramail-system

step() { printf '\n=== chart: %s\n' "$*"; }
fail() {
  printf 'chart: FAILED: %s\n' "$*" >&2
  exit 1
}

step "building pinned helm, trivy and actionlint"
"$here/tools/build.sh" helm trivy actionlint
helm="$TESTBIN/helm"
trivy="$TESTBIN/trivy"
"$helm" version --short
"$trivy" --version | head -n1

work="$(mktemp -d "${TMPDIR:-/tmp}/entramail-chart.XXXXXX")"
op_pid=""
cleanup() {
  [[ -z "$op_pid" ]] || kill "$op_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# helm must not read or write the user's helm config, nor trivy its cache, outside the work/target dirs.
export HELM_CONFIG_HOME="$work/helm/config" HELM_CACHE_HOME="$work/helm/cache" HELM_DATA_HOME="$work/helm/data"

crd_count="$(find "$chart/crds" -maxdepth 1 -name '*.yaml' | wc -l)"
[[ "$crd_count" -ge 2 ]] || fail "expected the CRDs in $chart/crds (run \`make crds\`), found $crd_count file(s)"

# Value sets: "default" (no file) plus every tests/chart-values/*.yaml.
cases=(default)
for f in "$values_dir"/*.yaml; do cases+=("$(basename "$f" .yaml)"); done
values_args() { [[ "$1" == default ]] || printf -- '--values\n%s\n' "$values_dir/$1.yaml"; }

step "helm lint --strict (${cases[*]})"
for c in "${cases[@]}"; do
  mapfile -t va < <(values_args "$c")
  "$helm" lint --strict "$chart" --namespace "$namespace" "${va[@]}" >"$work/lint-$c.log" 2>&1 \
    || { cat "$work/lint-$c.log" >&2; fail "helm lint ($c)"; }
  echo "ok: lint $c"
done

step "helm template + manifest assertions"
for c in "${cases[@]}"; do
  mapfile -t va < <(values_args "$c")
  "$helm" template "$release" "$chart" --namespace "$namespace" --include-crds "${va[@]}" >"$work/$c.yaml" \
    || fail "helm template ($c)"
  echo "rendered $c: $(grep -c '^kind:' "$work/$c.yaml") objects"
done
python3 "$here/chart_checks.py" "$work" "$namespace" "${cases[@]}"

step "PrometheusRule annotations expand as Prometheus alert templates"
# Prometheus expands each alert annotation as a Go text/template with $labels/$value defined and its own functions
# (query, first, value, humanizeDuration, ...). This stdlib-only program does the same with stand-ins for those
# functions, once with a query answer and once without, so a template error shows here instead of in Alertmanager.
mkdir -p "$work/alert-templates"
cat >"$work/alert-templates/main.go" <<'GO'
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
	"time"
)

type sample struct {
	Labels map[string]string
	Value  float64
}

func main() {
	defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
	data := map[string]any{
		"Labels":         map[string]string{"namespace": "nocobase-prod", "name": "nocobase-mail", "reason": "GraphError"},
		"ExternalLabels": map[string]string{},
		"ExternalURL":    "http://prometheus.example",
		"Value":          float64(3600),
	}
	failed := false
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		var a struct{ Alert, Key, Text string }
		if err := json.Unmarshal(in.Bytes(), &a); err != nil {
			panic(err)
		}
		for _, answer := range [][]sample{{{Labels: map[string]string{}, Value: 86400 * 5}}, {}} {
			var queries []string
			funcs := template.FuncMap{
				"query": func(q string) ([]sample, error) { queries = append(queries, q); return answer, nil },
				"first": func(v []sample) (sample, error) {
					if len(v) == 0 {
						return sample{}, fmt.Errorf("first() on an empty result")
					}
					return v[0], nil
				},
				"label":              func(l string, s sample) string { return s.Labels[l] },
				"value":              func(s sample) float64 { return s.Value },
				"humanize":           func(v any) (string, error) { return fmt.Sprint(v), nil },
				"humanizeDuration":   func(v any) (string, error) { return fmt.Sprint(time.Duration(v.(float64)) * time.Second), nil },
				"humanizeTimestamp":  func(v any) (string, error) { return time.Unix(int64(v.(float64)), 0).UTC().String(), nil },
				"humanizePercentage": func(v any) (string, error) { return fmt.Sprint(v), nil },
				"toUpper":            strings.ToUpper,
				"toLower":            strings.ToLower,
				"title":              strings.Title,
			}
			t, err := template.New(a.Alert).Option("missingkey=zero").Funcs(funcs).Parse(defs + a.Text)
			var out strings.Builder
			if err == nil {
				err = t.Execute(&out, data)
			}
			if err != nil {
				fmt.Printf("FAIL %s %s: %v\n", a.Alert, a.Key, err)
				failed = true
				continue
			}
			fmt.Printf("ok %s %s (query answers: %d): %s\n", a.Alert, a.Key, len(answer), out.String())
			for _, q := range queries {
				fmt.Printf("query %s %s\n", a.Alert, q)
			}
		}
	}
	if failed {
		os.Exit(1)
	}
}
GO
templated=0
for c in "${cases[@]}"; do
  grep -q '^kind: PrometheusRule' "$work/$c.yaml" || continue
  python3 "$here/chart_checks.py" --alert-templates "$work/$c.yaml" >"$work/alerts-$c.jsonl"
  (cd "$work/alert-templates" && go run main.go) <"$work/alerts-$c.jsonl" >"$work/alerts-$c.out" 2>&1 \
    || { cat "$work/alerts-$c.out" >&2; fail "alert annotation templates ($c)"; }
  grep -qxF 'query EntramailDeliveryPending entramail_previous_credential_not_after_seconds{namespace="nocobase-prod",name="nocobase-mail"} - time()' \
    "$work/alerts-$c.out" || { cat "$work/alerts-$c.out" >&2; fail "EntramailDeliveryPending does not query the previous secret's expiry ($c)"; }
  echo "ok: $c: $(grep -c '^ok ' "$work/alerts-$c.out") annotation expansions (with and without query answers)"
  templated=$((templated + 1))
done
[[ $templated -gt 0 ]] || fail "no values case renders the PrometheusRule"

step "NOTES.txt examples"
# helm template does not render NOTES.txt, and helm install needs a cluster whose version satisfies kubeVersion (the
# test control plane built from source reports v0.0.0). So render NOTES through a copy of the chart in which a
# ConfigMap template runs NOTES.txt through tpl, then pull out the example manifests it tells users to apply.
cp -r "$chart" "$work/notes-chart"
cp "$chart/templates/NOTES.txt" "$work/notes-chart/notes-under-test.txt"
cat >"$work/notes-chart/templates/zz-notes-under-test.yaml" <<'TPL'
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes-under-test
data:
  notes: {{ tpl (.Files.Get "notes-under-test.txt") . | quote }}
TPL
for c in "${cases[@]}"; do
  mapfile -t va < <(values_args "$c")
  "$helm" template "$release" "$work/notes-chart" --namespace "$namespace" "${va[@]}" \
    --show-only templates/zz-notes-under-test.yaml >"$work/notes-$c.rendered" || fail "rendering NOTES ($c)"
  python3 "$here/chart_checks.py" --notes-manifests "$work/notes-$c.rendered" "$namespace" >"$work/notes-$c.yaml"
  echo "ok: NOTES for $c: $(grep -c '^kind:' "$work/notes-$c.yaml") example manifests, placeholders filled"
done

step "values.schema.json rejects bad values"
neg=0
for f in "$values_dir"/invalid/*.yaml; do
  name="$(basename "$f" .yaml)"
  if "$helm" template "$release" "$chart" --namespace "$namespace" --values "$f" >"$work/neg.out" 2>"$work/neg.err"; then
    fail "invalid values $name were accepted by helm template"
  fi
  grep -qi 'schema' "$work/neg.err" || { cat "$work/neg.err" >&2; fail "invalid values $name failed, but not on the schema"; }
  echo "ok: rejected $name: $(grep -m1 "at '" "$work/neg.err" | sed 's/^[[:space:]-]*//')"
  neg=$((neg + 1))
done
[[ $neg -gt 0 ]] || fail "no negative values files in $values_dir/invalid"

step "trivy config --severity HIGH,CRITICAL"
trivy_cache="$TESTBIN/../trivy-cache"
# The ignore file holds the reviewed exceptions (each with its reason); it is applied to the chart's default
# rendering only. The namespace-restricted renderings must be clean without it.
ignore="$here/chart-trivyignore.yaml"
run_trivy() {
  local label="$1"
  shift
  if ! "$trivy" config --quiet --cache-dir "$trivy_cache" --skip-check-update \
    --severity HIGH,CRITICAL --exit-code 1 "$@" >"$work/trivy.out" 2>&1; then
    cat "$work/trivy.out" >&2
    fail "trivy found HIGH/CRITICAL misconfigurations ($label)"
  fi
  echo "ok: trivy $label: 0 HIGH/CRITICAL"
}
for c in "${cases[@]}"; do
  mapfile -t va < <(values_args "$c")
  helm_values=()
  [[ ${#va[@]} -eq 0 ]] || helm_values=(--helm-values "${va[1]}")
  if python3 "$here/chart_checks.py" --cluster-secrets "$work/$c.yaml"; then
    run_trivy "chart/$c (reviewed exceptions: $(basename "$ignore"))" --ignorefile "$ignore" "${helm_values[@]}" "$chart"
  else
    run_trivy "chart/$c (no exceptions)" "${helm_values[@]}" "$chart"
  fi
done
# The exception must hide exactly the one reviewed finding: without the ignore file, the default rendering's only
# HIGH/CRITICAL finding is "Manage secrets" on the all-namespace integrations ClusterRole.
"$trivy" config --quiet --cache-dir "$trivy_cache" --skip-check-update --severity HIGH,CRITICAL --format json \
  "$chart" >"$work/trivy-default.json" || fail "trivy json run"
found="$(jq -r '[.Results[]?.Misconfigurations[]? | select(.Status == "FAIL") | "\(.ID) \(.Message)"] | .[]' \
  "$work/trivy-default.json")"
expected_re="^KSV-?0*41 ClusterRole '[^']*-integrations' shouldn't have access to manage resource 'secrets'$"
if [[ "$(printf '%s\n' "$found" | grep -c .)" != 1 ]] || ! grep -Eq "$expected_re" <<<"$found"; then
  printf 'unexpected HIGH/CRITICAL findings without the exceptions file:\n%s\n' "$found" >&2
  fail "trivy exceptions no longer match the reviewed finding"
fi
echo "ok: trivy without exceptions finds only the reviewed one: $found"
mkdir -p "$work/docker"
cp "$repo/Dockerfile" "$work/docker/Dockerfile"
run_trivy "Dockerfile" "$work/docker"

step "actionlint .github/workflows"
actionlint="$TESTBIN/actionlint"
# The linter must actually lint: a workflow with an unknown context property has to fail. (The ${{ }} is a GitHub
# expression for actionlint, not a shell expansion.)
# shellcheck disable=SC2016
if printf 'on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "${{ github.no_such_thing }}"\n' \
  | "$actionlint" -no-color - >/dev/null 2>&1; then
  fail "actionlint accepted a broken workflow"
fi
shellcheck_note="with shellcheck"
command -v shellcheck >/dev/null || shellcheck_note="without shellcheck (not installed; actionlint skips that check)"
workflows=("$repo"/.github/workflows/*.yml)
(cd "$repo" && "$actionlint" -no-color "${workflows[@]}") || fail "actionlint found problems in .github/workflows"
echo "ok: actionlint $("$actionlint" -version | head -n1): ${#workflows[@]} workflow(s) clean, $shellcheck_note"

if [[ -n "${TESTBED_KUBECONFIG:-}" && "${KUBECONFIG:-}" == "$TESTBED_KUBECONFIG" ]]; then
  step "kubectl apply --server-side --dry-run=server on the test control plane"
  kubectl="$TESTBIN/kubectl"
  [[ -x "$kubectl" ]] || fail "$kubectl missing (tests/testbed/build.sh builds it)"
  # The CRDs go in for real (identical to what the integration tests apply), so that the NOTES examples below can be
  # validated by the apiserver's schema and CEL rules.
  "$kubectl" apply --server-side --force-conflicts --field-manager=chart-test -f "$chart/crds" >/dev/null
  "$kubectl" wait --for=condition=Established --timeout=60s -f "$chart/crds" >/dev/null
  for c in "${cases[@]}"; do
    # Namespaces must exist for a namespaced dry-run; create them for real (the control plane is throwaway).
    # Labelled for the restricted Pod Security Standard: the apiserver's PodSecurity admission then warns about any
    # pod template of the chart that would violate it (checked below).
    python3 "$here/chart_checks.py" --namespaces "$work/$c.yaml" "$namespace" | while read -r ns; do
      "$kubectl" create namespace "$ns" --dry-run=client -o yaml | "$kubectl" apply --server-side -f - >/dev/null
      "$kubectl" label --overwrite namespace "$ns" pod-security.kubernetes.io/enforce=restricted \
        pod-security.kubernetes.io/warn=restricted >/dev/null
    done
    python3 "$here/chart_checks.py" --without-kinds "$work/$c.yaml" ServiceMonitor PrometheusRule >"$work/$c-dry.yaml"
    "$kubectl" apply --server-side --dry-run=server --field-manager=chart-test -f "$work/$c-dry.yaml" \
      >"$work/dry-$c.log" 2>&1 || { cat "$work/dry-$c.log" >&2; fail "server dry-run ($c)"; }
    if grep -q "would violate PodSecurity" "$work/dry-$c.log"; then
      cat "$work/dry-$c.log" >&2
      fail "server dry-run ($c): the chart's pods violate the restricted Pod Security Standard"
    fi
    echo "ok: server dry-run $c: $(wc -l <"$work/dry-$c.log") objects accepted, restricted Pod Security without warnings"
    # NOTES: the example EntraTenant and NocoBaseMailIntegration it tells users to apply must be valid.
    "$kubectl" apply --server-side --dry-run=server --field-manager=chart-test -f "$work/notes-$c.yaml" \
      >"$work/notes-$c.log" 2>&1 || { cat "$work/notes-$c.yaml" "$work/notes-$c.log" >&2; fail "NOTES examples ($c)"; }
    echo "ok: NOTES examples for $c accepted by the apiserver: $(tr '\n' ' ' <"$work/notes-$c.log")"
  done

  # The check above can fail: a pod template running as root in the same kind of namespace draws the warning.
  "$kubectl" apply --server-side --dry-run=server --field-manager=chart-test -f - >"$work/psa-negative.log" 2>&1 <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: psa-negative, namespace: $namespace}
spec:
  selector: {matchLabels: {app: psa-negative}}
  template:
    metadata: {labels: {app: psa-negative}}
    spec:
      containers: [{name: c, image: example.invalid/c, securityContext: {runAsUser: 0}}]
EOF
  grep -q "would violate PodSecurity" "$work/psa-negative.log" \
    || { cat "$work/psa-negative.log" >&2; fail "PodSecurity admission gave no warning for a root pod: the check above proves nothing"; }
  echo "ok: PodSecurity admission warns about a root pod in a restricted namespace (negative check)"

  step "the operator binary accepts the chart's arguments (runs against the test control plane until /healthz)"
  operator_bin="${CARGO_TARGET_DIR:-$repo/target}/debug/entramail-operator"
  [[ -x "$operator_bin" ]] || (cd "$repo" && cargo build --workspace --locked --bin entramail-operator)
  for c in "${cases[@]}"; do
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    mapfile -t args < <(python3 "$here/chart_checks.py" --container-args "$work/$c.yaml" "127.0.0.1:$port")
    POD_NAMESPACE="$namespace" POD_NAME="chart-test-$c" RUST_LOG=info "$operator_bin" "${args[@]}" \
      >"$work/operator-$c.log" 2>&1 &
    op_pid=$!
    healthy=""
    for _ in $(seq 1 150); do
      kill -0 "$op_pid" 2>/dev/null || break
      if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then healthy=1 && break; fi
      sleep 0.2
    done
    # SIGTERM right after /healthz answers (mid start-up, as a rollout does): it must exit, in well under the
    # chart's terminationGracePeriodSeconds.
    kill "$op_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$op_pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$op_pid" 2>/dev/null; then
      kill -9 "$op_pid" 2>/dev/null || true
      tail -n 20 "$work/operator-$c.log" >&2
      fail "operator still running 20s after SIGTERM ($c)"
    fi
    wait "$op_pid" 2>/dev/null || true
    op_pid=""
    if [[ -z "$healthy" ]]; then
      tail -n 20 "$work/operator-$c.log" >&2
      fail "operator did not become healthy with the chart's arguments ($c): ${args[*]}"
    fi
    echo "ok: operator healthy with $c arguments: ${args[*]}"
  done
else
  step "server dry-run skipped (KUBECONFIG is not the test control plane; run via tests/testbed/with-control-plane.sh)"
fi

printf '\nchart: all checks passed\n'
