#!/usr/bin/env python3
"""Checks of what `helm template charts/raytls-signer` renders (scripts/helm-test.sh runs them).

  schema FILE          every object: built-in kinds against the Kubernetes schemas of the
                       kubernetes-validate package (strict, as scripts/check_manifests.py);
                       ServiceMonitor and SecretProviderClass structurally (their CRDs are not
                       in those schemas); a ServiceMonitor must select the signer's Service,
                       scrape a port of it over HTTPS at /metrics, and name a --san of the signer.
  flags --raytls BIN FILE
                       every raytls command line of every workload is a real subcommand whose
                       --help lists each flag used (check_manifests.py's check_invocation).
  same EXAMPLE FILE    the signer objects of FILE (Deployment, Service, PodDisruptionBudget,
                       NetworkPolicy) are those of EXAMPLE, but for the differences listed in
                       ALLOWED (Helm's labels, the chart's ServiceAccount).
  pair EXAMPLE FILE OUT
                       OUT = FILE + the objects of EXAMPLE that FILE lacks (its RayCluster, ...),
                       for check_manifests.py to check how they fit.
  kuberay VALUES NAMESPACE FILE OUT
                       OUT = FILE + the RayCluster that KubeRay's ray-cluster chart makes from
                       VALUES (an emulation of its template, see ray_cluster_from_values).
  kubernetes FILE [VALUES]
                       mode kubernetes (flag names: VALUES' kubernetes.flags): the ClusterRole grants exactly tokenreviews create and
                       pods/services/serviceaccounts/rayclusters get/list/watch, the binding names the signer's
                       ServiceAccount, `raytls serve` has the kubernetes flags and no --token.

Prints PASS/FAIL lines; exits 1 if anything failed.
"""
import copy
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_manifests as cm  # noqa: E402

# Labels Helm charts put on every object; the example files have only app.kubernetes.io/name.
HELM_LABELS = ("app.kubernetes.io/instance", "app.kubernetes.io/version",
               "app.kubernetes.io/managed-by", "helm.sh/chart")
# What the chart renders that the example does not, and why that is fine.
ALLOWED = [
    "metadata.labels: the chart labels every object with Helm's standard labels",
    "selectors and pod labels: the chart adds app.kubernetes.io/instance (two releases in one "
    "namespace stay apart)",
    "spec.template.spec.serviceAccountName: the chart's own ServiceAccount (no rights, no "
    "token mounted) instead of the namespace's default one",
]
# The kubernetes-mode flags as issue 17 names them; `kubernetes FILE VALUES` takes the names
# from the chart's values (kubernetes.flags) instead, so the check follows a rename there.
KUBE_FLAGS = {"enable": "--kubernetes", "masterKey": "--cluster-key", "namespaceSelector": "--namespace-selector",
              "serviceAccounts": "--service-account", "clusterDomain": "--cluster-domain"}
SIGNER_KINDS = ("Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy")
KUBE_RULES = {
    ("authentication.k8s.io", "tokenreviews"): {"create"},
    ("", "pods"): {"get", "list", "watch"},
    ("", "services"): {"get", "list", "watch"},
    ("", "serviceaccounts"): {"get", "list", "watch"},
    ("ray.io", "rayclusters"): {"get", "list", "watch"},
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"): {"get", "list"},
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"): {"get", "list"},
}
# Fields of a prometheus-operator ServiceMonitor endpoint (monitoring.coreos.com/v1) we use
# or allow; an unknown one is a typo the CRD's schema would reject.
SM_ENDPOINT_FIELDS = {"port", "targetPort", "path", "scheme", "params", "interval", "scrapeTimeout",
                      "tlsConfig", "bearerTokenSecret", "authorization", "honorLabels",
                      "honorTimestamps", "basicAuth", "oauth2", "metricRelabelings", "relabelings",
                      "proxyUrl", "followRedirects", "enableHttp2", "filterRunning", "trackTimestampsStaleness"}
SM_TLS_FIELDS = {"ca", "cert", "keySecret", "serverName", "insecureSkipVerify", "caFile", "certFile", "keyFile",
                 "minVersion", "maxVersion"}
DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")

passed, failed = 0, 0


def result(name, problems):
    global passed, failed
    if problems:
        failed += 1
        print(f"FAIL {name}")
        for p in problems:
            print(f"  - {p}")
    else:
        passed += 1
        print(f"PASS {name}")


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]


def find(docs, kind, name=None):
    return [d for d in docs if d.get("kind") == kind and (name is None or cm.meta_name(d) == name)]


def serve_argv(docs):
    for d in find(docs, "Deployment"):
        for c in d["spec"]["template"]["spec"].get("containers") or []:
            for argv in cm.raytls_invocations(c):
                if argv[:1] == ["serve"]:
                    return argv
    return None


# ---------------------------------------------------------------------- schema
def check_servicemonitor(label, sm, docs):
    problems = []
    if sm.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append(f"apiVersion {sm.get('apiVersion')!r}, want monitoring.coreos.com/v1")
    unknown = set(sm) - {"apiVersion", "kind", "metadata", "spec"}
    if unknown:
        problems.append(f"unknown top-level fields {sorted(unknown)}")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", cm.meta_name(sm) or ""):
        problems.append(f"metadata.name {cm.meta_name(sm)!r} is not a DNS-1123 name")
    spec = sm.get("spec") or {}
    unknown = set(spec) - {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels",
                           "podTargetLabels", "sampleLimit", "targetLimit", "attachMetadata"}
    if unknown:
        problems.append(f"unknown spec fields {sorted(unknown)}")
    sel = ((spec.get("selector") or {}).get("matchLabels")) or {}
    nss = ((spec.get("namespaceSelector") or {}).get("matchNames")) or []
    services = [s for s in find(docs, "Service") if sel and cm.selects(sel, (s.get("metadata") or {}).get("labels") or {})
                and (not nss or (s.get("metadata") or {}).get("namespace") in nss)]
    if len(services) != 1:
        problems.append(f"spec.selector {sel} (namespaces {nss}) selects {len(services)} Service(s) of the chart, want the signer's")
    ports = {p.get("name") for s in services for p in (s.get("spec") or {}).get("ports") or []}
    sans = set()
    argv = serve_argv(docs)
    if argv:
        _, flags = cm.split_argv(argv)
        sans = {v for f, v in flags if f == "--san"}
    endpoints = spec.get("endpoints") or []
    if not endpoints:
        problems.append("spec.endpoints is empty")
    for i, ep in enumerate(endpoints):
        where = f"endpoints[{i}]"
        unknown = set(ep) - SM_ENDPOINT_FIELDS
        if unknown:
            problems.append(f"{where}: unknown fields {sorted(unknown)}")
        if ep.get("port") not in ports:
            problems.append(f"{where}: port {ep.get('port')!r} is not a port name of the Service ({sorted(ports)})")
        if ep.get("scheme") != "https":
            problems.append(f"{where}: scheme {ep.get('scheme')!r}: the signer serves /metrics over HTTPS only")
        if ep.get("path") != "/metrics":
            problems.append(f"{where}: path {ep.get('path')!r}, the signer serves GET /metrics")
        for k in ("interval", "scrapeTimeout"):
            if k in ep and not DURATION.match(str(ep[k])):
                problems.append(f"{where}: {k} {ep[k]!r} is not a Prometheus duration")
        tls = ep.get("tlsConfig")
        if not isinstance(tls, dict) or not tls:
            problems.append(f"{where}: no tlsConfig: Prometheus cannot check the signer's certificate")
            continue
        unknown = set(tls) - SM_TLS_FIELDS
        if unknown:
            problems.append(f"{where}.tlsConfig: unknown fields {sorted(unknown)}")
        if not tls.get("insecureSkipVerify"):
            ca = tls.get("ca") or {}
            src = ca.get("configMap") or ca.get("secret") or {}
            if not (src.get("name") and src.get("key")) and not tls.get("caFile"):
                problems.append(f"{where}.tlsConfig: no CA (ca.configMap/ca.secret name+key, or caFile)")
            if sans and tls.get("serverName") not in sans:
                problems.append(f"{where}.tlsConfig.serverName {tls.get('serverName')!r} is not a --san of raytls serve {sorted(sans)}")
    result(f"{label}: ServiceMonitor/{cm.meta_name(sm)}: structure", problems)


def cmd_schema(path, k8s_version):
    global passed, failed
    docs = load(path)
    result(f"{path}: parse ({len(docs)} object(s))", [] if docs else ["no objects"])
    # check_manifests.py's checker prints its own PASS/FAIL lines (the same format)
    checker = cm.Checker(None, True, k8s_version)
    for d in docs:
        kind = d.get("kind")
        if kind == "ServiceMonitor":
            check_servicemonitor(path, d, docs)
        elif kind == "SecretProviderClass":
            checker.check_spc(path, d)
        else:
            checker.validate_schema(f"{path}: {kind}/{cm.meta_name(d)}", d)
    passed += checker.passed
    failed += len(checker.failed)


# ---------------------------------------------------------------------- flags
def cmd_flags(raytls, path):
    docs = load(path)
    checker = cm.Checker(os.path.abspath(raytls), False, "1.30", quiet=True)
    n = 0
    for d in docs:
        if d.get("kind") not in cm.WORKLOAD_KINDS:
            continue
        spec = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            for argv in cm.raytls_invocations(c):
                problems = []
                checker.check_invocation(f"container {c.get('name')}", argv, {}, problems)
                n += 1
                result(f"{path}: {d['kind']}/{cm.meta_name(d)}: `raytls {' '.join(argv)}` against `{raytls} {argv[0]} --help`", problems)
    if n == 0:
        result(f"{path}: raytls command lines", ["no raytls command line found"])


# ---------------------------------------------------------------------- same as the example
def strip_labels(obj):
    """Drop Helm's labels wherever labels or selectors appear."""
    if isinstance(obj, dict):
        for k, v in list(obj.items()):
            if k in ("labels", "matchLabels", "selector") and isinstance(v, dict):
                for h in HELM_LABELS:
                    v.pop(h, None)
            strip_labels(v)
    elif isinstance(obj, list):
        for v in obj:
            strip_labels(v)
    return obj


def normalize(obj):
    obj = strip_labels(copy.deepcopy(obj))
    (obj.get("metadata") or {}).pop("labels", None)
    if obj.get("kind") == "Deployment":
        obj["spec"]["template"]["spec"].pop("serviceAccountName", None)
    return obj


def diff(a, b, path=""):
    """Where two YAML values differ, as 'path: example X, chart Y' lines."""
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append(f"{path}.{k}: only in the chart: {b[k]!r}")
            elif k not in b:
                out.append(f"{path}.{k}: only in the example: {a[k]!r}")
            else:
                out += diff(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, f"{path}[{i}]")
    elif a != b:
        out.append(f"{path}: example {a!r}, chart {b!r}")
    return out


def cmd_same(example, path):
    ex, ch = load(example), load(path)
    for kind in SIGNER_KINDS:
        for e in find(ex, kind):
            if kind == "Deployment" and "serve" not in str(e):
                continue
            name = cm.meta_name(e)
            got = find(ch, kind, name)
            if len(got) != 1:
                result(f"{path}: {kind}/{name} as in {example}", [f"the chart renders {len(got)} {kind}/{name}"])
                continue
            result(f"{path}: {kind}/{name} as in {os.path.basename(example)}", diff(normalize(e), normalize(got[0])))
    print("  (allowed differences: " + "; ".join(ALLOWED) + ")")


def cmd_pair(example, path, out):
    ex, ch = load(example), load(path)
    have = {(d.get("kind"), cm.meta_name(d)) for d in ch}
    extra = [d for d in ex if (d.get("kind"), cm.meta_name(d)) not in have]
    with open(out, "w") as f:
        yaml.safe_dump_all(ch + extra, f, sort_keys=False)
    print(f"# {out}: {len(ch)} rendered object(s) + {len(extra)} from {example}: "
          + ", ".join(f"{d.get('kind')}/{cm.meta_name(d)}" for d in extra))


# ---------------------------------------------------------------------- KubeRay's ray-cluster chart
def ray_cluster_from_values(values, namespace):
    """The RayCluster KubeRay's ray-cluster chart (helm-chart/ray-cluster/templates/
    raycluster-cluster.yaml, 1.x) renders from these values, for the keys it maps one to one:
    fullnameOverride -> metadata.name; head/worker.rayStartParams; initContainers,
    podSecurityContext, volumes as they are; the Ray container named ray-head/ray-worker with
    image, resources, securityContext, env = common.containerEnv + containerEnv, volumeMounts,
    ports; sidecarContainers appended to containers. An emulation, not KubeRay's code."""
    name = values.get("fullnameOverride")
    if not name:
        raise SystemExit("the KubeRay values set no fullnameOverride: the RayCluster's name would depend on the release")
    image = values.get("image") or {}
    common_env = (values.get("common") or {}).get("containerEnv") or []

    def group(g, cname):
        gi = g.get("image") or image
        ray = {"name": cname, "image": f"{gi.get('repository', 'rayproject/ray')}:{gi.get('tag', 'latest')}",
               "imagePullPolicy": gi.get("pullPolicy", "IfNotPresent"), "resources": g.get("resources") or {}}
        if g.get("securityContext"):
            ray["securityContext"] = g["securityContext"]
        env = list(common_env) + list(g.get("containerEnv") or [])
        if env:
            ray["env"] = env
        if g.get("ports"):
            ray["ports"] = g["ports"]
        if g.get("volumeMounts"):
            ray["volumeMounts"] = g["volumeMounts"]
        spec = {"containers": [ray] + list(g.get("sidecarContainers") or [])}
        for k in ("initContainers", "volumes", "serviceAccountName", "nodeSelector", "tolerations", "affinity"):
            if g.get(k):
                spec[k] = g[k]
        if g.get("podSecurityContext"):
            spec["securityContext"] = g["podSecurityContext"]
        params = {k: str(v) for k, v in (g.get("rayStartParams") or {}).items()}
        return {"rayStartParams": params, "template": {"spec": spec}}

    head, worker = values.get("head") or {}, values.get("worker") or {}
    w = group(worker, "ray-worker")
    w.update(groupName=worker.get("groupName", "workergroup"), replicas=worker.get("replicas", 1),
             minReplicas=worker.get("minReplicas", 0), maxReplicas=worker.get("maxReplicas", 2147483647))
    spec = {"headGroupSpec": group(head, "ray-head"), "workerGroupSpecs": [w]}
    if head.get("rayVersion"):
        spec = {"rayVersion": head["rayVersion"], **spec}
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def cmd_kuberay(values_path, namespace, path, out):
    with open(values_path) as f:
        values = yaml.safe_load(f) or {}
    rc = ray_cluster_from_values(values, namespace)
    docs = load(path) + [rc]
    with open(out, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    print(f"# {out}: the chart's objects + RayCluster/{cm.meta_name(rc)} from {values_path} (KubeRay ray-cluster chart, emulated)")


# ---------------------------------------------------------------------- kubernetes mode
def cmd_kubernetes(path, values_path=None):
    docs = load(path)
    problems = []
    roles = find(docs, "ClusterRole")
    if len(roles) != 1:
        problems.append(f"{len(roles)} ClusterRole(s), want 1")
    got = {}
    for r in roles:
        for rule in r.get("rules") or []:
            if rule.get("resourceNames") or rule.get("nonResourceURLs"):
                problems.append(f"unexpected rule {rule}")
            for g in rule.get("apiGroups") or []:
                for res in rule.get("resources") or []:
                    got.setdefault((g, res), set()).update(rule.get("verbs") or [])
    want_rules = dict(KUBE_RULES)
    if "--namespace-selector" in (serve_argv(docs) or []):
        # the signer then watches namespaces' labels
        want_rules[("", "namespaces")] = {"get", "list", "watch"}
    if got != want_rules:
        problems.append(f"ClusterRole rules {sorted((k, sorted(v)) for k, v in got.items())}, "
                        f"want exactly {sorted((k, sorted(v)) for k, v in want_rules.items())}")
    if any(res in ("secrets", "*") or g == "*" for g, res in got):
        problems.append("the ClusterRole reaches Secrets (or everything)")
    for kind in ("Role", "RoleBinding"):
        if find(docs, kind):
            problems.append(f"a {kind} is rendered: kubernetes mode needs only the ClusterRole")
    sa = find(docs, "ServiceAccount")
    binds = find(docs, "ClusterRoleBinding")
    if len(binds) != 1 or len(sa) != 1:
        problems.append(f"{len(binds)} ClusterRoleBinding(s), {len(sa)} ServiceAccount(s), want 1 and 1")
    else:
        b, s = binds[0], sa[0]
        if not roles or (b.get("roleRef") or {}).get("name") != cm.meta_name(roles[0]):
            problems.append(f"the binding's roleRef {b.get('roleRef')} is not the ClusterRole")
        subj = b.get("subjects") or []
        want = {"kind": "ServiceAccount", "name": cm.meta_name(s), "namespace": s["metadata"].get("namespace")}
        if subj != [want]:
            problems.append(f"the binding's subjects {subj}, want [{want}]")
    # The pod guard: the chart's copy of examples/kubernetes/pod-guard.yaml (same specs; with
    # other podGuard.operatorServiceAccounts only the operators list differs).
    example = load(os.path.join(os.path.dirname(__file__), "..", "examples", "kubernetes", "pod-guard.yaml"))
    for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
        got_g, want_g = find(docs, kind), find(example, kind)
        if len(got_g) != 1:
            problems.append(f"{len(got_g)} {kind}(s) rendered, want the pod guard's 1")
        elif got_g[0].get("spec") != want_g[0].get("spec") or cm.meta_name(got_g[0]) != cm.meta_name(want_g[0]):
            problems.append(f"the rendered {kind} differs from examples/kubernetes/pod-guard.yaml's")
    result(f"{path}: kubernetes mode: RBAC is exactly tokenreviews create + pods/services/serviceaccounts/rayclusters get/list/watch"
           " + the pod guard's policies get/list; the pod guard is examples/kubernetes/pod-guard.yaml's", problems)

    problems = []
    dep = find(docs, "Deployment")[0]
    pod = dep["spec"]["template"]["spec"]
    argv = serve_argv(docs) or []
    _, flags = cm.split_argv(argv)
    names = [f for f, _ in flags]
    vals = dict(flags)
    want = dict(KUBE_FLAGS)
    if values_path:
        with open(values_path) as f:
            want.update(((yaml.safe_load(f) or {}).get("kubernetes") or {}).get("flags") or {})
    for f in want.values():
        if f not in names:
            problems.append(f"raytls serve lacks {f}")
    key = vals.get(want["masterKey"]) or ""
    for f in ("--token", "--head-name"):
        if f in names:
            problems.append(f"raytls serve has {f}, a token-mode flag")
    if pod.get("serviceAccountName") != (cm.meta_name(sa[0]) if sa else None):
        problems.append(f"the pod runs as {pod.get('serviceAccountName')!r}, not the bound ServiceAccount")
    if pod.get("automountServiceAccountToken") is not True:
        problems.append("the pod does not mount its ServiceAccount token: it cannot reach the API server")
    c = pod["containers"][0]
    m = cm.mount_for(c.get("volumeMounts") or [], key)
    vol = next((v for v in pod.get("volumes") or [] if m and v.get("name") == m.get("name")), None)
    if not (m and vol and "secret" in vol and m.get("readOnly")):
        problems.append(f"{want['masterKey']} {key} is not a file of a Secret mounted read-only")
    elif os.path.relpath(key, m["mountPath"]) not in (cm.volume_files(vol) or set()):
        problems.append(f"{want['masterKey']} {key}: the Secret volume provides {cm.volume_files(vol)}")
    for np in find(docs, "NetworkPolicy"):
        eg = (np.get("spec") or {}).get("egress")
        ports = sorted(p.get("port") for r in eg or [] for p in r.get("ports") or [])
        if not eg or not ports:
            problems.append(f"NetworkPolicy {cm.meta_name(np)}: egress {eg}: the signer could not reach the API server")
    result(f"{path}: kubernetes mode: `raytls serve` flags, master key, ServiceAccount token, egress", problems)


def main():
    a = sys.argv[1:]
    if not a:
        raise SystemExit(__doc__)
    cmd = a.pop(0)
    k8s = os.environ.get("RAYTLS_K8S_VERSION", "1.30")
    if cmd == "schema":
        for p in a:
            cmd_schema(p, k8s)
    elif cmd == "flags" and len(a) >= 3 and a[0] == "--raytls":
        for p in a[2:]:
            cmd_flags(a[1], p)
    elif cmd == "same" and len(a) == 2:
        cmd_same(*a)
    elif cmd == "pair" and len(a) == 3:
        cmd_pair(*a)
        return
    elif cmd == "kuberay" and len(a) == 4:
        cmd_kuberay(*a)
        return
    elif cmd == "kubernetes" and len(a) in (1, 2):
        cmd_kubernetes(*a)
    else:
        raise SystemExit(__doc__)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
