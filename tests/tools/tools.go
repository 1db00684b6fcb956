//go:build tools

// Package tools pins the chart test tools (helm, trivy); tests/tools/build.sh builds them.
package tools

import (
	_ "github.com/aquasecurity/trivy/cmd/trivy"
	_ "helm.sh/helm/v3/cmd/helm"
)
