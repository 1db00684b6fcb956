#!/usr/bin/env bash
# Builds the pinned chart test tools (helm, trivy) and actionlint (lints .github/workflows) from the Go module proxy into
# ${TESTBIN:-${CARGO_TARGET_DIR:-target}/testbin}/. Idempotent: a tool is rebuilt only when the binary for the
# version pinned in tests/tools/go.mod is missing (a <tool>.version stamp sits next to it).
# Usage: tests/tools/build.sh [helm|trivy|actionlint ...]   (default: all)
set -euo pipefail

tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${tools_dir}/../.." && pwd)"
# Same location rule as tests/testbed/build.sh, so kubectl, helm and trivy sit side by side.
bin_dir="${TESTBIN:-${CARGO_TARGET_DIR:-${repo_root}/target}/testbin}"
case "${bin_dir}" in /*) ;; *) bin_dir="${repo_root}/${bin_dir}" ;; esac
mkdir -p "${bin_dir}"

# name|module|package
all_tools=(
  "helm|helm.sh/helm/v3|helm.sh/helm/v3/cmd/helm"
  "trivy|github.com/aquasecurity/trivy|github.com/aquasecurity/trivy/cmd/trivy"
  "actionlint|github.com/rhysd/actionlint|github.com/rhysd/actionlint/cmd/actionlint"
)

wanted=("$@")
cd "${tools_dir}"
for entry in "${all_tools[@]}"; do
  IFS='|' read -r name module pkg <<<"${entry}"
  if ((${#wanted[@]})) && [[ " ${wanted[*]} " != *" ${name} "* ]]; then
    continue
  fi
  version="$(go list -m -f '{{.Version}}' "${module}")"
  ldflags="-s -w"
  goexperiment="${GOEXPERIMENT:-}"
  case "${name}" in
    helm)
      # As helm's Makefile does: the version, and the Kubernetes version `helm template`/`lint` assume
      # (client-go v0.X.Y -> 1.X; without it helm assumes v1.20 and rejects the chart's kubeVersion).
      k8s_minor="$(go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)"
      ldflags+=" -X helm.sh/helm/v3/internal/version.version=${version}"
      for v in pkg/lint/rules pkg/chartutil; do
        ldflags+=" -X helm.sh/helm/v3/${v}.k8sVersionMajor=1 -X helm.sh/helm/v3/${v}.k8sVersionMinor=${k8s_minor}"
      done
      ;;
    # trivy uses encoding/json/v2, which Go 1.26 gates behind GOEXPERIMENT=jsonv2 (trivy's own release build sets it).
    trivy)
      ldflags+=" -X github.com/aquasecurity/trivy/pkg/version/app.ver=${version#v}"
      goexperiment="jsonv2${goexperiment:+,${goexperiment}}"
      ;;
    # As actionlint's release build does: `actionlint -version` reports the pinned version.
    actionlint)
      ldflags+=" -X github.com/rhysd/actionlint.version=${version}"
      ;;
  esac
  # The stamp records version and build flags, so changing either triggers a rebuild.
  stamp="${bin_dir}/${name}.version"
  want="${version} GOEXPERIMENT=${goexperiment} ${ldflags}"
  if [[ -x "${bin_dir}/${name}" && -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
    echo "build.sh: ${name} ${version} already built (${bin_dir}/${name})"
    continue
  fi
  echo "build.sh: building ${name} ${version} -> ${bin_dir}/${name}"
  # Build to a temp name first so an interrupted build never leaves a binary that looks finished.
  GOEXPERIMENT="${goexperiment}" CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "${ldflags}" -o "${bin_dir}/${name}.tmp" "${pkg}"
  mv -f "${bin_dir}/${name}.tmp" "${bin_dir}/${name}"
  echo "${want}" >"${stamp}"
done
