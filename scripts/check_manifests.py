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
              "--signer-ca": "file"}
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
        self.result(f"{fname}: RayCluster/{name}: structure", problems)
        cluster = {"name": name, "groups": []}
        for gname, g in groups:
            tspec = ((g.get("template") or {}).get("spec")) or {}
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": f"{name}-{gname}"}, "spec": tspec}
            self.validate_schema(f"{fname}: RayCluster/{name} {gname} Pod template", pod)
            cluster["groups"].append(self.check_pod(f"{fname}: {gname} Pod", gname, tspec))
        cluster["namespace"] = (rc.get("metadata") or {}).get("namespace")
        self.check_cluster(f"{fname}: RayCluster/{name}", cluster)
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
                "mounted": set(), "ca_keys": set(), "spec": spec}

        for kind, idx, c in all_c:
            cname = f"{kind} container {c.get('name')}"
            env = env_values(c, problems, cname)
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

            order = idx if kind == "init" else len(inits)
            for k in PATH_ENVS:
                if k in env and isinstance(env[k], str):
                    locate(env[k], k, order=order)
            if kind == "main":
                info["ray"].append((c.get("name"), env))
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
                    info["signer"] = {"cname": cname, "role": words[1] if len(words) > 1 else None,
                                      "url": expand(value.get("--signer") or "", env),
                                      "token": source(token) if token.startswith("/") else None}
                for flag, value in flags:
                    if flag not in PATH_FLAGS or value is None or words[:1] == ["serve"]:
                        continue
                    value = expand(value, env)
                    if not value.startswith("/"):
                        continue
                    if flag == "--out":
                        m = locate(value, flag, need_file=False, need_rw=True)
                        if m is not None and words[:1] == ["init"]:
                            for f in INIT_OUTPUTS:
                                produced.setdefault((m["name"], f), idx)
                    elif flag == "--ca" and words[:1] == ["init"]:
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
               "sans": [], "port": 8443}
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


def signer_self_test(args, docs, raytls):
    clean = Checker(raytls, args.schema, args.k8s_version, quiet=True)
    clean.check_docs("clean", copy.deepcopy(docs))
    print(("PASS" if not clean.failed else "FAIL") + f" self-test: the unmutated manifests pass {clean.failed or ''}")
    ok = not clean.failed
    for desc, mutate in signer_mutations():
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
