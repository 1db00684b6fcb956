#!/usr/bin/env python3
"""Assertions on the chart's `helm template` output (called by tests/chart.sh).

  chart_checks.py WORKDIR NAMESPACE CASE...      assert every WORKDIR/CASE.yaml
  chart_checks.py --namespaces FILE NAMESPACE    print the namespaces the rendering's objects live in
  chart_checks.py --without-kinds FILE KIND...   print the rendering without objects of these kinds
  chart_checks.py --cluster-secrets FILE         exit 0 when a ClusterRole grants access to Secrets
  chart_checks.py --container-args FILE ADDR     print the operator's args, metrics bound to ADDR
  chart_checks.py --notes-manifests FILE NS      print the YAML examples in rendered NOTES (FILE: a ConfigMap
                                                 with data.notes), placeholders filled in, namespaced into NS
  chart_checks.py --alert-templates FILE         print the PrometheusRule's alert annotations (JSON lines:
                                                 alert, key, text) for the Prometheus template check in chart.sh
"""
import json
import sys

import yaml

REPO_IMAGE = "ghcr.io/entramail/entramail-operator"
DEFAULT_ALLOWED_HOSTS = "--delivery-allowed-hosts=*.svc,*.svc.cluster.local"
ALERTS = [
    "EntramailCredentialExpiringSoon",
    "EntramailIntegrationNotReady",
    "EntramailRotationFailing",
    "EntramailDeliveryPending",
    "EntramailPreviousCredentialExpiringSoon",
]
RELEASE_FULLNAME = "entramail-entramail-operator"


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def find(docs, kind, name=None, namespace=None):
    return [
        d
        for d in docs
        if d["kind"] == kind
        and (name is None or d["metadata"]["name"] == name)
        and (namespace is None or d["metadata"].get("namespace") == namespace)
    ]


def one(docs, kind, name=None, namespace=None):
    found = find(docs, kind, name, namespace)
    assert len(found) == 1, f"expected exactly one {kind} {name or ''} in {namespace}, found {len(found)}"
    return found[0]


def rules_for(role, resource):
    return [r for r in role["rules"] if resource in r["resources"]]


def cluster_roles_granting(docs, resource):
    return [d["metadata"]["name"] for d in find(docs, "ClusterRole") if rules_for(d, resource)]


def check_common(docs, ns, case):
    kinds = sorted({d["kind"] for d in docs})
    crds = {d["spec"]["names"]["kind"] for d in find(docs, "CustomResourceDefinition")}
    assert {"NocoBaseMailIntegration", "EntraTenant"} <= crds, f"CRDs missing: {crds}"

    dep = one(docs, "Deployment", RELEASE_FULLNAME, ns)
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    psc, sc = pod["securityContext"], c["securityContext"]
    # Restricted Pod Security Standard.
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 65532, psc
    assert psc["seccompProfile"]["type"] == "RuntimeDefault", psc
    assert sc["allowPrivilegeEscalation"] is False, sc
    assert sc["readOnlyRootFilesystem"] is True, sc
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532, sc
    assert sc["capabilities"]["drop"] == ["ALL"], sc
    assert sc["seccompProfile"]["type"] == "RuntimeDefault", sc
    assert c["resources"]["requests"] and c["resources"]["limits"], c["resources"]
    (port,) = c["ports"]
    assert port["name"] == "http-metrics", port
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}, c["livenessProbe"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}, c["readinessProbe"]
    assert f"--operator-namespace={ns}" in c["args"], c["args"]
    # Exactly one allow-list for NocoBase API delivery, always explicit (the operator's default is not relied on).
    assert len([a for a in c["args"] if a.startswith("--delivery-allowed-hosts=")]) == 1, c["args"]
    env = {e["name"]: e for e in c["env"]}
    assert env["RUST_LOG"]["value"], env
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace", env
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", env
    assert c["image"].startswith(REPO_IMAGE + ":"), c["image"]
    assert pod["serviceAccountName"] == one(docs, "ServiceAccount", namespace=ns)["metadata"]["name"]

    svc = one(docs, "Service", namespace=ns)
    assert svc["spec"]["ports"][0]["name"] == "http-metrics", svc["spec"]["ports"]
    assert svc["spec"]["ports"][0]["targetPort"] == "http-metrics", svc["spec"]["ports"]

    # The cluster-scoped rules: EntraTenant read + status patch, nothing that writes tenants.
    cr = one(docs, "ClusterRole", RELEASE_FULLNAME)
    (tenants,) = rules_for(cr, "entratenants")
    assert tenants["verbs"] == ["get", "list", "watch"], tenants
    (tstatus,) = rules_for(cr, "entratenants/status")
    assert tstatus["verbs"] == ["patch"], tstatus
    assert not rules_for(cr, "secrets"), "cluster-scoped ClusterRole must not touch Secrets"

    # Leases only in the release namespace.
    role = one(docs, "Role", RELEASE_FULLNAME, ns)
    (leases,) = rules_for(role, "leases")
    assert set(leases["verbs"]) == {"get", "create", "patch", "delete"}, leases
    assert not any(rules_for(r, "leases") for r in find(docs, "ClusterRole")), "leases must not be cluster-wide"

    # No wildcard anywhere.
    for r in find(docs, "ClusterRole") + find(docs, "Role"):
        for rule in r["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], (r["metadata"]["name"], rule)
    print(f"ok: {case}: restricted pod security, probes, args, env, service, base RBAC ({len(docs)} objects: {', '.join(kinds)})")
    return dep, c, env


def integration_rules_ok(role, restart_consumers):
    (nbmi,) = rules_for(role, "nocobasemailintegrations")
    assert nbmi["verbs"] == ["get", "list", "watch", "patch", "update"], nbmi
    (sub,) = rules_for(role, "nocobasemailintegrations/status")
    assert "nocobasemailintegrations/finalizers" in sub["resources"] and sub["verbs"] == ["patch", "update"], sub
    (sec,) = rules_for(role, "secrets")
    assert sec["verbs"] == ["get", "list", "watch", "create", "patch"], sec
    apps = rules_for(role, "deployments")
    if restart_consumers:
        assert len(apps) == 1 and apps[0]["verbs"] == ["get", "list", "watch", "patch"], apps
        assert "statefulsets" in apps[0]["resources"], apps
    else:
        assert not apps, apps


def check_default(docs, ns):
    dep, c, env = check_common(docs, ns, "default")
    assert dep["spec"]["replicas"] == 1
    assert not [a for a in c["args"] if a.startswith("--watch-namespaces")], c["args"]
    assert DEFAULT_ALLOWED_HOSTS in c["args"], c["args"]
    cr = one(docs, "ClusterRole", RELEASE_FULLNAME + "-integrations")
    integration_rules_ok(cr, restart_consumers=True)
    one(docs, "ClusterRoleBinding", RELEASE_FULLNAME + "-integrations")
    for kind in ("PodDisruptionBudget", "ServiceMonitor", "PrometheusRule", "NetworkPolicy"):
        assert not find(docs, kind), f"{kind} must be off by default"
    sa = one(docs, "ServiceAccount", namespace=ns)
    assert "azure.workload.identity/client-id" not in (sa["metadata"].get("annotations") or {})
    print("ok: default: all-namespace ClusterRole, 1 replica, optional objects off")


def check_production(docs, ns):
    dep, c, env = check_common(docs, ns, "production")
    pod = dep["spec"]["template"]
    assert dep["spec"]["replicas"] == 2
    assert "--watch-namespaces=nocobase-prod,nocobase-staging" in c["args"], c["args"]
    assert c["image"] == REPO_IMAGE + ":0.1.0@sha256:" + "0123456789abcdef" * 4, c["image"]
    assert env["RUST_LOG"]["value"] == "info,entramail_operator=debug", env
    allowed = "--delivery-allowed-hosts=nocobase.nocobase-prod.svc.cluster.local,*.nocobase-staging.svc,10.96.0.0/12"
    assert allowed in c["args"], c["args"]
    assert pod["spec"]["terminationGracePeriodSeconds"] == 45
    # Namespace-restricted: no cluster-wide Secret/integration rights at all.
    assert not cluster_roles_granting(docs, "secrets"), cluster_roles_granting(docs, "secrets")
    assert not cluster_roles_granting(docs, "nocobasemailintegrations")
    for watched in ("nocobase-prod", "nocobase-staging"):
        integration_rules_ok(one(docs, "Role", RELEASE_FULLNAME + "-integrations", watched), restart_consumers=True)
        rb = one(docs, "RoleBinding", RELEASE_FULLNAME + "-integrations", watched)
        assert rb["subjects"][0]["namespace"] == ns, rb
    (tenant_secrets,) = rules_for(one(docs, "Role", RELEASE_FULLNAME, ns), "secrets")
    assert tenant_secrets["verbs"] == ["get", "list", "watch"], tenant_secrets
    # Workload identity.
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true", pod["metadata"]["labels"]
    sa = one(docs, "ServiceAccount", namespace=ns)
    ann = sa["metadata"]["annotations"]
    assert ann["azure.workload.identity/client-id"] == "11111111-2222-3333-4444-555555555555", ann
    assert ann["azure.workload.identity/tenant-id"] == "66666666-7777-8888-9999-000000000000", ann
    assert sa["metadata"]["labels"]["team"] == "platform"
    # Availability.
    pdb = one(docs, "PodDisruptionBudget", namespace=ns)
    assert pdb["spec"]["minAvailable"] == 1 and "maxUnavailable" not in pdb["spec"], pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    tsc = pod["spec"]["topologySpreadConstraints"]
    assert [t["topologyKey"] for t in tsc] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"], tsc
    for t in tsc:
        assert t["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"], t
    # Monitoring.
    sm = one(docs, "ServiceMonitor", namespace=ns)
    assert sm["spec"]["endpoints"][0]["port"] == "http-metrics" and sm["metadata"]["labels"]["release"] == "prometheus"
    svc = one(docs, "Service", namespace=ns)
    for k, v in sm["spec"]["selector"]["matchLabels"].items():
        assert svc["metadata"]["labels"].get(k) == v, f"ServiceMonitor selector {k}={v} does not match the Service"
    rules = one(docs, "PrometheusRule", namespace=ns)["spec"]["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == ALERTS, [r["alert"] for r in rules]
    exprs = {r["alert"]: r["expr"] for r in rules}
    fors = {r["alert"]: r.get("for") for r in rules}
    assert exprs["EntramailCredentialExpiringSoon"] == "entramail_credential_not_after_seconds - time() < 7 * 86400", exprs
    assert exprs["EntramailIntegrationNotReady"] == "entramail_integration_ready == 0", exprs
    assert exprs["EntramailRotationFailing"] == "increase(entramail_reconcile_errors_total[30m]) > 0", exprs
    assert fors["EntramailIntegrationNotReady"] == "15m", fors
    # Delivery: pending for longer than deliveryPendingFor (1h in production.yaml), and the previous secret (kept
    # only while its successor is unconfirmed) expiring within previousCredentialExpiryDays (3 in production.yaml).
    assert exprs["EntramailDeliveryPending"] == "entramail_delivery_pending == 1", exprs
    assert fors["EntramailDeliveryPending"] == "1h", fors
    assert exprs["EntramailPreviousCredentialExpiringSoon"] == (
        "(entramail_previous_credential_not_after_seconds - time() < 3 * 86400)"
        " and on (namespace, name) (entramail_delivery_pending == 1)"
    ), exprs
    pending = {r["alert"]: r for r in rules}["EntramailDeliveryPending"]["annotations"]["description"]
    for needle in ("Delivered", "entramail.io/acknowledged-key-id=", "entramail_previous_credential_not_after_seconds"):
        assert needle in pending, f"EntramailDeliveryPending description must mention {needle}: {pending}"
    for r in rules:
        assert r["labels"]["severity"] == "warning" and r["annotations"]["summary"], r
    # Network policy.
    np = one(docs, "NetworkPolicy", namespace=ns)
    assert np["spec"]["podSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    ports = [(p["port"], p.get("protocol")) for e in np["spec"]["egress"] for p in e.get("ports", [])]
    assert (53, "UDP") in ports and (53, "TCP") in ports and (443, "TCP") in ports, ports
    api = [e for e in np["spec"]["egress"] if e.get("to") == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]]
    assert api, np["spec"]["egress"]
    (ing,) = np["spec"]["ingress"]
    assert ing["ports"] == [{"port": "http-metrics", "protocol": "TCP"}], ing
    assert ing["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"
    nocobase = [e for e in np["spec"]["egress"] if e.get("ports") == [{"port": 13000, "protocol": "TCP"}]]
    assert nocobase and nocobase[0]["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "nocobase-prod"
    }, np["spec"]["egress"]
    print("ok: production: per-namespace Roles, 2 replicas + PDB + spread, workload identity, monitoring + delivery "
          "alerts, NetworkPolicy with NocoBase egress, named delivery hosts")


def check_managed_identity(docs, ns):
    dep, c, env = check_common(docs, ns, "managed-identity")
    assert env["AZURE_CLIENT_ID"]["value"] == "11111111-2222-3333-4444-555555555555", env
    assert "azure.workload.identity/use" not in dep["spec"]["template"]["metadata"]["labels"]
    assert not cluster_roles_granting(docs, "deployments"), "rbac.restartConsumers=false must drop apps rights"
    integration_rules_ok(one(docs, "ClusterRole", RELEASE_FULLNAME + "-integrations"), restart_consumers=False)
    np = one(docs, "NetworkPolicy", namespace=ns)
    imds = [e for e in np["spec"]["egress"] if e.get("to") == [{"ipBlock": {"cidr": "169.254.169.254/32"}}]]
    assert imds and imds[0]["ports"] == [{"port": 80, "protocol": "TCP"}], np["spec"]["egress"]
    pdb = one(docs, "PodDisruptionBudget", namespace=ns)
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"], pdb["spec"]
    # delivery.allowedHosts: [] = no NocoBase API delivery at all (the operator then allows no host).
    assert "--delivery-allowed-hosts=" in c["args"], c["args"]
    print("ok: managed-identity: AZURE_CLIENT_ID, IMDS egress, no apps rights, PDB maxUnavailable, no delivery hosts")


PLACEHOLDERS = {
    "<tenant GUID>": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "<operator app client ID>": "11111111-2222-3333-4444-555555555555",
}


def notes_manifests(path, ns):
    """The heredoc manifests (<<'YAML' ... YAML) in NOTES, so the test can check them against the real CRDs."""
    (cm,) = load(path)
    notes = cm["data"]["notes"]
    assert "kubectl wait" in notes and "condition=Ready" in notes, "NOTES must tell users how to wait for Ready"
    # NocoBase's email manager does not read the Secret: NOTES must say how the secret gets there and is confirmed.
    for needle in ("Delivered", "ManualUpdateRequired", "entramail.io/acknowledged-key-id=", "spec.delivery.nocobase"):
        assert needle in notes, f"NOTES must mention {needle}"
    assert "delivery.allowedHosts" in notes, "NOTES must say which hosts NocoBase API delivery may call"
    docs, block = [], None
    for line in notes.splitlines():
        if block is None:
            if line.rstrip().endswith("<<'YAML'"):
                block = []
        elif line.strip() == "YAML":
            docs.append("\n".join(block))
            block = None
        else:
            block.append(line[3:] if line.startswith("   ") else line)
    assert len(docs) == 2, f"expected an EntraTenant and a NocoBaseMailIntegration example in NOTES, got {len(docs)}"
    out = []
    for d in docs:
        for k, v in PLACEHOLDERS.items():
            d = d.replace(k, v)
        assert "<" not in d, f"unfilled placeholder in NOTES example:\n{d}"
        obj = yaml.safe_load(d)
        if obj["kind"] != "EntraTenant":
            obj["metadata"]["namespace"] = ns
        out.append(obj)
    assert [o["kind"] for o in out] == ["EntraTenant", "NocoBaseMailIntegration"], [o["kind"] for o in out]
    return yaml.safe_dump_all(out, sort_keys=False)


CHECKS = {"default": check_default, "production": check_production, "managed-identity": check_managed_identity}


def main(argv):
    if argv[0] == "--namespaces":
        docs, release_ns = load(argv[1]), argv[2]
        for n in sorted({release_ns} | {d["metadata"]["namespace"] for d in docs if d["metadata"].get("namespace")}):
            print(n)
        return 0
    if argv[0] == "--without-kinds":
        docs, skip = load(argv[1]), set(argv[2:])
        yaml.safe_dump_all([d for d in docs if d["kind"] not in skip], sys.stdout, sort_keys=False)
        return 0
    if argv[0] == "--cluster-secrets":
        return 0 if cluster_roles_granting(load(argv[1]), "secrets") else 1
    if argv[0] == "--container-args":
        # The operator container's args, with the metrics/health bind address moved to a local test port.
        dep = one(load(argv[1]), "Deployment")
        for a in dep["spec"]["template"]["spec"]["containers"][0]["args"]:
            print(f"--metrics-bind-address={argv[2]}" if a.startswith("--metrics-bind-address=") else a)
        return 0
    if argv[0] == "--alert-templates":
        for rule in one(load(argv[1]), "PrometheusRule")["spec"]["groups"][0]["rules"]:
            for key, text in rule["annotations"].items():
                print(json.dumps({"alert": rule["alert"], "key": key, "text": text}))
        return 0
    if argv[0] == "--notes-manifests":
        print(notes_manifests(argv[1], argv[2]))
        return 0
    workdir, ns, cases = argv[0], argv[1], argv[2:]
    for case in cases:
        check = CHECKS.get(case)
        if check is None:
            print(f"chart_checks: no assertions for values case {case!r}; add them to tests/chart_checks.py")
            return 1
        check(load(f"{workdir}/{case}.yaml"), ns)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
