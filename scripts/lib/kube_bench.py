#!/usr/bin/env python3
"""kube_bench.py - the API-server side of scripts/bench-kube-signer.sh, straight over HTTPS
(kubectl would start one process per pod: minutes for 1,000 pods).

  kube_bench.py pods KUBECONFIG NS RAYCLUSTER RC_UID N FIRST IP_BASE
      N Pods w-FIRST.. owned by RAYCLUSTER (controller ownerReference, ray.io/node-type=worker,
      ray.io/cluster), ServiceAccount ray-sa, an unknown scheduler (nobody runs them); each
      pod's status.podIPs set through the status subresource to the address its load-generator
      pod binds (pod number n = FIRST.. -> IP_BASE.(1 + n / 250).(1 + n % 250), as
      benches/support/signer_load.rs). Prints timings as JSON.
  kube_bench.py tokens KUBECONFIG NS N FIRST TOKENS_OUT
      One new pod-bound TokenRequest per pod w-FIRST.. (ServiceAccount ray-sa, audience raytls,
      10 min), written one a line to TOKENS_OUT (0600) in pod order. New tokens each time: the
      API server caches a token's successful review for 10 s, so a reused token would be
      reviewed from that cache. Prints timings as JSON.
  kube_bench.py reviews KUBECONFIG TOKENS_FILE COUNT CONCURRENCY
      COUNT TokenReviews (audience raytls) of the tokens, CONCURRENCY at a time, each thread on
      its own kept-alive connection: the API server's own latency for what the signer asks once
      per certificate. Prints JSON: wall_s, reviews_per_s, p50_ms, p99_ms.

  kube_bench.py objects KUBECONFIG NS KIND N
      N API objects nobody runs, for the memory bench: KIND plain-pods (no Ray label: the
      signer's pod watch skips them), ray-pods (ray.io/node-type=worker, owned by nothing: the
      signer caches them) or services (ClusterIP None, a selector; the signer caches every
      Service). Prints timings as JSON.

Each thread keeps one connection; any answer other than 2xx ends the run with the status and body.
"""
import base64
import http.client
import json
import os
import ssl
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import yaml


class Api:
    def __init__(self, kubeconfig):
        cfg = yaml.safe_load(open(kubeconfig))
        cluster = cfg["clusters"][0]["cluster"]
        user = cfg["users"][0]["user"]
        u = urlparse(cluster["server"])
        self.host, self.port = u.hostname, u.port or 443
        self.dir = tempfile.mkdtemp(prefix="kube-bench-")
        paths = {}
        for k in ("certificate-authority", "client-certificate", "client-key"):
            if k in (cluster if k.startswith("certificate") else user):
                paths[k] = (cluster if k.startswith("certificate") else user)[k]
                continue
            data = (cluster if k.startswith("certificate") else user)[k + "-data"]
            p = os.path.join(self.dir, k)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(base64.b64decode(data))
            paths[k] = p
        self.ctx = ssl.create_default_context(cafile=paths["certificate-authority"])
        self.ctx.load_cert_chain(paths["client-certificate"], paths["client-key"])
        for k in ("client-key", "client-certificate", "certificate-authority"):
            if paths[k].startswith(self.dir):
                os.unlink(paths[k])
        os.rmdir(self.dir)
        self.local = threading.local()

    def call(self, method, path, body=None, ctype="application/json"):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
            self.local.conn = conn
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": ctype, "Accept": "application/json"})
        r = conn.getresponse()
        text = r.read()
        if not 200 <= r.status < 300:
            raise SystemExit(f"kube_bench: {method} {path}: HTTP {r.status}: {text[:300]!r}")
        return json.loads(text)


def pod_ip(base, n):
    x, y = 1 + n // 250, 1 + n % 250
    if x > 250:
        raise SystemExit(f"kube_bench: pod {n}: out of {base}.x.y addresses")
    return f"{base}.{x}.{y}"


def pods(kubeconfig, ns, rc, rc_uid, n, first, ip_base):
    api = Api(kubeconfig)
    n, first = int(n), int(first)
    names = [f"w-{i:05d}" for i in range(first, first + n)]
    ips = [pod_ip(ip_base, i) for i in range(first, first + n)]
    out = {}

    def create(k):
        api.call("POST", f"/api/v1/namespaces/{ns}/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": names[k],
                "labels": {"ray.io/node-type": "worker", "ray.io/cluster": rc},
                "ownerReferences": [{"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": rc,
                                     "uid": rc_uid, "controller": True}],
            },
            "spec": {"schedulerName": "raytls-bench-nobody", "serviceAccountName": "ray-sa",
                     "automountServiceAccountToken": False,
                     "containers": [{"name": "c", "image": "none"}]},
        })

    def status(k):
        api.call("PATCH", f"/api/v1/namespaces/{ns}/pods/{names[k]}/status",
                 {"status": {"phase": "Running", "podIP": ips[k], "podIPs": [{"ip": ips[k]}]}},
                 ctype="application/merge-patch+json")

    with ThreadPoolExecutor(16) as ex:
        for step, fn in (("create_s", create), ("status_s", status)):
            t = time.monotonic()
            list(ex.map(fn, range(n)))
            out[step] = round(time.monotonic() - t, 2)
    out["pods"] = n
    out["first_ip"], out["last_ip"] = ips[0], ips[-1]
    print(json.dumps(out))


def tokens(kubeconfig, ns, n, first, tokens_out):
    api = Api(kubeconfig)
    n, first = int(n), int(first)
    names = [f"w-{i:05d}" for i in range(first, first + n)]

    def token(k):
        r = api.call("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/ray-sa/token", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": ["raytls"], "expirationSeconds": 600,
                     "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": names[k]}},
        })
        return r["status"]["token"]

    t = time.monotonic()
    with ThreadPoolExecutor(16) as ex:
        toks = list(ex.map(token, range(n)))
    wall = round(time.monotonic() - t, 2)
    fd = os.open(tokens_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(toks) + "\n")
    print(json.dumps({"tokens": n, "tokens_s": wall}))


def reviews(kubeconfig, tokens_file, count, conc):
    api = Api(kubeconfig)
    toks = [t for t in open(tokens_file).read().split() if t]
    count, conc = int(count), int(conc)
    lat = []
    lock = threading.Lock()

    def one(k):
        t = time.monotonic()
        r = api.call("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": toks[k % len(toks)], "audiences": ["raytls"]}})
        d = time.monotonic() - t
        if not r.get("status", {}).get("authenticated"):
            raise SystemExit(f"kube_bench: token {k} not authenticated: {r.get('status')}")
        with lock:
            lat.append(d)

    with ThreadPoolExecutor(conc) as ex:
        list(ex.map(lambda _: api.call("GET", "/version"), range(conc)))  # connections up
        t = time.monotonic()
        list(ex.map(one, range(count)))
        wall = time.monotonic() - t
    lat.sort()
    pct = lambda p: round(1000 * lat[min(len(lat) - 1, max(0, int(len(lat) * p + 0.999) - 1))], 2)
    print(json.dumps({"reviews": count, "concurrency": conc, "wall_s": round(wall, 3),
                      "reviews_per_s": round(count / wall), "p50_ms": pct(0.5), "p99_ms": pct(0.99)}))


def objects(kubeconfig, ns, kind, n):
    api = Api(kubeconfig)
    n = int(n)

    def pod(k, labels):
        return ("pods", {"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": f"p-{k:05d}", "labels": labels},
                         "spec": {"schedulerName": "raytls-bench-nobody", "automountServiceAccountToken": False,
                                  "containers": [{"name": "c", "image": "none"}]}})

    make = {
        "plain-pods": lambda k: pod(k, {"app": "web", "tier": f"t{k % 10}"}),
        "ray-pods": lambda k: pod(k, {"ray.io/node-type": "worker", "ray.io/cluster": f"rc-{k // 100}"}),
        "services": lambda k: ("services", {"apiVersion": "v1", "kind": "Service",
                                            "metadata": {"name": f"s-{k:05d}", "labels": {"app": "web"}},
                                            "spec": {"clusterIP": "None", "selector": {"app": f"web-{k}"},
                                                     "ports": [{"name": "http", "port": 80}]}}),
    }[kind]

    def create(k):
        plural, body = make(k)
        api.call("POST", f"/api/v1/namespaces/{ns}/{plural}", body)

    t = time.monotonic()
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(create, range(n)))
    print(json.dumps({"kind": kind, "n": n, "create_s": round(time.monotonic() - t, 2)}))


if __name__ == "__main__":
    cmds = {"pods": (pods, 7), "tokens": (tokens, 5), "reviews": (reviews, 4), "objects": (objects, 4)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) - 2 != cmds[sys.argv[1]][1]:
        sys.exit(__doc__)
    cmds[sys.argv[1]][0](*sys.argv[2:])
