//go:build tools

// Package tools pins the chart test tools (helm, trivy) and actionlint (the release workflow); tests/tools/build.sh
// builds them.
package tools

import (
	_ "github.com/aquasecurity/trivy/cmd/trivy"
	_ "github.com/rhysd/actionlint/cmd/actionlint"
	_ "helm.sh/helm/v3/cmd/helm"
)
