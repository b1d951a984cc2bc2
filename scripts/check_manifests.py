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
KNOWN_SECRET_KEYS = {"ca-tls": {"ca.crt", "ca.key"}, "ray-auth-token": {"auth_token"}}
PATH_ENVS = ("RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT", "RAY_AUTH_TOKEN_PATH")
TLS_ENVS = ("RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")
# raytls flags whose value is a path: (flag) -> "dir" or "file"
PATH_FLAGS = {"--ca": None, "--out": "dir", "--cert": "file", "--key": "file", "--token-file": "file"}
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
        for doc in docs:
            objs.append(doc)
            if not isinstance(doc, dict):
                self.result(f"{fname}: object", ["a document is not a mapping"])
                continue
            if doc.get("apiVersion", "").startswith("ray.io/"):
                self.check_raycluster(fname, doc)
            else:
                self.validate_schema(f"{fname}: {doc.get('kind')}/{meta_name(doc)}", doc)

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
        self.check_cluster(f"{fname}: RayCluster/{name}", cluster)

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
        info = {"fqdn": None, "dials": [], "token_envs": [], "hc_token": [], "ray": [], "ca_volumes": set()}

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
                provided = volume_files(vol)
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
            for argv in raytls_invocations(c):
                self.check_invocation(cname, argv, env, problems)
                words, flags = split_argv(argv)
                for flag, value in flags:
                    if flag not in PATH_FLAGS or value is None:
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
                            provided = volume_files(volumes[m["name"]])
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


# ---------------------------------------------------------------------- helpers
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
    if "emptyDir" in vol:
        return INIT_OUTPUTS
    return None


def check_generated_secret(checker, manifests):
    """`raytls token generate --k8s-secret` output: schema-valid, and what the manifests use."""
    refs = set()
    for doc in manifests:
        for v in find_key(doc, "secret"):
            if isinstance(v, dict) and v.get("secretName") == "ray-auth-token":
                refs.add("ray-auth-token")
    try:
        out = subprocess.run([checker.raytls, "token", "generate", "--k8s-secret", "ray-auth-token",
                              "--namespace", "ray"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        checker.result("raytls token generate --k8s-secret", [str(e)])
        return
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
            if "auth_token" not in (secret.get("data") or {}):
                problems.append("no data.auth_token, the key the manifests mount")
            checker.validate_schema("raytls token generate --k8s-secret", secret)
    checker.result(f"raytls token generate --k8s-secret (referenced by {len(refs)} manifest(s))", problems)


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


def self_test(args):
    with open(args.files[0]) as f:
        base = yaml.safe_load(f)
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
