#!/usr/bin/env python3
"""helm --post-renderer for the node e2e (tests/node/e2e.sh): adapts the chart's Deployment to the test bed, and
nothing else.

The test control plane's apiserver listens on 127.0.0.1 only and has no kube-proxy, so the operator pod runs with
hostNetwork (it reaches the apiserver and the Graph emulator on loopback; e2e.sh points KUBERNETES_SERVICE_HOST/PORT
at the apiserver through the chart's extraEnv). With hostNetwork the metrics port is a host port, so a rolling
update could never place the new pod next to the old one: the strategy becomes Recreate. The emulator's private CA
comes from the ConfigMap named by E2E_CA_CONFIGMAP (mounted at /etc/entramail-e2e; EXTRA_CA_FILE set by e2e.sh).

Reads the rendered manifests on stdin, writes them to stdout.
"""

import os
import sys

import yaml


def main() -> int:
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d is not None]
    found = 0
    for doc in docs:
        if doc.get("kind") != "Deployment":
            continue
        found += 1
        spec = doc["spec"]
        spec["strategy"] = {"type": "Recreate"}
        pod = spec["template"]["spec"]
        pod["hostNetwork"] = True
        pod["dnsPolicy"] = "ClusterFirstWithHostNet"
        ca = os.environ.get("E2E_CA_CONFIGMAP")
        if ca:
            pod.setdefault("volumes", []).append({"name": "e2e-ca", "configMap": {"name": ca}})
            for c in pod["containers"]:
                c.setdefault("volumeMounts", []).append(
                    {"name": "e2e-ca", "mountPath": "/etc/entramail-e2e", "readOnly": True}
                )
    if found != 1:
        print(f"postrender.py: expected one Deployment, found {found}", file=sys.stderr)
        return 1
    yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
