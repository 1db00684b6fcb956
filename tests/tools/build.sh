#!/usr/bin/env bash
# Builds the pinned chart test tools (helm, trivy) from the Go module proxy into
# ${TESTBIN:-${CARGO_TARGET_DIR:-target}/testbin}/. Idempotent: a tool is rebuilt only when the binary for the
# version pinned in tests/tools/go.mod is missing (a <tool>.version stamp sits next to it).
# Usage: tests/tools/build.sh [helm|trivy ...]   (default: all)
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
)

wanted=("$@")
cd "${tools_dir}"
for entry in "${all_tools[@]}"; do
  IFS='|' read -r name module pkg <<<"${entry}"
  if ((${#wanted[@]})) && [[ " ${wanted[*]} " != *" ${name} "* ]]; then
    continue
  fi
  version="$(go list -m -f '{{.Version}}' "${module}")"
  stamp="${bin_dir}/${name}.version"
  if [[ -x "${bin_dir}/${name}" && -f "${stamp}" && "$(cat "${stamp}")" == "${version}" ]]; then
    echo "build.sh: ${name} ${version} already built (${bin_dir}/${name})"
    continue
  fi
  echo "build.sh: building ${name} ${version} -> ${bin_dir}/${name}"
  ldflags="-s -w"
  case "${name}" in
    helm) ldflags+=" -X helm.sh/helm/v3/internal/version.version=${version}" ;;
    trivy) ldflags+=" -X github.com/aquasecurity/trivy/pkg/version/app.ver=${version#v}" ;;
  esac
  # Build to a temp name first so an interrupted build never leaves a binary that looks finished.
  CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "${ldflags}" -o "${bin_dir}/${name}.tmp" "${pkg}"
  mv -f "${bin_dir}/${name}.tmp" "${bin_dir}/${name}"
  echo "${version}" >"${stamp}"
done
