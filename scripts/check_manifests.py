#!/usr/bin/env python3
"""Validate the KubeRay manifests in examples/ offline, and check that they hang together.

1. Schema: core objects (Secret, ConfigMap, ...) and every Pod template of a RayCluster
   (wrapped in a v1 Pod) against the Kubernetes OpenAPI schemas shipped in the
   `kubernetes-validate` package, strict mode (unknown fields are errors). The RayCluster
   CRD is not in those schemas, so it is checked structurally (apiVersion ray.io/v1, kind
   RayCluster, headGroupSpec, workerGroupSpecs, a template with containers in each).
   The Secret printed by `raytls token generate --k8s-secret` is validated the same way.
2. Consistency, per Pod template:
   - every raytls command line (container command/args, or inside `sh -c`) names a real
     subcommand: `raytls <subcommand> --help` exits 0 and lists every flag used;
   - every volumeMount names a volume; names of volumes and containers are unique, and no
     container is called wait-gcs-ready (KubeRay injects one by that name);
   - every $(VAR) (Kubernetes expansion) and $VAR (shell) refers to an env var defined
     before it in the same container;
   - every path in RAY_TLS_SERVER_CERT/KEY, RAY_TLS_CA_CERT, RAY_AUTH_TOKEN_PATH and in
     raytls path flags lies in a volume mounted by that container, and the file is one the
     volume provides: a Secret's items (or its known keys), or for an emptyDir a file that
     `raytls init --out` in an EARLIER init container of the same Pod writes there;
   - --out is mounted read-write; the CA Secret is mounted read-only, and only by init
     containers (never next to Ray);
   - every Ray container has RAY_USE_TLS=1 and the three RAY_TLS_* paths; token auth is on
     in all Ray containers of a cluster or none, and then health-check passes --token-file;
   - the head certificate's --fqdn is KubeRay's head Service (<cluster>-head-svc.<ns>...)
     and is the host the workers' health-check dials.
3. The signer (`raytls serve` in a Deployment, `raytls init --signer` in the Ray pods), per file:
   - serve's --ca is mounted read-only and provides ca.crt and ca.key; each --token ROLE=FILE
     and each init's --signer-ca/--token-file is a file a mounted volume provides (Secret,
     ConfigMap, or a Secrets Store CSI volume whose SecretProviderClass in the same file
     names it);
   - NO ca.key in a Ray pod that uses --signer (no volume of it provides one, and the signer's
     CA source is mounted nowhere but in the signer);
   - each pod's token is the very secret the signer holds for that pod's role;
   - the --signer URL is https://<a Service selecting the signer pods>:<its port>, that name
     is one of serve's --san, and the Service's targetPort is serve's --listen port;
   - the head's --fqdn matches a --head-name pattern of the signer;
   - the signer: >= 2 replicas, runAsNonRoot, readOnlyRootFilesystem, no privilege escalation,
     readiness and liveness probes on GET /healthz over HTTPS on its port;
   - a NetworkPolicy selects the signer pods, and lets in only pods labelled
     ray.io/cluster=<a RayCluster of the file> (every such cluster that uses the signer), on
     the signer's port.
   SecretProviderClass objects are checked structurally (the CRD is not in the schemas).
4. Renewal (`raytls renew` sidecars, raytls exec probes), per RayCluster and its signer:
   - restartPolicy only on init containers, only Always (a native sidecar); `renew --watch`
     only in a native sidecar (a plain init container would never finish), and a sidecar's
     renew has --watch; its --dir is written by an earlier `raytls init --out`;
   - the sidecar's --dir is the volume (and directory) the Ray container's
     RAY_TLS_SERVER_CERT points into, and it renews through the same signer URL and
     --signer-ca source (or the same local CA) as the Pod's init;
   - every raytls exec probe: a real subcommand and flags, its binary on a volume an earlier
     init container copies raytls into (the Ray image has none), no $(VAR) of a downward-API
     value (exec probes do not expand them), paths in mounted volumes; it dials 127.0.0.1;
     --expect-cert is the file RAY_TLS_SERVER_CERT names; workers dial rayStartParams
     node-manager-port, the head its GCS port (a check without --expect-cert makes GCS
     calls, so only on the GCS port); timeoutSeconds above health-check's --timeout; a
     liveness probe has failureThreshold >= 2 and a startupProbe (or initialDelaySeconds >= 60);
   - policy: a worker that renews has a liveness probe with --expect-cert; a head without
     GCS fault tolerance (spec.gcsFaultToleranceOptions, checked structurally) has none;
     when a non-FT cluster renews through the signer, its --max-days head exceeds
     --max-days worker; every --renew-before is shorter than its role's lifetime.

Prints PASS/FAIL lines and "N passed, M failed"; exits 1 if anything failed.
Usage: check_manifests.py --raytls BIN [--no-schema] [--k8s-version 1.30] FILE...
       check_manifests.py --self-test --raytls BIN FILE   (mutations must each be caught)
"""
import argparse
import copy
import os
import re
import shlex
import subprocess
import sys

import yaml

# What `raytls init` writes into --out (the interface the manifests rely on).
INIT_OUTPUTS = {"tls.crt", "tls.key", "ca.crt", "ray-tls.env"}
# Keys of Secrets the manifests reference without `items`.
KNOWN_SECRET_KEYS = {"ca-tls": {"ca.crt", "ca.key"}, "ray-auth-token": {"auth_token"},
                     # the signer's CA (`kubectl create secret generic --from-file=DIR` of
                     # `raytls ca create [--intermediate]`), and the role tokens made by
                     # `raytls token generate --k8s-secret NAME`
                     "raytls-signer-ca": {"ca.crt", "ca.key", "root.crt"},
                     "raytls-token-head": {"auth_token"}, "raytls-token-worker": {"auth_token"}}
# Keys of ConfigMaps the manifests reference without `items`.
KNOWN_CONFIGMAP_KEYS = {"raytls-ca": {"ca.crt"}}
# Secrets that `raytls token generate --k8s-secret NAME` makes (checked against its output).
TOKEN_SECRETS = ("ray-auth-token", "raytls-token-head", "raytls-token-worker")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
PATH_ENVS = ("RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT", "RAY_AUTH_TOKEN_PATH")
TLS_ENVS = ("RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")
# raytls flags whose value is a path: (flag) -> "dir" or "file"
PATH_FLAGS = {"--ca": None, "--out": "dir", "--cert": "file", "--key": "file", "--token-file": "file",
              "--signer-ca": "file", "--dir": "dir", "--expect-cert": "file"}
# `raytls serve --max-days` defaults (its --help)
SIGNER_MAX_DAYS = {"head": 365, "worker": 365, "client": 30}
# Ray's GCS port unless rayStartParams sets `port`
GCS_PORT = 6379
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
# gcsFaultToleranceOptions fields of KubeRay's RayCluster (ray-operator/apis/ray/v1/raycluster_types.go)
GCS_FT_FIELDS = {"backend", "redisAddress", "redisPassword", "redisUsername", "externalStorageNamespace"}
SHELL_OPS = {";", "&&", "||", "|", "&", "do", "then", "done", "fi", "else", "(", ")"}


class Checker:
    def __init__(self, raytls, schema, k8s_version, quiet=False):
        self.raytls = raytls
        self.schema = schema
        self.k8s_version = k8s_version
        self.quiet = quiet
        self.passed = 0
        self.failed = []
        self.help_cache = {}
        # SecretProviderClass name -> {file name in the volume: the secret manager's object}
        self.spc = {}

    def result(self, name, problems):
        if problems:
            self.failed.append(name)
            if not self.quiet:
                print(f"FAIL {name}")
                for p in problems:
                    print(f"  - {p}")
        else:
            self.passed += 1
            if not self.quiet:
                print(f"PASS {name}")

    # ------------------------------------------------------------------ schema
    def validate_schema(self, name, obj):
        if not self.schema:
            return
        import kubernetes_validate

        problems = []
        try:
            kubernetes_validate.validate(obj, self.k8s_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = "/".join(str(p) for p in e.path)
            problems.append(f"schema: {where}: {e.message}")
        except Exception as e:  # noqa: BLE001 - report, never crash
            problems.append(f"schema: {type(e).__name__}: {e}")
        self.result(f"{name}: schema ({obj.get('kind')})", problems)

    # ------------------------------------------------------------------ raytls --help
    def help_text(self, words):
        key = tuple(words)
        if key not in self.help_cache:
            try:
                out = subprocess.run([self.raytls, *words, "--help"], capture_output=True,
                                     text=True, timeout=30)
                self.help_cache[key] = (out.returncode, out.stdout + out.stderr)
            except OSError as e:
                self.help_cache[key] = (-1, str(e))
        return self.help_cache[key]

    # ------------------------------------------------------------------ files
    def check_file(self, fname, objs):
        try:
            with open(fname) as f:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
        except (OSError, yaml.YAMLError) as e:
            self.result(f"{fname}: parse", [str(e)])
            return
        self.result(f"{fname}: parse ({len(docs)} object(s))", [] if docs else ["no objects"])
        objs.extend(docs)
        self.check_docs(fname, docs)

    def check_docs(self, fname, docs):
        """Every object of one file, then how the signer and the Ray pods of the file fit."""
        self.spc = {}
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "SecretProviderClass":
                self.check_spc(fname, doc)
        clusters, workloads = [], []
        for doc in docs:
            if not isinstance(doc, dict):
                self.result(f"{fname}: object", ["a document is not a mapping"])
                continue
            kind = doc.get("kind")
            if doc.get("apiVersion", "").startswith("ray.io/"):
                clusters.append(self.check_raycluster(fname, doc))
            elif kind == "SecretProviderClass":
                continue
            else:
                self.validate_schema(f"{fname}: {kind}/{meta_name(doc)}", doc)
                if kind in WORKLOAD_KINDS:
                    workloads.append(self.check_workload(fname, doc))
        signers = [w for w in workloads if w["serve"]]
        users = [g for c in clusters for g in c["groups"] if g["signer"]]
        if signers or users:
            self.check_signer(fname, docs, signers, clusters)

    def check_spc(self, fname, spc):
        """A Secrets Store CSI SecretProviderClass: structure, and the files it provides."""
        name = meta_name(spc)
        problems = []
        if spc.get("apiVersion") != "secrets-store.csi.x-k8s.io/v1":
            problems.append(f"apiVersion is {spc.get('apiVersion')!r}, want secrets-store.csi.x-k8s.io/v1")
        spec = spc.get("spec") or {}
        provider = spec.get("provider")
        params = spec.get("parameters") or {}
        if not provider:
            problems.append("spec.provider is missing")
        if not isinstance(params, dict) or any(not isinstance(v, str) for v in params.values()):
            problems.append("spec.parameters must map names to strings")
            params = {}
        files = spc_files(provider, params, problems)
        self.spc[name] = files
        self.result(f"{fname}: SecretProviderClass/{name}: structure ({len(files or {})} file(s))", problems)

    def volume_files(self, vol):
        """Files a volume provides, or None when unknown."""
        if "csi" in vol:
            spc = ((vol["csi"] or {}).get("volumeAttributes") or {}).get("secretProviderClass")
            files = self.spc.get(spc)
            return set(files) if files is not None else None
        return volume_files(vol)

    def source_of(self, vol, rel):
        """Where a file of a volume comes from, comparable across Pods: the same secret
        reached through two volumes gives the same answer."""
        if "secret" in vol:
            sec = vol["secret"] or {}
            key = next((i.get("key") for i in sec.get("items") or [] if i.get("path") == rel), rel)
            return ("secret", sec.get("secretName"), key)
        if "configMap" in vol:
            cm = vol["configMap"] or {}
            key = next((i.get("key") for i in cm.get("items") or [] if i.get("path") == rel), rel)
            return ("configMap", cm.get("name"), key)
        if "csi" in vol:
            spc = ((vol["csi"] or {}).get("volumeAttributes") or {}).get("secretProviderClass")
            obj = (self.spc.get(spc) or {}).get(rel)
            return ("secret manager", obj) if obj else ("csi", spc, rel)
        return ("volume", vol.get("name"), rel)

    def ca_sources(self, vol):
        """The sources of ca.key this volume would put in a Pod (empty if none)."""
        files = self.volume_files(vol)
        if files is None or "ca.key" not in files:
            return set()
        return {self.source_of(vol, "ca.key")}

    def check_workload(self, fname, doc):
        """A Deployment (or StatefulSet, DaemonSet): its Pod template, as for a Ray Pod."""
        tmpl = ((doc.get("spec") or {}).get("template")) or {}
        info = self.check_pod(f"{fname}: {doc.get('kind')}/{meta_name(doc)} Pod", meta_name(doc),
                              tmpl.get("spec") or {})
        info.update(doc=doc, labels=((tmpl.get("metadata") or {}).get("labels")) or {},
                    namespace=(doc.get("metadata") or {}).get("namespace"))
        return info

    def check_raycluster(self, fname, rc):
        name = meta_name(rc)
        problems = []
        if rc.get("apiVersion") != "ray.io/v1":
            problems.append(f"apiVersion is {rc.get('apiVersion')!r}, want ray.io/v1")
        if rc.get("kind") != "RayCluster":
            problems.append(f"kind is {rc.get('kind')!r}, want RayCluster")
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name or ""):
            problems.append(f"metadata.name {name!r} is not a DNS-1123 label")
        spec = rc.get("spec") or {}
        head = spec.get("headGroupSpec")
        workers = spec.get("workerGroupSpecs")
        groups = []
        if not isinstance(head, dict):
            problems.append("spec.headGroupSpec is missing")
        else:
            groups.append(("head", head))
        if not isinstance(workers, list) or not workers:
            problems.append("spec.workerGroupSpecs is missing or empty")
        else:
            for i, w in enumerate(workers):
                if not isinstance(w, dict) or not w.get("groupName"):
                    problems.append(f"workerGroupSpecs[{i}] has no groupName")
                    continue
                for k in ("replicas", "minReplicas", "maxReplicas"):
                    if k in w and not isinstance(w[k], int):
                        problems.append(f"workerGroupSpecs[{i}].{k} is not an integer")
                groups.append((w["groupName"], w))
        for gname, g in groups:
            tspec = ((g.get("template") or {}).get("spec")) or {}
            if not tspec.get("containers"):
                problems.append(f"group {gname}: template.spec.containers is empty")
            params = g.get("rayStartParams")
            if params is not None and not (isinstance(params, dict) and all(isinstance(v, str) for v in params.values())):
                problems.append(f"group {gname}: rayStartParams must map names to strings (quote numbers)")
        ft = spec.get("gcsFaultToleranceOptions")
        if ft is not None:
            problems.extend(gcs_ft_problems(ft))
        self.result(f"{fname}: RayCluster/{name}: structure", problems)
        cluster = {"name": name, "groups": []}
        for gname, g in groups:
            tspec = ((g.get("template") or {}).get("spec")) or {}
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": f"{name}-{gname}"}, "spec": tspec}
            self.validate_schema(f"{fname}: RayCluster/{name} {gname} Pod template", pod)
            info = self.check_pod(f"{fname}: {gname} Pod", gname, tspec)
            params = g.get("rayStartParams")
            info["start_params"] = params if isinstance(params, dict) else {}
            cluster["groups"].append(info)
        cluster["namespace"] = (rc.get("metadata") or {}).get("namespace")
        # GCS fault tolerance: KubeRay's field, or its older annotation
        annotations = (rc.get("metadata") or {}).get("annotations") or {}
        cluster["ft"] = bool(spec.get("gcsFaultToleranceOptions")) or annotations.get("ray.io/ft-enabled") == "true"
        self.check_cluster(f"{fname}: RayCluster/{name}", cluster)
        if any(g["renew"] or g["probes"] for g in cluster["groups"]):
            self.check_renewal(f"{fname}: RayCluster/{name}", cluster)
        return cluster

    # ------------------------------------------------------------------ one Pod
    def check_pod(self, label, gname, spec):
        problems = []
        volumes = {}
        for v in spec.get("volumes") or []:
            if v.get("name") in volumes:
                problems.append(f"volume {v.get('name')} is declared twice")
            volumes[v.get("name")] = v
        inits = spec.get("initContainers") or []
        mains = spec.get("containers") or []
        all_c = [("init", i, c) for i, c in enumerate(inits)] + [("main", i, c) for i, c in enumerate(mains)]
        names = [c.get("name") for _, _, c in all_c]
        for n in set(names):
            if names.count(n) > 1:
                problems.append(f"container name {n} is used twice")
        if "wait-gcs-ready" in names:
            problems.append("a container is named wait-gcs-ready, the name KubeRay injects: the Pod would be rejected")
        used = set()
        produced = {}  # (volume, file) -> index of the init container that writes it
        info = {"fqdn": None, "dials": [], "token_envs": [], "hc_token": [], "ray": [], "ca_volumes": set(),
                # `raytls init ROLE --signer`: role, url, token source, container name
                "signer": None,
                # `raytls serve`: the container, its CA source, tokens by role, names, port
                "serve": None,
                # every secret this Pod mounts anywhere (coarse: a Secret, a CSI object), and the
                # sources of any ca.key a mounted volume provides
                "mounted": set(), "ca_keys": set(), "spec": spec,
                # `raytls renew` (sidecar or not), raytls probes of the Ray containers, where each
                # Ray container reads its certificate: (volume, path in it)
                "renew": [], "probes": [], "ray_cert": {}, "init_ca": None}
        produced_bin = {}  # (volume, file) -> index of the init container that copies raytls there

        for kind, idx, c in all_c:
            cname = f"{kind} container {c.get('name')}"
            env = env_values(c, problems, cname)
            # Native sidecar: an init container with restartPolicy Always (Kubernetes >= 1.29)
            sidecar = kind == "init" and c.get("restartPolicy") == "Always"
            if "restartPolicy" in c and not sidecar:
                problems.append(f"{cname}: restartPolicy {c.get('restartPolicy')!r}: only an init container may set it, "
                                "and only to Always (a native sidecar)")
            mounts = []
            for m in c.get("volumeMounts") or []:
                if m.get("name") not in volumes:
                    problems.append(f"{cname}: volumeMount {m.get('name')} names no volume")
                    continue
                used.add(m.get("name"))
                mounts.append(m)
                info["mounted"] |= self.vol_ids(volumes[m["name"]])
                info["ca_keys"] |= self.ca_sources(volumes[m["name"]])

            def locate(path, what, need_file=True, need_rw=False, order=None):
                """Check that PATH lies in a mount of this container and is provided."""
                m = mount_for(mounts, path)
                if m is None:
                    problems.append(f"{cname}: {what} {path} is not in any volume mounted by this container")
                    return None
                if need_rw and m.get("readOnly"):
                    problems.append(f"{cname}: {what} {path} is on a read-only mount")
                rel = os.path.relpath(path, m["mountPath"])
                vol = volumes[m["name"]]
                if not need_file or rel == ".":
                    return m
                provided = self.volume_files(vol)
                if provided is not None and rel not in provided:
                    problems.append(f"{cname}: {what} {path}: volume {m['name']} provides only {sorted(provided)}")
                if "emptyDir" in vol:
                    at = produced.get((m["name"], rel))
                    if at is None or (order is not None and at >= order):
                        problems.append(f"{cname}: {what} {path}: no earlier `raytls init --out` writes it into emptyDir {m['name']}")
                return m

            def where(path):
                """(volume, path inside it) of an absolute path in this container, or None."""
                m = mount_for(mounts, path)
                if m is None:
                    return None
                return (m["name"], os.path.normpath(os.path.relpath(path, m["mountPath"])))

            order = idx if kind == "init" else len(inits)
            for k in PATH_ENVS:
                if k in env and isinstance(env[k], str):
                    locate(env[k], k, order=order)
            if kind == "main":
                info["ray"].append((c.get("name"), env))
                if isinstance(env.get("RAY_TLS_SERVER_CERT"), str):
                    info["ray_cert"][c.get("name")] = where(env["RAY_TLS_SERVER_CERT"])
            # `cp [-f] .../raytls DEST`: an init container that hands the binary to the Ray
            # containers (whose image has none) for their exec probes
            argv0 = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
            if kind == "init" and argv0 and os.path.basename(argv0[0]) in ("cp", "install"):
                paths = [a for a in argv0[1:] if not a.startswith("-")]
                if len(paths) >= 2 and any(os.path.basename(a) == "raytls" for a in paths[:-1]):
                    dest = paths[-1]
                    m = locate(dest, "copy destination", need_file=False, need_rw=True)
                    w = where(dest)
                    if m is not None and w is not None:
                        rel = "raytls" if w[1] == "." or dest.endswith("/") else w[1]
                        produced_bin.setdefault((w[0], rel), idx)
            for pname in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = c.get(pname)
                argv = [str(a) for a in (((probe or {}).get("exec") or {}).get("command") or [])]
                if not argv or os.path.basename(argv[0]) != "raytls":
                    continue
                pcname = f"{cname} {pname}"
                for ref in re.findall(r"\$\(([A-Za-z_]\w*)\)", " ".join(argv)):
                    # the kubelet expands only env vars with a literal value in exec probes
                    static = next((e for e in c.get("env") or [] if e.get("name") == ref and "value" in e), None)
                    if static is None:
                        problems.append(f"{pcname}: $({ref}) is not expanded in an exec probe (only literal env values are)")
                binary = argv[0]
                w = where(binary) if binary.startswith("/") else None
                if w is not None:
                    at = produced_bin.get(w)
                    if at is None or at >= order:
                        problems.append(f"{pcname}: runs {binary}, but no earlier init container copies raytls into "
                                        f"volume {w[0]} (the Ray image has no raytls)")
                elif not str(c.get("image", "")).startswith("raytls"):
                    problems.append(f"{pcname}: runs {binary}, which is not on a volume of this container; "
                                    f"image {c.get('image')} has no raytls: copy it into an emptyDir in an init container")
                self.check_invocation(pcname, argv[1:], env, problems)
                words, flags = split_argv(argv[1:])
                values = {f: (expand(v, env) if v is not None else None) for f, v in flags}
                for flag, value in values.items():
                    if flag in PATH_FLAGS and value and value.startswith("/"):
                        locate(value, f"{pname} {flag}", order=order)
                if kind == "main" and words[:1] == ["health-check"]:
                    info["probes"].append({
                        "container": c.get("name"), "probe": pname, "cname": pcname, "values": values,
                        "expect": where(values["--expect-cert"]) if (values.get("--expect-cert") or "").startswith("/") else None,
                        "spec": probe, "has_startup": bool(c.get("startupProbe")),
                    })
            def source(path):
                """The secret behind a file this container reads, or None."""
                m = mount_for(mounts, path)
                if m is None:
                    return None
                return self.source_of(volumes[m["name"]], os.path.relpath(path, m["mountPath"]))

            for argv in raytls_invocations(c):
                self.check_invocation(cname, argv, env, problems)
                words, flags = split_argv(argv)
                if words[:1] == ["serve"]:
                    info["serve"] = self.serve_info(cname, c, flags, env, volumes, locate, problems)
                if words[:1] == ["init"] and any(f == "--signer" for f, _ in flags):
                    value = dict((f, v) for f, v in flags)
                    token = expand(value.get("--token-file") or "", env)
                    sca = expand(value.get("--signer-ca") or "", env)
                    info["signer"] = {"cname": cname, "role": words[1] if len(words) > 1 else None,
                                      "url": expand(value.get("--signer") or "", env),
                                      "token": source(token) if token.startswith("/") else None,
                                      "signer_ca": source(sca) if sca.startswith("/") else None}
                if words[:1] in (["init"], ["renew"]):
                    value = dict((f, v) for f, v in flags)
                    ca_dir = expand(value.get("--ca") or "", env)
                    ca_src = source(os.path.join(ca_dir, "ca.key")) if ca_dir.startswith("/") else None
                    if words[:1] == ["init"] and ca_src is not None:
                        info["init_ca"] = ca_src
                if words[:1] == ["renew"]:
                    d = expand(value.get("--dir") or env.get("RAYTLS_OUT_DIR") or "/etc/ray/tls", env)
                    sca = expand(value.get("--signer-ca") or "", env)
                    r = {"cname": cname, "sidecar": sidecar, "watch": "--watch" in value,
                         "dir": where(d) if d.startswith("/") else None, "dir_path": d,
                         "url": expand(value.get("--signer") or "", env) or None,
                         "signer_ca": source(sca) if sca.startswith("/") else None,
                         "ca": ca_src, "renew_before": value.get("--renew-before"), "role": value.get("--role")}
                    info["renew"].append(r)
                    if r["watch"] and not sidecar:
                        problems.append(f"{cname}: `raytls renew --watch` never exits: in a plain "
                                        f"{'init ' if kind == 'init' else ''}container it "
                                        + ("keeps the pod in Init forever; make it a native sidecar (restartPolicy: Always)"
                                           if kind == "init" else "is not started before Ray; use a native sidecar (an init container with restartPolicy: Always)"))
                    if sidecar and not r["watch"]:
                        problems.append(f"{cname}: a native sidecar running `raytls renew` without --watch exits after one "
                                        "pass and is restarted with back-off: add --watch")
                    if r["dir"] is not None:
                        at = produced.get((r["dir"][0], os.path.join(r["dir"][1], "tls.crt") if r["dir"][1] != "." else "tls.crt"))
                        if at is None or at >= order:
                            problems.append(f"{cname}: renew --dir {d}: no earlier `raytls init --out` writes a certificate there")
                for flag, value in flags:
                    if flag not in PATH_FLAGS or value is None or words[:1] == ["serve"]:
                        continue
                    value = expand(value, env)
                    if not value.startswith("/"):
                        continue
                    if flag == "--dir":
                        locate(value, flag, need_file=False, need_rw=words[:1] == ["renew"])
                    elif flag == "--out":
                        m = locate(value, flag, need_file=False, need_rw=True)
                        if m is not None and words[:1] == ["init"]:
                            for f in INIT_OUTPUTS:
                                produced.setdefault((m["name"], f), idx)
                    elif flag == "--ca" and words[:1] in (["init"], ["renew"]):
                        m = locate(value, flag, need_file=False)
                        if m is not None:
                            info["ca_volumes"].add(m["name"])
                            if not m.get("readOnly"):
                                problems.append(f"{cname}: the CA at {value} is mounted read-write; mount it readOnly")
                            provided = self.volume_files(volumes[m["name"]])
                            if provided is not None and not {"ca.crt", "ca.key"} <= provided:
                                problems.append(f"{cname}: --ca {value} lacks ca.crt/ca.key (has {sorted(provided)})")
                    else:
                        locate(value, flag, order=order)
                if words[:1] == ["init"] and "head" in words:
                    info["fqdn"] = next((expand(v, env) for f, v in flags if f == "--fqdn"), None)
                if words[:1] == ["health-check"]:
                    addr = next((expand(v, env) for f, v in flags if f == "--address"), None)
                    info["dials"].append(addr)
                    info["hc_token"].append(any(f == "--token-file" for f, _ in flags)
                                            or "RAY_AUTH_TOKEN" in env or "RAY_AUTH_TOKEN_PATH" in env)
        for kind, idx, c in all_c:
            if kind == "main":
                for m in c.get("volumeMounts") or []:
                    if m.get("name") in info["ca_volumes"]:
                        problems.append(f"Ray container {c.get('name')} mounts the CA volume {m.get('name')} (ca.key next to Ray)")
        for v in volumes:
            if v not in used:
                problems.append(f"volume {v} is declared but never mounted")
        self.result(f"{label}: consistency", problems)
        info["group"] = gname
        return info

    def vol_ids(self, vol):
        """What secrets a volume brings into a Pod, coarsely: a Secret by name, a CSI volume by
        the secret manager's objects (two SecretProviderClasses may name one object)."""
        if "secret" in vol:
            return {("secret", (vol["secret"] or {}).get("secretName"))}
        if "csi" in vol:
            spc = ((vol["csi"] or {}).get("volumeAttributes") or {}).get("secretProviderClass")
            return {("secret manager", o) for o in (self.spc.get(spc) or {}).values()} or {("csi", spc)}
        if "projected" in vol:
            out = set()
            for src in (vol["projected"] or {}).get("sources") or []:
                if "secret" in src:
                    out.add(("secret", (src["secret"] or {}).get("name")))
            return out
        return set()

    def serve_info(self, cname, c, flags, env, volumes, locate, problems):
        """`raytls serve`'s flags: its CA mount (read-only, ca.crt + ca.key), token files by
        role, --head-name patterns, --san names, the port it listens on."""
        out = {"container": c, "cname": cname, "ca": set(), "tokens": {}, "head_names": [],
               "sans": [], "port": 8443, "max_days": dict(SIGNER_MAX_DAYS)}
        for flag, value in flags:
            value = expand(value, env) if value is not None else None
            if flag == "--ca" and value:
                m = locate(value, flag, need_file=False)
                if m is None:
                    continue
                vol = volumes[m["name"]]
                if not m.get("readOnly"):
                    problems.append(f"{cname}: the signer's CA at {value} is mounted read-write; mount it readOnly")
                provided = self.volume_files(vol)
                if provided is not None and not {"ca.crt", "ca.key"} <= provided:
                    problems.append(f"{cname}: --ca {value} lacks ca.crt/ca.key (has {sorted(provided)})")
                out["ca"] = self.vol_ids(vol) if "secret" in vol else {self.source_of(vol, "ca.key")}
            elif flag == "--token" and value:
                role, _, path = value.partition("=")
                if role not in ("head", "worker", "client") or not path.startswith("/"):
                    problems.append(f"{cname}: --token {value}: want ROLE=/path (head, worker, client)")
                    continue
                m = locate(path, f"--token {role}=FILE:")
                if m is not None:
                    out["tokens"][role] = self.source_of(volumes[m["name"]], os.path.relpath(path, m["mountPath"]))
            elif flag == "--head-name" and value:
                out["head_names"].append(value)
            elif flag == "--san" and value:
                out["sans"].append(value)
            elif flag == "--max-days" and value:
                role, _, days = value.partition("=")
                if role not in SIGNER_MAX_DAYS or not days.isdigit() or int(days) < 1:
                    problems.append(f"{cname}: --max-days {value}: want ROLE=DAYS (head, worker, client)")
                else:
                    out["max_days"][role] = int(days)
            elif flag == "--listen" and value:
                try:
                    out["port"] = int(value.rsplit(":", 1)[1])
                except (IndexError, ValueError):
                    problems.append(f"{cname}: --listen {value} is not ADDR:PORT")
        if not out["tokens"]:
            problems.append(f"{cname}: raytls serve has no --token ROLE=FILE")
        return out

    def check_invocation(self, cname, argv, env, problems):
        words, flags = split_argv(argv)
        if not words:
            problems.append(f"{cname}: `raytls` without a subcommand")
            return
        code, text = self.help_text(words)
        cmdline = "raytls " + " ".join(words)
        if code != 0:
            problems.append(f"{cname}: `{cmdline} --help` exited {code}: not a raytls subcommand (yet?)")
            return
        for flag, _ in flags:
            if not re.search(r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])", text):
                problems.append(f"{cname}: `{cmdline}` has no flag {flag} (not in its --help)")

    # ------------------------------------------------------------------ whole cluster
    def check_cluster(self, label, cluster):
        problems = []
        groups = cluster["groups"]
        head = next((g for g in groups if g["group"] == "head"), None)
        token_on = []
        for g in groups:
            for rname, env in g["ray"]:
                if env.get("RAY_USE_TLS") != "1":
                    problems.append(f"{g['group']}/{rname}: RAY_USE_TLS is {env.get('RAY_USE_TLS')!r}, want \"1\"")
                for k in TLS_ENVS:
                    if k not in env:
                        problems.append(f"{g['group']}/{rname}: {k} is not set")
                on = env.get("RAY_AUTH_MODE") == "token"
                token_on.append(on)
                if on and "RAY_AUTH_TOKEN" not in env and "RAY_AUTH_TOKEN_PATH" not in env:
                    problems.append(f"{g['group']}/{rname}: RAY_AUTH_MODE=token but neither RAY_AUTH_TOKEN nor RAY_AUTH_TOKEN_PATH")
        if any(token_on) and not all(token_on):
            problems.append("RAY_AUTH_MODE=token is set on some Ray containers but not all")
        want_prefix = f"{cluster['name']}-head-svc."
        fqdn = head and head["fqdn"]
        if head is not None:
            if not fqdn:
                problems.append("the head's `raytls init head` has no --fqdn: workers dial the head Service by name")
            elif not fqdn.startswith(want_prefix):
                problems.append(f"head --fqdn {fqdn} is not KubeRay's head Service {want_prefix}<namespace>...")
        for g in groups:
            for addr, has_token in zip(g["dials"], g["hc_token"]):
                host = (addr or "").rsplit(":", 1)[0]
                if fqdn and host != fqdn:
                    problems.append(f"{g['group']}: health-check dials {host}, but the head certificate holds {fqdn}")
                if any(token_on) and not has_token:
                    problems.append(f"{g['group']}: token auth is on but health-check has no --token-file")
        self.result(f"{label}: cluster consistency", problems)

    # ------------------------------------------------------------------ renewal
    def check_renewal(self, label, cluster):
        """Ray-aware renewal: the sidecar renews the files Ray reads, through the source the
        init used; the Ray container's liveness probe compares what Ray serves with that
        tls.crt, on the right port, with timings that give one restart per renewal; a head
        without GCS fault tolerance is never restarted for a renewal."""
        problems = []
        ft = cluster["ft"]
        for g in cluster["groups"]:
            head = g["group"] == "head"
            who = g["group"]
            params = g.get("start_params") or {}
            gcs_port = to_int(params.get("port")) or GCS_PORT
            nm_port = to_int(params.get("node-manager-port"))
            # -- the sidecar renews what Ray reads, as the init got it
            for r in g["renew"]:
                if not r["sidecar"]:
                    continue
                for rname, loc in g["ray_cert"].items():
                    want = (loc[0], os.path.dirname(loc[1]) or ".") if loc else None
                    if r["dir"] is not None and r["dir"] != want:
                        problems.append(f"{who}: sidecar renews --dir {r['dir_path']} (volume {r['dir'][0]}), but Ray "
                                        f"container {rname} reads RAY_TLS_SERVER_CERT from "
                                        f"{'volume ' + want[0] if want else 'no volume'}: Ray would never see the renewal")
                init = g["signer"]
                if init is not None:
                    if r["url"] is None:
                        problems.append(f"{who}: init got the certificate from the signer {init['url']}, "
                                        "but the sidecar renews with a local CA")
                    elif r["url"] != init["url"]:
                        problems.append(f"{who}: sidecar renews through {r['url']}, init used {init['url']}")
                    elif r["signer_ca"] != init["signer_ca"]:
                        problems.append(f"{who}: sidecar checks the signer against {r['signer_ca']}, init against "
                                        f"{init['signer_ca']}: trust one CA for the signer")
                elif g["init_ca"] is not None:
                    if r["url"] is not None:
                        problems.append(f"{who}: init signed with a local CA, but the sidecar renews through {r['url']}")
                    elif r["ca"] != g["init_ca"]:
                        problems.append(f"{who}: sidecar renews with the CA {r['ca']}, init used {g['init_ca']}")
                else:
                    problems.append(f"{who}: a renewal sidecar, but no `raytls init` in this Pod issues the first certificate")
            sidecars = [r for r in g["renew"] if r["sidecar"]]
            # -- the probes of the Ray containers
            for pr in g["probes"]:
                v, spec = pr["values"], pr["spec"] or {}
                addr = v.get("--address") or ""
                host, _, port = addr.rpartition(":")
                port = to_int(port) if host else None
                host = host or addr
                expect = "--expect-cert" in v
                where_ = f"{who}/{pr['container']} {pr['probe']}"
                if host not in LOOPBACK:
                    problems.append(f"{where_}: dials {addr}; a probe checks this pod's own Ray: 127.0.0.1:PORT")
                if (not expect or "--and-gcs" in v) and port != gcs_port:
                    problems.append(f"{where_}: health-check without --expect-cert (or with --and-gcs) makes GCS "
                                    f"calls, but port {port} is not the GCS ({gcs_port}): it would always fail")
                if expect:
                    if head and port not in (gcs_port, nm_port):
                        problems.append(f"{where_}: dials port {port}, not the head's GCS port {gcs_port}")
                    if not head:
                        if nm_port is None:
                            problems.append(f"{where_}: rayStartParams has no node-manager-port: the raylet listens "
                                            "on a random port the probe cannot know")
                        elif port != nm_port:
                            problems.append(f"{where_}: dials port {port}, but the raylet listens on "
                                            f"node-manager-port {nm_port}")
                    cert = g["ray_cert"].get(pr["container"])
                    if pr["expect"] != cert:
                        problems.append(f"{where_}: --expect-cert {v.get('--expect-cert')} is not the certificate "
                                        f"Ray loads (RAY_TLS_SERVER_CERT, {cert})")
                timeout = parse_seconds(v.get("--timeout") or "5s")
                tsec = spec.get("timeoutSeconds", 1)
                if timeout is None:
                    problems.append(f"{where_}: --timeout {v.get('--timeout')} is not a duration")
                elif not isinstance(tsec, int) or tsec <= timeout:
                    problems.append(f"{where_}: timeoutSeconds {tsec} is not above health-check's --timeout "
                                    f"({timeout:g}s): the kubelet kills the check before raytls names the cause")
                if pr["probe"] == "livenessProbe":
                    if spec.get("failureThreshold", 3) < 2:
                        problems.append(f"{where_}: failureThreshold {spec.get('failureThreshold')}: one slow answer "
                                        "would restart Ray; use 2 or more")
                    if not pr["has_startup"] and spec.get("initialDelaySeconds", 0) < 60:
                        problems.append(f"{where_}: no startupProbe (or initialDelaySeconds >= 60): a slow Ray start "
                                        "is killed before it listens, in a loop")
            # -- the policy: who is restarted for a renewal
            for rname, _ in g["ray"]:
                live = [pr for pr in g["probes"] if pr["container"] == rname and pr["probe"] == "livenessProbe"]
                stale = [pr for pr in live if "--expect-cert" in pr["values"]]
                if head and not ft and stale:
                    problems.append(f"{who}/{rname}: liveness probe with --expect-cert on a head without GCS fault "
                                    "tolerance: a renewal would restart the whole cluster; make the head's renewal a "
                                    "planned event (no --expect-cert there) or enable gcsFaultToleranceOptions")
                if sidecars and not head and not stale:
                    problems.append(f"{who}/{rname}: a renewal sidecar but no liveness probe with --expect-cert: Ray "
                                    "keeps the old certificate until it expires")
        self.result(f"{label}: renewal (sidecar <-> Ray <-> probe, head vs workers)", problems)

    # ------------------------------------------------------------------ the signer
    def check_signer(self, fname, docs, signers, clusters):
        problems = []
        if len(signers) != 1:
            problems.append(f"{len(signers)} workloads run `raytls serve`; want exactly one")
            self.result(f"{fname}: signer consistency", problems)
            return
        sig = signers[0]
        srv, doc = sig["serve"], sig["doc"]
        spec = sig["spec"]
        c = srv["container"]
        port = srv["port"]
        # -- the signer itself
        if doc.get("kind") == "Deployment" and not (isinstance((doc.get("spec") or {}).get("replicas"), int)
                                                    and doc["spec"]["replicas"] >= 2):
            problems.append("the signer Deployment has fewer than 2 replicas: one node drain stops all pod starts")
        pod_sc = spec.get("securityContext") or {}
        sc = c.get("securityContext") or {}
        if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
            problems.append("the signer container is not runAsNonRoot")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append("the signer container has no readOnlyRootFilesystem: true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append("the signer container does not set allowPrivilegeEscalation: false")
        named = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        for probe in ("readinessProbe", "livenessProbe"):
            get = ((c.get(probe) or {}).get("httpGet")) or {}
            pport = named.get(get.get("port"), get.get("port"))
            if get.get("path") != "/healthz" or get.get("scheme") != "HTTPS" or pport != port:
                problems.append(f"the signer has no {probe} GET /healthz over HTTPS on port {port}")
        # -- the Service in front of it
        services = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Service"
                    and selects(((d.get("spec") or {}).get("selector")) or {}, sig["labels"])]
        if not services:
            problems.append("no Service selects the signer's pods")
        svc_names = {}
        for svc in services:
            ns = (svc.get("metadata") or {}).get("namespace") or sig["namespace"] or "default"
            for sp in (svc.get("spec") or {}).get("ports") or []:
                tp = sp.get("targetPort", sp.get("port"))
                if named.get(tp, tp) != port:
                    problems.append(f"Service {meta_name(svc)} port {sp.get('port')} goes to {tp}, not the signer's port {port}")
                name = meta_name(svc)
                for host in (name, f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"):
                    svc_names[(host, sp.get("port"))] = name
        # -- every Ray pod that asks it
        policy_clusters = set()
        for cl in clusters:
            for g in cl["groups"]:
                who = f"{cl['name']} {g['group']} Pod"
                if g["ca_keys"]:
                    problems.append(f"{who}: a volume of this Ray Pod provides ca.key ({sorted(map(str, g['ca_keys']))}): no CA key in a Ray pod")
                if srv["ca"] & g["mounted"]:
                    problems.append(f"{who}: mounts the signer's CA ({sorted(map(str, srv['ca'] & g['mounted']))}): no CA key in a Ray pod")
                req = g["signer"]
                if req is None:
                    continue
                policy_clusters.add(cl["name"])
                m = re.fullmatch(r"https://([^/:]+):(\d+)/?", req["url"] or "")
                if not m:
                    problems.append(f"{who}: --signer {req['url']!r} is not https://HOST:PORT")
                else:
                    host, uport = m.group(1), int(m.group(2))
                    if (host, uport) not in svc_names:
                        problems.append(f"{who}: --signer {req['url']} is not a Service of the signer and its port "
                                        f"(have {sorted(f'{h}:{p}' for h, p in svc_names)})")
                    if host not in srv["sans"]:
                        problems.append(f"{who}: --signer host {host} is not a --san of raytls serve: "
                                        "the signer's certificate would not hold the name the pod dials")
                want = srv["tokens"].get(req["role"])
                if want is None:
                    problems.append(f"{who}: the signer has no --token for role {req['role']}")
                elif req["token"] != want:
                    problems.append(f"{who}: --token-file is {req['token']}, but the signer's {req['role']} token is {want}")
                if req["role"] == "head":
                    fqdn = g["fqdn"]
                    if fqdn and not any(name_matches(pat, fqdn) for pat in srv["head_names"]):
                        problems.append(f"{who}: --fqdn {fqdn} matches no --head-name of the signer "
                                        f"({srv['head_names']}): the signer would refuse it (403)")
        # -- lifetimes (Ray-aware): a head without GCS FT outlives the workers; no sidecar renews
        #    on every pass
        days = srv["max_days"]
        renewing = [cl for cl in clusters if any(g["signer"] and any(r["sidecar"] for r in g["renew"]) for g in cl["groups"])]
        if any(not cl["ft"] for cl in renewing) and days["head"] <= days["worker"]:
            problems.append(f"the signer gives heads {days['head']} days, workers {days['worker']}: without GCS fault "
                            "tolerance a head restart restarts the cluster, so heads need the longer lifetime "
                            "(--max-days head=365 --max-days worker=30)")
        for cl in renewing:
            for g in cl["groups"]:
                role = (g["signer"] or {}).get("role")
                for r in g["renew"]:
                    life = days.get(r["role"] or role)
                    before = parse_seconds(r["renew_before"]) if r["renew_before"] else None
                    if r["renew_before"] and before is None:
                        problems.append(f"{cl['name']} {g['group']}: --renew-before {r['renew_before']} is not a duration")
                    elif before is not None and life is not None and before >= life * 86400:
                        problems.append(f"{cl['name']} {g['group']}: --renew-before {r['renew_before']} is not shorter than "
                                        f"the {r['role'] or role} lifetime ({life} days): every pass renews, and the probe "
                                        "restarts Ray each time")
        # -- who may reach it
        allowed = None
        for np in docs:
            if not (isinstance(np, dict) and np.get("kind") == "NetworkPolicy"):
                continue
            nps = np.get("spec") or {}
            if not selects(((nps.get("podSelector") or {}).get("matchLabels")) or {}, sig["labels"]):
                continue
            if "Ingress" not in (nps.get("policyTypes") or ["Ingress"]):
                continue
            allowed = allowed or set()
            for rule in nps.get("ingress") or []:
                peers = rule.get("from")
                ports = [p.get("port") for p in rule.get("ports") or []]
                if ports and port not in ports and not any(named.get(p) == port for p in ports):
                    continue
                if not peers:
                    problems.append(f"NetworkPolicy {meta_name(np)} lets any pod reach the signer (a rule with no 'from')")
                    continue
                for peer in peers:
                    labels = ((peer.get("podSelector") or {}).get("matchLabels")) or {}
                    cl = labels.get("ray.io/cluster")
                    if set(labels) != {"ray.io/cluster"} or "ipBlock" in peer or peer.get("podSelector", {}).get("matchExpressions"):
                        problems.append(f"NetworkPolicy {meta_name(np)}: peer {peer} is not only the pods of a RayCluster "
                                        "(podSelector matchLabels ray.io/cluster: NAME)")
                    elif cl not in {x['name'] for x in clusters}:
                        problems.append(f"NetworkPolicy {meta_name(np)} lets in ray.io/cluster={cl}, no RayCluster of this file")
                    else:
                        allowed.add(cl)
        if allowed is None:
            problems.append("no NetworkPolicy selects the signer's pods: any pod in the cluster can ask it")
        else:
            for cl in sorted(policy_clusters - allowed):
                problems.append(f"no NetworkPolicy lets RayCluster {cl}'s pods reach the signer on port {port}")
        self.result(f"{fname}: signer consistency (serve <-> Service <-> NetworkPolicy <-> init --signer)", problems)


# ---------------------------------------------------------------------- helpers
def selects(selector, labels):
    """A label selector (matchLabels form) matches these labels; an empty one matches nothing here."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def name_matches(pattern, name):
    """--head-name semantics: '*' stands for part of the first label only."""
    first, _, rest = pattern.partition(".")
    nfirst, _, nrest = name.partition(".")
    if rest != nrest:
        return False
    return re.fullmatch(re.escape(first).replace(r"\*", "[^.]*"), nfirst) is not None
def to_int(v):
    try:
        return int(str(v))
    except (TypeError, ValueError):
        return None


def parse_seconds(text):
    """A raytls duration (90d, 12h, 30m, 5s, 500ms, 1h30m) in seconds, or None."""
    parts = re.findall(r"(\d+)(ms|[smhd])", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        return None
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * unit[u] for n, u in parts)


def gcs_ft_problems(ft):
    """KubeRay's gcsFaultToleranceOptions, structurally (the CRD is not in the schemas)."""
    if not isinstance(ft, dict):
        return ["spec.gcsFaultToleranceOptions is not a mapping"]
    problems = [f"spec.gcsFaultToleranceOptions.{k} is not a KubeRay field ({sorted(GCS_FT_FIELDS)})"
                for k in ft if k not in GCS_FT_FIELDS]
    if ft.get("backend", "redis") == "redis":
        addr = ft.get("redisAddress")
        if not isinstance(addr, str) or not re.fullmatch(r"(rediss?://)?[^:/\s]+:\d+", addr):
            problems.append(f"spec.gcsFaultToleranceOptions.redisAddress {addr!r} is not HOST:PORT (or redis://HOST:PORT)")
    for k in ("redisPassword", "redisUsername"):
        cred = ft.get(k)
        if cred is None:
            continue
        if not isinstance(cred, dict) or len({"value", "valueFrom"} & set(cred)) != 1 or set(cred) - {"value", "valueFrom"}:
            problems.append(f"spec.gcsFaultToleranceOptions.{k}: want exactly one of value, valueFrom")
        elif "valueFrom" in cred and not (isinstance(cred["valueFrom"], dict) and cred["valueFrom"].get("secretKeyRef")):
            problems.append(f"spec.gcsFaultToleranceOptions.{k}.valueFrom: want a secretKeyRef (name, key)")
    return problems


def meta_name(obj):
    return ((obj.get("metadata") or {}).get("name")) if isinstance(obj, dict) else None


def env_values(c, problems, cname):
    """Env of a container, with $(VAR) expanded as the kubelet does (earlier vars only)."""
    env = {}
    for e in c.get("env") or []:
        name = e.get("name")
        if "value" in e:
            value = str(e["value"])
            for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", value):
                if ref not in env:
                    problems.append(f"{cname}: env {name} uses $({ref}), which is not defined before it")
            env[name] = expand(value, env)
        elif "valueFrom" in e:
            env[name] = f"<{name}>"  # from the downward API or a Secret: known only at run time
    for field in ("command", "args"):
        for arg in c.get(field) or []:
            for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(arg)):
                if ref not in env:
                    problems.append(f"{cname}: {field} uses $({ref}), which is not in the container's env (it stays literal)")
    for script in shell_scripts(c):
        for ref in re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", re.sub(r"\$\([A-Za-z_]\w*\)", "", script)):
            if ref not in env:
                problems.append(f"{cname}: the shell script uses ${ref}, which is not in the container's env")
    return env


def expand(value, env):
    value = re.sub(r"\$\(([A-Za-z_]\w*)\)", lambda m: env.get(m.group(1), m.group(0)), value)
    return re.sub(r"\$\{?([A-Za-z_]\w*)\}?", lambda m: env.get(m.group(1), m.group(0)), value)


def shell_scripts(c):
    argv = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
    if len(argv) >= 3 and os.path.basename(argv[0]) in ("sh", "bash", "ash") and argv[1] in ("-c", "-ec", "-lc"):
        return [argv[2]]
    return []


def raytls_invocations(c):
    """Every raytls argv: the container's own command, or raytls words inside `sh -c`."""
    argv = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
    if argv and os.path.basename(argv[0]) == "raytls":
        return [argv[1:]]
    out = []
    for script in shell_scripts(c):
        script = script.replace("\\\n", " ")
        for line in script.splitlines():
            lex = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
            lex.whitespace_split = True
            lex.commenters = "#"
            try:
                tokens = list(lex)
            except ValueError:
                continue
            cur = None
            for t in tokens + [";"]:
                if cur is not None:
                    if t in SHELL_OPS:
                        out.append(cur)
                        cur = None
                    else:
                        cur.append(t)
                elif os.path.basename(t) == "raytls":
                    cur = []
    return out


def split_argv(argv):
    """Leading bare words are the subcommand path; then --flag [value] pairs."""
    words, flags, i = [], [], 0
    while i < len(argv) and not argv[i].startswith("-"):
        words.append(argv[i])
        i += 1
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            if "=" in a:
                f, v = a.split("=", 1)
                flags.append((f, v))
            elif i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                flags.append((a, argv[i + 1]))
                i += 1
            else:
                flags.append((a, None))
        i += 1
    return words, flags


def mount_for(mounts, path):
    best = None
    for m in mounts:
        mp = m.get("mountPath", "").rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best["mountPath"].rstrip("/")):
                best = m
    return best


def volume_files(vol):
    """Files a volume provides, or None when unknown (e.g. a Secret we do not know)."""
    if "secret" in vol:
        sec = vol["secret"] or {}
        if sec.get("items"):
            return {i.get("path") for i in sec["items"]}
        return KNOWN_SECRET_KEYS.get(sec.get("secretName"))
    if "configMap" in vol:
        cm = vol["configMap"] or {}
        if cm.get("items"):
            return {i.get("path") for i in cm["items"]}
        return KNOWN_CONFIGMAP_KEYS.get(cm.get("name"))
    if "emptyDir" in vol:
        return INIT_OUTPUTS
    return None


def spc_files(provider, params, problems):
    """{file name in the CSI volume: the secret manager's object} of a SecretProviderClass,
    for the providers whose `objects`/`secrets` parameter we know; None for others."""
    key = {"aws": "objects", "azure": "objects", "vault": "objects", "gcp": "secrets"}.get(provider)
    if key is None:
        return None
    try:
        objs = yaml.safe_load(params.get(key) or "") or []
    except yaml.YAMLError as e:
        problems.append(f"parameters.{key} is not YAML: {e}")
        return {}
    if provider == "azure" and isinstance(objs, dict):  # {array: ["objectName: ...", ...]}
        objs = [yaml.safe_load(o) if isinstance(o, str) else o for o in objs.get("array") or []]
    if not isinstance(objs, list) or not objs:
        problems.append(f"parameters.{key} lists no objects")
        return {}
    files = {}
    for o in objs:
        if not isinstance(o, dict):
            problems.append(f"parameters.{key}: an entry is not a mapping")
            continue
        if provider == "gcp":
            name, obj = o.get("fileName") or o.get("path"), o.get("resourceName")
        else:
            obj = o.get("objectName")
            name = o.get("objectAlias") or (os.path.basename(obj) if obj else None)
            if provider == "vault":
                obj = f"{o.get('secretPath')}#{o.get('secretKey')}"
        if not name or not obj:
            problems.append(f"parameters.{key}: an entry has no object name or file name: {o}")
            continue
        if "/" in name:
            problems.append(f"parameters.{key}: file name {name} has a '/'")
        if name in files:
            problems.append(f"parameters.{key}: two objects are mounted as {name}")
        files[name] = obj
    return files


def check_generated_secret(checker, manifests):
    """`raytls token generate --k8s-secret NAME` output, for each token Secret the manifests
    mount (and ray-auth-token always): schema-valid, and it holds every key they mount."""
    keys = {n: set() for n in TOKEN_SECRETS}
    refs = {n: 0 for n in TOKEN_SECRETS}
    for doc in manifests:
        for v in find_key(doc, "secret"):
            if isinstance(v, dict) and v.get("secretName") in keys:
                name = v["secretName"]
                refs[name] += 1
                keys[name] |= {i.get("key") for i in v.get("items") or []} or {"auth_token"}
    for name in TOKEN_SECRETS:
        if name != "ray-auth-token" and not refs[name]:
            continue
        label = f"raytls token generate --k8s-secret {name}"
        try:
            out = subprocess.run([checker.raytls, "token", "generate", "--k8s-secret", name,
                                  "--namespace", "ray"], capture_output=True, text=True, timeout=30)
        except OSError as e:
            checker.result(label, [str(e)])
            continue
        problems = []
        if out.returncode != 0:
            problems.append(f"exit {out.returncode}: {out.stderr.strip()}")
        else:
            try:
                secret = yaml.safe_load(out.stdout)
            except yaml.YAMLError as e:
                secret = None
                problems.append(f"not YAML: {e}")
            if isinstance(secret, dict):
                data = secret.get("data") or {}
                for k in sorted(keys[name] or {"auth_token"}):
                    if k not in data:
                        problems.append(f"no data.{k}, a key the manifests mount")
                if meta_name(secret) != name:
                    problems.append(f"the Secret is named {meta_name(secret)!r}, not {name!r}")
                checker.validate_schema(label, secret)
        checker.result(f"{label} (mounted {refs[name]} time(s) in the manifests)", problems)


def find_key(obj, key):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                yield v
            yield from find_key(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from find_key(v, key)


# ---------------------------------------------------------------------- self-test
def mutations(rc):
    """(description, mutate) pairs: each must make the checker fail."""
    def head(d):
        return d["spec"]["headGroupSpec"]["template"]["spec"]

    def worker(d):
        return d["spec"]["workerGroupSpecs"][0]["template"]["spec"]

    def env_of(c, name):
        return next(e for e in c["env"] if e["name"] == name)

    def wait(d):
        return next(c for c in worker(d)["initContainers"] if "health-check" in " ".join(c.get("command", [])))

    return [
        ("RAY_TLS_CA_CERT outside any mount", lambda d: env_of(head(d)["containers"][0], "RAY_TLS_CA_CERT").update(value="/etc/ray/nope/ca.crt")),
        ("RAY_TLS_SERVER_KEY names a file init does not write", lambda d: env_of(worker(d)["containers"][0], "RAY_TLS_SERVER_KEY").update(value="/etc/ray/tls/server.key")),
        ("unknown init flag", lambda d: head(d)["initContainers"][0]["command"].append("--bogus")),
        ("unknown subcommand", lambda d: head(d)["initContainers"][0]["command"].__setitem__(1, "bootstrap")),
        ("unknown health-check flag in sh -c", lambda d: wait(d)["command"].__setitem__(2, wait(d)["command"][2].replace("--timeout", "--deadline"))),
        ("mount of a missing volume", lambda d: head(d)["volumes"].pop()),
        ("undefined $(VAR) in args", lambda d: head(d)["initContainers"][0]["command"].__setitem__(-1, "$(NO_SUCH_VAR)")),
        ("--out on a read-only mount", lambda d: head(d)["initContainers"][0]["volumeMounts"][1].update(readOnly=True)),
        ("CA mounted next to Ray", lambda d: head(d)["containers"][0]["volumeMounts"].append({"name": "ca-tls", "mountPath": "/etc/ca/tls", "readOnly": True})),
        ("RAY_USE_TLS off on the worker", lambda d: env_of(worker(d)["containers"][0], "RAY_USE_TLS").update(value="0")),
        ("workers dial a name not in the head cert", lambda d: env_of(wait(d), "RAY_HEAD_ADDRESS").update(value="ray-head:6379")),
        ("wait before init (cert not yet written)", lambda d: worker(d)["initContainers"].reverse()),
        ("container named wait-gcs-ready", lambda d: wait(d).update(name="wait-gcs-ready")),
        ("schema: unknown field in a container", lambda d: head(d)["containers"][0].update(imagePullPolcy="Always")),
        ("structure: no workerGroupSpecs", lambda d: d["spec"].pop("workerGroupSpecs")),
    ]


def signer_mutations():
    """(description, mutate(docs)) pairs for a file with the signer: each must be caught."""
    def kind(docs, k):
        return next(d for d in docs if isinstance(d, dict) and d.get("kind") == k)

    def signer(docs):
        return kind(docs, "Deployment")["spec"]["template"]["spec"]

    def serve(docs):
        return signer(docs)["containers"][0]

    def pod(docs, group):
        spec = kind(docs, "RayCluster")["spec"]
        g = spec["headGroupSpec"] if group == "head" else spec["workerGroupSpecs"][0]
        return g["template"]["spec"]

    def init(docs, group):
        return next(c for c in pod(docs, group)["initContainers"] if "--signer" in c.get("command", []))

    def set_flag(cmd, flag, value, nth=0):
        i = [j for j, a in enumerate(cmd) if a == flag][nth]
        cmd[i + 1] = value

    def flag_value(cmd, flag, prefix=""):
        return next(cmd[j + 1] for j, a in enumerate(cmd) if a == flag and cmd[j + 1].startswith(prefix))

    def vol(spec, name):
        return next(v for v in spec["volumes"] if v["name"] == name)

    def token_volume(docs, group):
        path = flag_value(init(docs, group)["command"], "--token-file")
        m = next(m for m in init(docs, group)["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
        return vol(pod(docs, group), m["name"])

    def head_mounts_worker_token(docs):
        hv, wv = token_volume(docs, "head"), token_volume(docs, "workers")
        hv.clear()
        hv.update(copy.deepcopy(wv))

    def ca_into_worker(docs):
        ca_dir = flag_value(serve(docs)["command"], "--ca")
        m = next(m for m in serve(docs)["volumeMounts"] if m["mountPath"] == ca_dir)
        v = copy.deepcopy(vol(signer(docs), m["name"]))
        v["name"] = "stolen-ca"
        pod(docs, "workers")["volumes"].append(v)
        init(docs, "workers")["volumeMounts"].append({"name": "stolen-ca", "mountPath": "/etc/stolen", "readOnly": True})

    def ca_mount_rw(docs):
        ca_dir = flag_value(serve(docs)["command"], "--ca")
        next(m for m in serve(docs)["volumeMounts"] if m["mountPath"] == ca_dir)["readOnly"] = False

    def worker_token_is_head_token(docs):
        cmd = serve(docs)["command"]
        head = flag_value(cmd, "--token", "head=")
        i = cmd.index(flag_value(cmd, "--token", "worker="))
        cmd[i] = "worker=" + head.split("=", 1)[1]

    def netpol(docs):
        return kind(docs, "NetworkPolicy")["spec"]

    def root(docs):
        signer(docs).get("securityContext", {}).pop("runAsNonRoot", None)
        serve(docs)["securityContext"]["runAsNonRoot"] = False

    return [
        ("the head pod mounts the worker's token", head_mounts_worker_token),
        ("the signer's CA mounted into a worker pod", ca_into_worker),
        ("the signer's CA mounted read-write", ca_mount_rw),
        ("the signer takes the head token for role worker", worker_token_is_head_token),
        ("--signer host not in the signer's --san", lambda d: set_flag(init(d, "workers")["command"], "--signer", "https://raytls-signer.ray:8443")),
        ("--signer port not the Service's", lambda d: set_flag(init(d, "workers")["command"], "--signer", "https://raytls-signer.ray.svc:9443")),
        ("--signer over plain http", lambda d: set_flag(init(d, "head")["command"], "--signer", "http://raytls-signer.ray.svc:8443")),
        ("--head-name that misses the head's --fqdn", lambda d: set_flag(serve(d)["command"], "--head-name", "*-head-svc.other.svc.cluster.local")),
        ("--token-file outside any mount", lambda d: set_flag(init(d, "head")["command"], "--token-file", "/etc/raytls/nope/auth_token")),
        ("--signer-ca names a file the volume lacks", lambda d: set_flag(init(d, "workers")["command"], "--signer-ca", "/etc/raytls/ca/root.crt")),
        ("serve --token file outside any mount", lambda d: set_flag(serve(d)["command"], "--token", "head=/etc/elsewhere/token")),
        ("unknown serve flag", lambda d: serve(d)["command"].append("--bogus")),
        ("NetworkPolicy open to every pod", lambda d: netpol(d)["ingress"][0].pop("from")),
        ("NetworkPolicy lets in another cluster's pods", lambda d: netpol(d)["ingress"][0]["from"][0]["podSelector"]["matchLabels"].update({"ray.io/cluster": "other"})),
        ("no NetworkPolicy", lambda d: d.remove(kind(d, "NetworkPolicy"))),
        ("a single signer replica", lambda d: kind(d, "Deployment")["spec"].update(replicas=1)),
        ("the signer may run as root", root),
        ("the signer's root filesystem writable", lambda d: serve(d)["securityContext"].update(readOnlyRootFilesystem=False)),
        ("no liveness probe on the signer", lambda d: serve(d).pop("livenessProbe")),
        ("readiness probe over plain HTTP", lambda d: serve(d)["readinessProbe"]["httpGet"].update(scheme="HTTP")),
        ("the Service targets another port", lambda d: kind(d, "Service")["spec"]["ports"][0].update(targetPort=9443)),
        ("the Service selects other pods", lambda d: kind(d, "Service")["spec"].update(selector={"app.kubernetes.io/name": "other"})),
        ("schema: unknown field in the signer container", lambda d: serve(d).update(imagePullPolcy="Always")),
    ]


def renewal_mutations(docs):
    """(description, mutate(docs)) pairs for a file whose Ray pods renew (a `raytls renew`
    sidecar): each must be caught. The GCS-FT ones only where the file has
    gcsFaultToleranceOptions; the head-restart ones only where it does not."""
    def rc(docs):
        return next(d for d in docs if isinstance(d, dict) and d.get("kind") == "RayCluster")

    def group(docs, g):
        spec = rc(docs)["spec"]
        return spec["headGroupSpec"] if g == "head" else spec["workerGroupSpecs"][0]

    def pod(docs, g):
        return group(docs, g)["template"]["spec"]

    def sidecar(docs, g):
        return next(c for c in pod(docs, g)["initContainers"] if c.get("restartPolicy") == "Always")

    def ray(docs, g):
        return pod(docs, g)["containers"][0]

    def own_command(probe):
        # the probes share their command through a YAML anchor: give this one its own list
        probe["exec"]["command"] = list(probe["exec"]["command"])
        return probe["exec"]["command"]

    def set_flag(cmd, flag, value):
        cmd[cmd.index(flag) + 1] = value

    def drop_flag(cmd, flag):
        i = cmd.index(flag)
        del cmd[i:i + 2]

    def serve(docs):
        dep = next(d for d in docs if isinstance(d, dict) and d.get("kind") == "Deployment")
        return dep["spec"]["template"]["spec"]["containers"][0]["command"]

    def sidecar_on_other_volume(docs):
        pod(docs, "workers")["volumes"].append({"name": "spare-tls", "emptyDir": {"medium": "Memory"}})
        next(m for m in sidecar(docs, "workers")["volumeMounts"] if m["name"] == "ray-tls")["name"] = "spare-tls"

    def sidecar_trusts_other_ca(docs):
        pod(docs, "workers")["volumes"].append({"name": "other-ca", "configMap": {
            "name": "other-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}})
        next(m for m in sidecar(docs, "workers")["volumeMounts"] if m["name"] == "cluster-ca")["name"] = "other-ca"

    def sidecar_local_ca(docs):
        cmd = sidecar(docs, "workers")["command"]
        i = cmd.index("--signer")
        cmd[i:i + 4] = ["--ca", "/etc/raytls/ca"]

    def no_install(docs):
        inits = pod(docs, "workers")["initContainers"]
        inits.remove(next(c for c in inits if c["command"][0] == "cp"))

    def head_stale_probe(docs):
        cmd = own_command(ray(docs, "head")["livenessProbe"])
        if "--expect-cert" not in cmd:
            cmd[2:2] = ["--expect-cert", "/etc/ray/tls/tls.crt"]

    ft = "gcsFaultToleranceOptions" in rc(docs)["spec"]
    out = [
        ("the sidecar renews another volume than Ray reads", sidecar_on_other_volume),
        ("the sidecar is a plain init container (no restartPolicy: Always)", lambda d: sidecar(d, "workers").pop("restartPolicy")),
        ("the sidecar runs renew without --watch", lambda d: sidecar(d, "workers")["command"].remove("--watch")),
        ("the sidecar renews through another signer than init", lambda d: set_flag(sidecar(d, "workers")["command"], "--signer", "https://raytls-signer.other.svc:8443")),
        ("the sidecar trusts another CA for the signer", sidecar_trusts_other_ca),
        ("the sidecar renews with a local CA, init used the signer", sidecar_local_ca),
        ("unknown renew flag", lambda d: sidecar(d, "workers")["command"].append("--bogus")),
        ("a worker --renew-before as long as its lifetime", lambda d: sidecar(d, "workers")["command"].extend(["--renew-before", "30d"])),
        ("--expect-cert is not the certificate Ray loads", lambda d: set_flag(own_command(ray(d, "workers")["livenessProbe"]), "--expect-cert", "/etc/ray/tls/ca.crt")),
        ("the worker probe dials another port than node-manager-port", lambda d: set_flag(own_command(ray(d, "workers")["livenessProbe"]), "--address", "127.0.0.1:6381")),
        ("the worker probe dials another host", lambda d: set_flag(own_command(ray(d, "workers")["livenessProbe"]), "--address", "10.0.0.9:6380")),
        ("node-manager-port not fixed in rayStartParams", lambda d: group(d, "workers")["rayStartParams"].pop("node-manager-port")),
        ("the worker probe without --expect-cert (GCS calls on the raylet port)", lambda d: drop_flag(own_command(ray(d, "workers")["livenessProbe"]), "--expect-cert")),
        ("the worker probe with --and-gcs (GCS calls on the raylet port)", lambda d: own_command(ray(d, "workers")["livenessProbe"]).append("--and-gcs")),
        ("no liveness probe on the worker: the renewal is never loaded", lambda d: ray(d, "workers").pop("livenessProbe")),
        ("probe timeoutSeconds not above health-check's --timeout", lambda d: ray(d, "workers")["livenessProbe"].update(timeoutSeconds=5)),
        ("liveness failureThreshold 1", lambda d: ray(d, "workers")["livenessProbe"].update(failureThreshold=1)),
        ("no startupProbe: a slow start is killed", lambda d: ray(d, "workers").pop("startupProbe")),
        ("the raytls binary is not copied for the probe", no_install),
        ("the probe runs a raytls the Ray image lacks", lambda d: own_command(ray(d, "workers")["livenessProbe"]).__setitem__(0, "raytls")),
        ("$(POD_IP) in an exec probe (not expanded)", lambda d: set_flag(own_command(ray(d, "workers")["livenessProbe"]), "--address", "$(POD_IP):6380")),
        ("restartPolicy on the Ray container", lambda d: ray(d, "workers").update(restartPolicy="Always")),
        ("schema: restartPolicy misspelt on the sidecar", lambda d: sidecar(d, "workers").update(restartPolicyy="Always")),
    ]
    if ft:
        out += [
            ("GCS FT dropped while the head still restarts on renewal", lambda d: rc(d)["spec"].pop("gcsFaultToleranceOptions")),
            ("gcsFaultToleranceOptions without redisAddress", lambda d: rc(d)["spec"]["gcsFaultToleranceOptions"].pop("redisAddress")),
            ("gcsFaultToleranceOptions.redisPassword with value and valueFrom", lambda d: rc(d)["spec"]["gcsFaultToleranceOptions"]["redisPassword"].update(value="x")),
            ("an unknown gcsFaultToleranceOptions field", lambda d: rc(d)["spec"]["gcsFaultToleranceOptions"].update(redisAdress="redis:6379")),
        ]
    else:
        out += [
            ("the head's lifetime not longer than the workers'", lambda d: set_flag(serve(d), "--max-days", "head=30")),
            ("a head liveness probe with --expect-cert without GCS FT", head_stale_probe),
            ("the head sidecar's --renew-before beyond the head's lifetime", lambda d: set_flag(sidecar(d, "head")["command"], "--renew-before", "400d")),
        ]
    return out


def signer_self_test(args, docs, raytls):
    clean = Checker(raytls, args.schema, args.k8s_version, quiet=True)
    clean.check_docs("clean", copy.deepcopy(docs))
    print(("PASS" if not clean.failed else "FAIL") + f" self-test: the unmutated manifests pass {clean.failed or ''}")
    ok = not clean.failed
    renews = any("renew" in str(init.get("command")) and init.get("restartPolicy") == "Always"
                 for d in docs if isinstance(d, dict) and d.get("kind") == "RayCluster"
                 for inits in find_key(d, "initContainers") for init in (inits or []))
    for desc, mutate in signer_mutations() + (renewal_mutations(docs) if renews else []):
        if desc.startswith("schema") and not args.schema:
            continue
        mutant = copy.deepcopy(docs)
        c = Checker(raytls, args.schema, args.k8s_version, quiet=True)
        try:
            mutate(mutant)
            c.check_docs("mutant", mutant)
            caught = bool(c.failed)
        except Exception as e:  # noqa: BLE001 - a crash is not a catch
            caught = False
            desc += f" (crashed: {type(e).__name__}: {e})"
        print(("PASS" if caught else "FAIL") + f" self-test: catches {desc}")
        ok &= caught
    return ok


def self_test(args):
    with open(args.files[0]) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    if any(isinstance(d, dict) and d.get("kind") in WORKLOAD_KINDS and "serve" in str(d) for d in docs):
        # The real binary's --help, as for the other manifests.
        return signer_self_test(args, docs, os.path.abspath(args.raytls))
    base = next(d for d in docs if isinstance(d, dict) and d.get("kind") == "RayCluster")
    ok = True
    # The real binary's --help: a flag the manifests use that raytls dropped is caught here too.
    raytls = os.path.abspath(args.raytls)
    clean = Checker(raytls, args.schema, args.k8s_version, quiet=True)
    clean.check_raycluster("clean", copy.deepcopy(base))
    print(("PASS" if not clean.failed else "FAIL") + f" self-test: the unmutated manifest passes {clean.failed or ''}")
    ok &= not clean.failed
    for desc, mutate in mutations(base):
        if desc.startswith("schema") and not args.schema:
            continue
        doc = copy.deepcopy(base)
        mutate(doc)
        c = Checker(raytls, args.schema, args.k8s_version, quiet=True)
        try:
            c.check_raycluster("mutant", doc)
            caught = bool(c.failed)
        except Exception as e:  # noqa: BLE001 - a crash is not a catch
            caught = False
            desc += f" (checker crashed: {type(e).__name__}: {e})"
        print(("PASS" if caught else "FAIL") + f" self-test: catches {desc}")
        ok &= caught
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raytls", required=True, help="the raytls binary to ask for --help")
    ap.add_argument("--no-schema", dest="schema", action="store_false", help="skip kubernetes-validate")
    ap.add_argument("--k8s-version", default="1.30")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    if args.self_test:
        sys.exit(0 if self_test(args) else 1)
    checker = Checker(args.raytls, args.schema, args.k8s_version)
    objs = []
    for f in args.files:
        checker.check_file(f, objs)
    check_generated_secret(checker, objs)
    print(f"{checker.passed} passed, {len(checker.failed)} failed")
    sys.exit(1 if checker.failed else 0)


if __name__ == "__main__":
    main()
