#!/usr/bin/env python3
"""podrunner.py - the node of scripts/kube.sh's cluster: what a kubelet would do, for tests.

It registers Node NODE (Ready, no taints, roomy capacity) and, for every Pod the scheduler binds
to it:
  * gives it an IP from 10.244.0.0/16;
  * a pod WITHOUT annotation raytls.test/run: "true" is SIMULATED: its status is set to Running
    and Ready (every container "running", init containers "Completed"); nothing runs;
  * a pod WITH that annotation is RUN: a network namespace holding its IP (veth to bridge br0 in
    namespace rk-hub), its volumes materialized (emptyDir, secret, configMap, hostPath, projected:
    serviceAccountToken via TokenRequest bound to the pod, configMap, secret, downwardAPI;
    downwardAPI), its env resolved (value with $(VAR), fieldRef, resourceFieldRef, secretKeyRef,
    configMapKeyRef, envFrom, KUBERNETES_SERVICE_*), its init containers run in order, then its
    containers, each with exactly the command+args of the API, in the pod's network namespace and a
    private mount namespace in which each volume is bind-mounted on its mountPath and the
    namespace's hosts file on /etc/hosts. The "image" is the host's filesystem with the Ray venv
    first on PATH. Logs: STATE/pods/NS_POD/logs/CONTAINER.log. Each pod has a private /tmp; the
    host paths (--host-path, and the venv) that lie under /tmp are bound back into it, so a pod
    sees them as the host does (a checkout, a raytls binary or a venv under /tmp).
  * probes of a run pod's containers as the kubelet runs them (exec, httpGet, tcpSocket; grpc is
    taken as passing): startupProbe first, then readinessProbe (the Ready condition) and
    livenessProbe; failureThreshold failures of a startup or liveness probe restart the
    container (every process in its mount namespace TERMed, then KILLed; started again after the
    backoff, restartCount + 1, lastState.terminated kept). Sidecars are not probed.
  * deleted pods: containers TERMed (grace period, at most 10 s), namespace deleted, IP released,
    the Pod object removed (as the kubelet does, with grace 0).
Services: a userspace proxy (as kube-proxy's old userspace mode) in namespace rk-hub listens on
every ClusterIP:port and forwards to a ready endpoint (the `kubernetes` Service: to the API server
on 127.0.0.1). Names: a hosts file per namespace (svc, svc.ns, svc.ns.svc, svc.ns.svc.cluster.local
-> ClusterIP, or for a headless Service each ready pod IP, plus pod hostname/subdomain entries).

Also `podrunner.py exec POD_DIR CONTAINER -- CMD...` (used by kube.sh exec) and
`podrunner.py _container POD_DIR CONTAINER` (internal: the container's mount setup, then exec).
Only the standard library; talks to the API server with the admin client certificate.
"""
import argparse
import base64
import ctypes
import datetime
import hashlib
import http.client
import ipaddress
import json
import math
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

RUN_ANNOTATION = "raytls.test/run"
HUB = "rk-hub"
POD_CIDR = ipaddress.ip_network("10.244.0.0/16")
GATEWAY = "10.244.0.1"
SERVICE_CIDR = "10.96.0.0/16"
CLONE_NEWNET = 0x40000000
MAX_GRACE_S = 10
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def log(msg):
    print(f"{datetime.datetime.now(datetime.timezone.utc).strftime('%H:%M:%S.%f')[:-3]} {msg}", flush=True)


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sh(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r


# --- API client ------------------------------------------------------------------------------
class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


class Api:
    def __init__(self, server, ca, cert, key):
        u = urllib.parse.urlparse(server)
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)
        self.local = threading.local()

    def _conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
            self.local.conn = c
        return c

    def call(self, method, path, body=None, ctype="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = ctype
        for attempt in range(2):
            c = self._conn()
            try:
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                raw = r.read()
                break
            except (OSError, http.client.HTTPException):
                c.close()
                self.local.conn = None
                if attempt == 1:
                    raise
        if r.status >= 300:
            raise ApiError(r.status, raw.decode(errors="replace"))
        return json.loads(raw) if raw else {}

    def get(self, path):
        return self.call("GET", path)

    def get_or_none(self, path):
        try:
            return self.get(path)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def patch_status(self, ns, name, status):
        return self.call("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
                         {"status": status}, "application/merge-patch+json")


# --- network namespaces and sockets in them ---------------------------------------------------
libc = ctypes.CDLL(None, use_errno=True)


def socket_in_netns(ns, family=socket.AF_INET, kind=socket.SOCK_STREAM):
    """A socket created in network namespace NS (a socket keeps the namespace it was made in)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
        try:
            return socket.socket(family, kind)
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(own)
        os.close(target)


def netns_exists(ns):
    return os.path.exists(f"/run/netns/{ns}")


# --- the node agent --------------------------------------------------------------------------
class Agent:
    def __init__(self, a):
        self.state = a.state
        self.node = a.node
        self.venv = a.venv
        # the host paths pods must see as the host does (see container_main); resolved per
        # container, when each is started: the venv, say, may be made after the runner starts
        self.host_paths = [a.venv] + (a.host_path or [])
        log(f"host paths for run pods (bound back when under /tmp): {' '.join(self.host_paths)}")
        pki = os.path.join(a.state, "pki")
        self.api = Api(a.server, f"{pki}/ca.crt", f"{pki}/admin.crt", f"{pki}/admin.key")
        self.api_port = urllib.parse.urlparse(a.server).port
        self.pods = {}            # uid -> Pod
        self.used_ips = set()
        self.lock = threading.RLock()
        self.stopping = False
        self.proxy = None
        os.makedirs(f"{a.state}/pods", exist_ok=True)
        os.makedirs(f"{a.state}/hosts", exist_ok=True)

    # node registration
    def register(self):
        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node, "labels": {
                "kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "raytls.test/node-agent": "podrunner"}},
            "spec": {"podCIDR": str(POD_CIDR), "podCIDRs": [str(POD_CIDR)]},
        }
        try:
            self.api.call("POST", "/api/v1/nodes", node)
        except ApiError as e:
            if e.status != 409:
                raise
        # the admission plugin TaintNodesByCondition adds not-ready on create; no node-lifecycle
        # controller runs to lift it, so the agent does (the node is ready from the start)
        self.api.call("PATCH", f"/api/v1/nodes/{self.node}", {"spec": {"taints": None}},
                      "application/merge-patch+json")
        self.heartbeat()

    def heartbeat(self):
        t = now_rfc3339()
        cond = lambda typ, st, reason: {"type": typ, "status": st, "reason": reason, "message": reason,
                                        "lastHeartbeatTime": t, "lastTransitionTime": t}
        cap = {"cpu": "64", "memory": "256Gi", "pods": "250", "ephemeral-storage": "500Gi"}
        status = {
            "capacity": cap, "allocatable": cap,
            "conditions": [cond("Ready", "True", "KubeletReady"),
                           cond("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                           cond("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                           cond("PIDPressure", "False", "KubeletHasSufficientPID")],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": self.node}],
            "nodeInfo": {"machineID": "raytls", "systemUUID": "raytls", "bootID": "raytls",
                         "kernelVersion": os.uname().release, "osImage": "raytls podrunner",
                         "containerRuntimeVersion": "podrunner://1", "kubeletVersion": "v1.36.3",
                         "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
        }
        self.api.call("PATCH", f"/api/v1/nodes/{self.node}/status", {"status": status},
                      "application/merge-patch+json")

    # pod IPs
    def alloc_ip(self, pod):
        ip = (pod.get("status") or {}).get("podIP")
        if ip and ip not in self.used_ips:
            self.used_ips.add(ip)
            return ip
        for host in POD_CIDR.hosts():
            s = str(host)
            if s == GATEWAY or s in self.used_ips:
                continue
            self.used_ips.add(s)
            return s
        raise RuntimeError("pod network 10.244.0.0/16 is full")

    # the pod network hub
    def hub_up(self):
        if not netns_exists(HUB):
            sh("ip", "netns", "add", HUB)
            self.record_ns(HUB)
            sh("ip", "-n", HUB, "link", "set", "lo", "up")
            sh("ip", "-n", HUB, "link", "add", "br0", "type", "bridge")
            # A fixed MAC: a bridge otherwise takes the lowest MAC of its ports, so a pod joining
            # can change the gateway's MAC under the pods that already cached it in ARP, and
            # their next connection through the gateway (the Service proxy) hangs until ARP
            # re-resolves it.
            sh("ip", "-n", HUB, "link", "set", "br0", "address", "02:00:0a:f4:00:01")
            sh("ip", "-n", HUB, "addr", "add", f"{GATEWAY}/16", "dev", "br0")
            sh("ip", "-n", HUB, "link", "set", "br0", "up")

    def record_ns(self, ns):
        with open(f"{self.state}/netns", "a") as f:
            f.write(ns + "\n")

    def run(self):
        self.hub_up()
        self.register()
        self.proxy = Proxy(self)
        log(f"node {self.node} registered and Ready")
        last_beat = time.time()
        while not self.stopping:
            try:
                self.sync()
                self.proxy.sync()
                for pod in list(self.pods.values()):
                    if pod.tokens and not pod.stopped.is_set():
                        pod.refresh_tokens()
                if time.time() - last_beat > 30:
                    self.heartbeat()
                    last_beat = time.time()
            except Exception as e:  # the API server restarting, say: try again
                log(f"sync: {e}")
            time.sleep(0.5)
        self.shutdown()

    def sync(self):
        sel = urllib.parse.quote(f"spec.nodeName={self.node}")
        items = self.api.get(f"/api/v1/pods?fieldSelector={sel}")["items"]
        seen = set()
        for p in items:
            uid = p["metadata"]["uid"]
            seen.add(uid)
            pod = self.pods.get(uid)
            if p["metadata"].get("deletionTimestamp"):
                if pod is None:
                    pod = self.pods[uid] = Pod(self, p, None)
                if not pod.terminating:
                    pod.terminating = True
                    threading.Thread(target=self.delete_pod, args=(pod, p), daemon=True).start()
                continue
            if pod is None:
                if p.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                    continue
                with self.lock:
                    ip = self.alloc_ip(p)
                pod = self.pods[uid] = Pod(self, p, ip)
                if p["metadata"].get("annotations", {}).get(RUN_ANNOTATION) == "true":
                    pod.start()
                else:
                    pod.simulate()
            else:
                pod.obj = p
        for uid in list(self.pods):
            if uid not in seen:   # force-deleted: tear down what is left
                pod = self.pods.pop(uid)
                threading.Thread(target=pod.stop, daemon=True).start()
                self.release(pod)

    def release(self, pod):
        with self.lock:
            self.used_ips.discard(pod.ip)

    def delete_pod(self, pod, p):
        try:
            grace = p["metadata"].get("deletionGracePeriodSeconds") or 0
            pod.stop(min(grace, MAX_GRACE_S))
            ns, name, uid = p["metadata"]["namespace"], p["metadata"]["name"], p["metadata"]["uid"]
            try:
                self.api.call("DELETE", f"/api/v1/namespaces/{ns}/pods/{name}",
                              {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                               "preconditions": {"uid": uid}})
            except ApiError as e:
                if e.status not in (404, 409):
                    raise
            log(f"pod {ns}/{name} deleted")
        except Exception as e:
            log(f"deleting pod: {e}")
        finally:
            self.pods.pop(pod.uid, None)
            self.release(pod)

    def shutdown(self):
        log("stopping: the pods we run, then the network")
        threads = [threading.Thread(target=p.stop, args=(2,)) for p in self.pods.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self.proxy:
            self.proxy.close()
        if netns_exists(HUB):
            sh("ip", "netns", "del", HUB, check=False)
        log("stopped")


# --- a pod -----------------------------------------------------------------------------------
def parse_quantity(q):
    """A Kubernetes quantity as a float (cores for CPU, bytes for memory)."""
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(q).strip())
    if not m:
        raise ValueError(f"bad quantity {q!r}")
    num, suf = float(m.group(1)), m.group(2)
    mult = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
            "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4, "Pi": 1024 ** 5}
    if suf not in mult:
        raise ValueError(f"bad quantity {q!r}")
    return num * mult[suf]


def expand(s, env):
    """Kubernetes' $(VAR) expansion: defined vars replaced, $$(X) -> $(X), others kept."""
    out, i = [], 0
    while i < len(s):
        if s.startswith("$$", i):
            out.append("$")
            i += 2
        elif s.startswith("$(", i):
            j = s.find(")", i + 2)
            if j < 0:
                out.append(s[i:])
                break
            name = s[i + 2:j]
            out.append(env[name] if name in env else s[i:j + 1])
            i = j + 1
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


class PodFailed(Exception):
    pass


class Pod:
    def __init__(self, agent, obj, ip):
        self.agent, self.obj, self.ip = agent, obj, ip
        md = obj["metadata"]
        self.uid, self.ns, self.name = md["uid"], md["namespace"], md["name"]
        self.dir = f"{agent.state}/pods/{self.ns}_{self.name}"
        self.netns = "rk-" + hashlib.sha256(self.uid.encode()).hexdigest()[:10]
        self.procs = {}            # container name -> Popen
        self.terminating = False
        self.stopped = threading.Event()
        self.cstatus = {}          # container name -> status dict
        self.icstatus = {}
        self.thread = None
        self.tokens = {}           # (volume dir, path) -> (source, mode, time written)
        self.status_lock = threading.Lock()

    # -- simulated: status only
    def simulate(self):
        spec, t = self.obj["spec"], now_rfc3339()
        st = {
            "phase": "Running", "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": self.ip, "podIPs": [{"ip": self.ip}], "startTime": t,
            "conditions": [{"type": c, "status": "True", "lastTransitionTime": t} for c in
                           ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                            "PodScheduled")],
            "initContainerStatuses": [
                {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True,
                 "restartCount": 0, "containerID": f"simulated://{self.uid}/{c['name']}",
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": t,
                                          "finishedAt": t}}}
                for c in spec.get("initContainers", [])],
            "containerStatuses": [
                {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True,
                 "started": True, "restartCount": 0,
                 "containerID": f"simulated://{self.uid}/{c['name']}",
                 "state": {"running": {"startedAt": t}}}
                for c in spec.get("containers", [])],
        }
        self.agent.api.patch_status(self.ns, self.name, st)
        log(f"pod {self.ns}/{self.name} simulated: Running, IP {self.ip}")

    # -- run for real
    def start(self):
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            self.setup()
            self.run_containers()
        except PodFailed as e:
            log(f"pod {self.ns}/{self.name} failed: {e}")
            self.set_status(phase="Failed", message=str(e), reason="PodRunnerError")
        except Exception as e:
            log(f"pod {self.ns}/{self.name}: {e}\n{traceback.format_exc()}")
            try:
                self.set_status(phase="Failed", message=str(e), reason="PodRunnerError")
            except Exception:
                pass

    def setup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        for d in ("logs", "env", "volumes", "overlay", "specs"):
            os.makedirs(f"{self.dir}/{d}")
        os.chmod(self.dir, 0o700)
        with open(f"{self.dir}/uid", "w") as f:
            f.write(self.uid)
        self.start_time = now_rfc3339()
        self.net_up()
        self.set_status(phase="Pending")
        self.volumes()

    def net_up(self):
        ns, veth = self.netns, "v" + self.netns[3:]
        sh("ip", "netns", "add", ns)
        self.agent.record_ns(ns)
        sh("ip", "-n", HUB, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "-n", HUB, "link", "set", veth, "master", "br0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "addr", "add", f"{self.ip}/16", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "route", "add", SERVICE_CIDR, "via", GATEWAY)

    # volumes
    def volumes(self):
        for v in self.obj["spec"].get("volumes", []):
            d = f"{self.dir}/volumes/{v['name']}"
            os.makedirs(d)
            if "emptyDir" in v:
                pass
            elif "hostPath" in v:
                os.rmdir(d)
                os.symlink(v["hostPath"]["path"], d)
            elif "secret" in v:
                s = v["secret"]
                self.write_source(d, self.get_data("secrets", s["secretName"], s.get("optional")),
                                  s.get("items"), s.get("defaultMode", 0o644))
            elif "configMap" in v:
                c = v["configMap"]
                self.write_source(d, self.get_data("configmaps", c["name"], c.get("optional")),
                                  c.get("items"), c.get("defaultMode", 0o644))
            elif "downwardAPI" in v:
                self.write_downward(d, v["downwardAPI"].get("items", []),
                                    v["downwardAPI"].get("defaultMode", 0o644))
            elif "projected" in v:
                mode = v["projected"].get("defaultMode", 0o644)
                for src in v["projected"].get("sources", []):
                    if "serviceAccountToken" in src:
                        self.write_token(d, src["serviceAccountToken"], mode)
                    elif "secret" in src:
                        s = src["secret"]
                        self.write_source(d, self.get_data("secrets", s["name"], s.get("optional")),
                                          s.get("items"), mode)
                    elif "configMap" in src:
                        c = src["configMap"]
                        self.write_source(d, self.get_data("configmaps", c["name"], c.get("optional")),
                                          c.get("items"), mode)
                    elif "downwardAPI" in src:
                        self.write_downward(d, src["downwardAPI"].get("items", []), mode)
                    else:
                        raise PodFailed(f"volume {v['name']}: projected source {list(src)} is not supported")
            else:
                kind = [k for k in v if k != "name"]
                raise PodFailed(f"volume {v['name']}: type {kind} is not supported by the pod runner")

    def get_data(self, kind, name, optional):
        o = self.agent.api.get_or_none(f"/api/v1/namespaces/{self.ns}/{kind}/{name}")
        if o is None:
            if optional:
                return {}
            raise PodFailed(f"{kind[:-1]} {self.ns}/{name} not found")
        data = {k: base64.b64decode(v) for k, v in (o.get("data") or {}).items()} if kind == "secrets" \
            else {k: v.encode() for k, v in (o.get("data") or {}).items()}
        if kind == "configmaps":
            data.update({k: base64.b64decode(v) for k, v in (o.get("binaryData") or {}).items()})
        return data

    @staticmethod
    def write_file(path, data, mode):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode & 0o777)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(path + ".tmp", mode & 0o777)
        os.rename(path + ".tmp", path)

    def write_source(self, d, data, items, mode):
        if items:
            for it in items:
                if it["key"] not in data:
                    raise PodFailed(f"key {it['key']} not found")
                self.write_file(f"{d}/{it['path']}", data[it["key"]], it.get("mode", mode))
        else:
            for k, v in data.items():
                self.write_file(f"{d}/{k}", v, mode)

    def field(self, path):
        md, spec, st = self.obj["metadata"], self.obj["spec"], self.obj.get("status", {})
        m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
        if m:
            return (md.get(m.group(1)) or {}).get(m.group(2), "")
        simple = {
            "metadata.name": md["name"], "metadata.namespace": md["namespace"], "metadata.uid": md["uid"],
            "spec.nodeName": spec.get("nodeName", ""),
            "spec.serviceAccountName": spec.get("serviceAccountName", ""),
            "status.podIP": self.ip, "status.podIPs": self.ip,
            "status.hostIP": "127.0.0.1", "status.hostIPs": "127.0.0.1",
        }
        if path in simple:
            return simple[path]
        if path in ("metadata.labels", "metadata.annotations"):
            return "\n".join(f'{k}="{v}"' for k, v in sorted((md.get(path.split(".")[1]) or {}).items()))
        raise PodFailed(f"fieldRef {path} is not supported")

    def resource(self, ref, container=None):
        cname = ref.get("containerName") or (container or {}).get("name")
        c = next((c for c in self.all_containers() if c["name"] == cname), None)
        if c is None:
            raise PodFailed(f"resourceFieldRef: no container {cname}")
        kind, res = ref["resource"].split(".", 1)
        res_q = (c.get("resources") or {}).get(kind, {}).get(res)
        if res_q is None:   # no limit: the node's allocatable
            res_q = {"cpu": "64", "memory": "256Gi", "ephemeral-storage": "500Gi"}.get(res, "0")
        div = parse_quantity(ref.get("divisor", "1"))
        return str(int(math.ceil(parse_quantity(res_q) / div)))

    def write_downward(self, d, items, mode):
        for it in items:
            if "fieldRef" in it:
                val = self.field(it["fieldRef"]["fieldPath"])
            else:
                val = self.resource(it["resourceFieldRef"])
            self.write_file(f"{d}/{it['path']}", val.encode(), it.get("mode", mode))

    def write_token(self, d, src, mode):
        spec = {"expirationSeconds": src.get("expirationSeconds", 3600),
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": self.name, "uid": self.uid}}
        if src.get("audience"):
            spec["audiences"] = [src["audience"]]
        sa = self.obj["spec"].get("serviceAccountName", "default")
        tr = self.agent.api.call("POST", f"/api/v1/namespaces/{self.ns}/serviceaccounts/{sa}/token",
                                 {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
        self.write_file(f"{d}/{src['path']}", tr["status"]["token"].encode(), mode)
        self.tokens[(d, src["path"])] = (src, mode, time.time())

    def refresh_tokens(self):
        """As the kubelet: a projected token is renewed once 80% of its lifetime has passed."""
        for (d, _), (src, mode, made) in list(self.tokens.items()):
            if time.time() - made > 0.8 * src.get("expirationSeconds", 3600) and os.path.isdir(d):
                self.write_token(d, src, mode)
                log(f"pod {self.ns}/{self.name}: token {src['path']} renewed")

    # env
    def all_containers(self):
        s = self.obj["spec"]
        return s.get("initContainers", []) + s.get("containers", [])

    def env_of(self, c):
        env = {"PATH": f"{self.agent.venv}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOSTNAME": self.obj["spec"].get("hostname") or self.name, "HOME": "/root",
               "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
               "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
               "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": "tcp://10.96.0.1:443",
               "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
               "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1"}
        for ef in c.get("envFrom", []):
            pre = ef.get("prefix", "")
            if "configMapRef" in ef:
                r = ef["configMapRef"]
                data = self.get_data("configmaps", r["name"], r.get("optional"))
            else:
                r = ef["secretRef"]
                data = self.get_data("secrets", r["name"], r.get("optional"))
            env.update({pre + k: v.decode(errors="replace") for k, v in data.items()})
        for e in c.get("env", []):
            if "valueFrom" not in e:
                env[e["name"]] = expand(e.get("value", ""), env)
                continue
            vf = e["valueFrom"]
            if "fieldRef" in vf:
                env[e["name"]] = self.field(vf["fieldRef"]["fieldPath"])
            elif "resourceFieldRef" in vf:
                env[e["name"]] = self.resource(vf["resourceFieldRef"], c)
            else:
                kind, ref = ("secrets", vf["secretKeyRef"]) if "secretKeyRef" in vf else ("configmaps", vf["configMapKeyRef"])
                data = self.get_data(kind, ref["name"], ref.get("optional"))
                if ref["key"] in data:
                    env[e["name"]] = data[ref["key"]].decode(errors="replace")
                elif not ref.get("optional"):
                    raise PodFailed(f"env {e['name']}: key {ref['key']} not in {kind[:-1]} {ref['name']}")
        return env

    # containers
    def run_containers(self):
        spec = self.obj["spec"]
        inits, mains = spec.get("initContainers", []), spec.get("containers", [])
        with open(f"{self.dir}/containers", "w") as f:
            f.write("".join(c["name"] + "\n" for c in inits + mains))
        with open(f"{self.dir}/main", "w") as f:
            f.write(mains[0]["name"] + "\n")
        policy = spec.get("restartPolicy", "Always")
        self.icstatus = {c["name"]: self.waiting(c, "PodInitializing") for c in inits}
        self.cstatus = {c["name"]: self.waiting(c, "PodInitializing") for c in mains}
        self.set_status(phase="Pending")
        sidecars = []
        for c in inits:
            if c.get("restartPolicy") == "Always":
                # a native sidecar (Kubernetes >= 1.29): started in order, kept running (restarted
                # whatever the pod's policy), not waited for; it stops with the pod
                t = threading.Thread(target=self.keep_running, args=(c, "Always", True), daemon=True)
                t.start()
                sidecars.append(t)
                continue
            restarts = 0
            while True:
                rc = self.run_one(c, init=True, restarts=restarts)
                if self.stopped.is_set():
                    return
                if rc == 0:
                    break
                if policy == "Never":
                    self.set_status(phase="Failed", reason="InitContainerFailed",
                                    message=f"init container {c['name']} exited {rc}")
                    return
                restarts += 1
                self.backoff(restarts)
        self.initialized = True
        threads = [threading.Thread(target=self.keep_running, args=(c, policy), daemon=True) for c in mains]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self.stopped.is_set():
            return
        codes = [s["state"].get("terminated", {}).get("exitCode", 1) for s in self.cstatus.values()]
        self.set_status(phase="Succeeded" if all(c == 0 for c in codes) else "Failed")

    def backoff(self, restarts):
        self.stopped.wait(min(10 * 2 ** (restarts - 1), 60))

    def keep_running(self, c, policy, init=False):
        restarts = 0
        while not self.stopped.is_set():
            rc = self.run_one(c, init=init, restarts=restarts)
            if self.stopped.is_set() or policy == "Never" or (policy == "OnFailure" and rc == 0):
                return
            restarts += 1
            self.backoff(restarts)

    @staticmethod
    def waiting(c, reason):
        return {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                "restartCount": 0, "state": {"waiting": {"reason": reason}}}

    def run_one(self, c, init, restarts):
        name = c["name"]
        try:
            env = self.env_of(c)
            argv = [expand(a, env) for a in (c.get("command") or []) + (c.get("args") or [])]
            if not argv:
                raise PodFailed(f"container {name}: no command or args (the runner has no image entrypoint)")
        except PodFailed as e:
            st = {"name": name, "image": c.get("image", ""), "imageID": "", "ready": False,
                  "restartCount": restarts, "state": {"waiting": {"reason": "CreateContainerConfigError",
                                                                  "message": str(e)}}}
            (self.icstatus if init else self.cstatus)[name] = st
            self.set_status(phase="Pending")
            self.stopped.wait(5)
            return 1
        spec = {"argv": argv, "env": env, "workingDir": c.get("workingDir") or "/",
                "hostname": (self.obj["spec"].get("hostname") or self.name)[:63],
                "hosts": f"{self.agent.state}/hosts/{self.ns}",
                "mounts": [{"src": f"{self.dir}/volumes/{m['name']}" + (f"/{m['subPath']}" if m.get("subPath") else ""),
                            "dst": m["mountPath"], "ro": bool(m.get("readOnly"))}
                           for m in c.get("volumeMounts", [])],
                "overlay": f"{self.dir}/overlay/{name}", "host_paths": self.agent.host_paths}
        with open(f"{self.dir}/specs/{name}.json", "w") as f:
            json.dump(spec, f)
        with open(f"{self.dir}/env/{name}.json", "w") as f:
            json.dump(env, f)
        self.agent.proxy.write_hosts(self.ns)
        logf = open(f"{self.dir}/logs/{name}.log", "ab")
        started = now_rfc3339()
        p = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.netns}", "--", "unshare", "--mount", "--uts",
             "--propagation", "private", "--", sys.executable, os.path.abspath(__file__), "_container",
             self.dir, name],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()
        self.procs[name] = p
        with open(f"{self.dir}/{name}.pid", "w") as f:
            f.write(f"{p.pid} {proc_starttime(p.pid)}\n")
        probed = not init and any(c.get(k) for k in PROBES)
        run = {"name": name, "image": c.get("image", ""), "imageID": "", "restartCount": restarts,
               "containerID": f"podrunner://{self.uid}/{name}/{p.pid}",
               "state": {"running": {"startedAt": started}},
               "started": not (probed and c.get("startupProbe")),
               "ready": (not init or c.get("restartPolicy") == "Always") and not probed}
        last = (self.icstatus if init else self.cstatus).get(name, {}).get("state", {}).get("terminated")
        if last:
            run["lastState"] = {"terminated": last}
        (self.icstatus if init else self.cstatus)[name] = run
        # a native sidecar restarting once the pod runs does not make the pod Pending again
        pending = init and not getattr(self, "initialized", False)
        self.set_status(phase="Pending" if pending else "Running")
        log(f"pod {self.ns}/{self.name}: {'init ' if init else ''}container {name} started (pid {p.pid})")
        if probed:
            threading.Thread(target=self.probes, args=(c, p, run), daemon=True).start()
        rc = p.wait()
        self.procs.pop(name, None)
        done = dict(run, ready=False, started=False,
                    state={"terminated": {"exitCode": rc if rc >= 0 else 128 - rc,
                                          "reason": "Completed" if rc == 0 else "Error",
                                          "startedAt": started, "finishedAt": now_rfc3339()}})
        if init:
            done["ready"] = rc == 0
        (self.icstatus if init else self.cstatus)[name] = done
        log(f"pod {self.ns}/{self.name}: container {name} exited {rc}")
        if not self.stopped.is_set():
            self.set_status(phase="Pending" if init and not getattr(self, "initialized", False) else "Running")
        return rc

    # probes of a (non-init) container, as the kubelet runs them: the startup probe first (the
    # others wait until it passes; failureThreshold failures restart the container), then the
    # readiness probe (Ready or not) and the liveness probe (failureThreshold failures in a row
    # restart the container: its processes are TERMed, KILLed after the grace period, and
    # keep_running starts it again after the backoff with restartCount + 1)
    def probes(self, c, proc, run):
        sp = c.get("startupProbe")
        if sp and not self.until_started(c, proc, sp):
            return
        if sp:
            run["started"] = True
            if not c.get("readinessProbe"):
                run["ready"] = True
            log(f"pod {self.ns}/{self.name}: container {c['name']} started (startup probe passed)")
            self.set_status(phase="Running")
        elif not c.get("readinessProbe"):
            run["ready"] = True
            self.set_status(phase="Running")
        if c.get("readinessProbe"):
            threading.Thread(target=self.probe_loop, args=(c, proc, run), daemon=True).start()
        if c.get("livenessProbe"):
            self.liveness_loop(c, proc, c["livenessProbe"])

    def probe_runs(self, c, proc, pr):
        """Yields (ok, output) of probe PR every periodSeconds while PROC runs."""
        if self.stopped.wait(pr.get("initialDelaySeconds", 0)):
            return
        while proc.poll() is None and not self.stopped.is_set():
            ok, out = self.probe(c, pr, pr.get("timeoutSeconds", 1))
            if proc.poll() is not None or self.stopped.is_set():
                return
            yield ok, out
            if self.stopped.wait(pr.get("periodSeconds", 10)):
                return

    def until_started(self, c, proc, pr):
        fails, need = 0, pr.get("failureThreshold", 3)
        for ok, out in self.probe_runs(c, proc, pr):
            if ok:
                return True
            fails += 1
            if fails >= need:
                self.kill_container(c, proc, pr, f"startup probe failed {fails} times: {out}")
                return False
        return False

    def liveness_loop(self, c, proc, pr):
        fails, need = 0, pr.get("failureThreshold", 3)
        for ok, out in self.probe_runs(c, proc, pr):
            fails = 0 if ok else fails + 1
            if not ok:
                log(f"pod {self.ns}/{self.name}: container {c['name']} liveness probe failed ({fails}/{need}): {out}")
            if fails >= need:
                self.kill_container(c, proc, pr, f"liveness probe failed {fails} times")
                return

    def kill_container(self, c, proc, pr, why):
        """As the kubelet restarts a container: TERM every process of the container (those in its
        mount namespace: Ray's daemons are not all in one process group), KILL what is left after
        the grace period (the probe's terminationGracePeriodSeconds, else the pod's, at most
        MAX_GRACE_S)."""
        log(f"pod {self.ns}/{self.name}: container {c['name']} {why}; will be restarted")
        grace = pr.get("terminationGracePeriodSeconds") or self.obj["spec"].get("terminationGracePeriodSeconds", 30)
        grace = min(grace, MAX_GRACE_S)
        try:
            mnt = os.readlink(f"/proc/{proc.pid}/ns/mnt")
        except OSError:
            return
        if mnt == os.readlink("/proc/self/ns/mnt"):
            mnt = None            # not in its own namespace yet: its process group only

        def members():
            if mnt is None:
                return [proc.pid] if proc.poll() is None else []
            pids = []
            for d in os.listdir("/proc"):
                if d.isdigit():
                    try:
                        if os.readlink(f"/proc/{d}/ns/mnt") == mnt:
                            pids.append(int(d))
                    except OSError:
                        pass
            return pids

        def signal_all(sig):
            for pid in members():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        signal_all(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        for _ in range(10):
            if not members():
                break
            signal_all(signal.SIGKILL)
            time.sleep(0.2)

    # readiness probes
    def probe_loop(self, c, proc, run):
        pr = c["readinessProbe"]
        need_ok, need_fail = pr.get("successThreshold", 1), pr.get("failureThreshold", 3)
        oks = fails = 0
        for ok, _ in self.probe_runs(c, proc, pr):
            oks, fails = (oks + 1, 0) if ok else (0, fails + 1)
            ready = run["ready"]
            if not ready and oks >= need_ok:
                ready = True
            elif ready and fails >= need_fail:
                ready = False
            if ready != run["ready"] and proc.poll() is None:
                run["ready"] = ready
                log(f"pod {self.ns}/{self.name}: container {c['name']} {'ready' if ready else 'not ready'}")
                self.set_status(phase="Running")

    def probe(self, c, pr, timeout):
        """(passed, what it printed or why it failed, one line)"""
        try:
            if "exec" in pr:
                r = subprocess.run([sys.executable, os.path.abspath(__file__), "exec", self.dir, c["name"],
                                    "--"] + pr["exec"]["command"], capture_output=True, timeout=timeout)
                out = (r.stdout + r.stderr).decode(errors="replace").strip().splitlines()
                return r.returncode == 0, (out[0] if out else f"exit {r.returncode}")[:300]
            spec = pr.get("httpGet") or pr.get("tcpSocket")
            if spec is None:
                return True, "grpc probes are not run, taken as passing"
            port = spec["port"]
            if not str(port).isdigit():
                port = next(p["containerPort"] for p in c.get("ports", []) if p.get("name") == port)
            sock = socket_in_netns(self.netns)
            sock.settimeout(timeout)
            try:
                sock.connect((spec.get("host") or self.ip, int(port)))
                if "tcpSocket" in pr:
                    return True, "connected"
                if spec.get("scheme", "HTTP").upper() == "HTTPS":
                    # as the kubelet: TLS without verifying the server's certificate
                    ctx = ssl.create_default_context()
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                    sock = ctx.wrap_socket(sock)
                sock.sendall(f"GET {spec.get('path', '/')} HTTP/1.0\r\nHost: {self.ip}\r\n\r\n".encode())
                code = int(sock.recv(64).split()[1])
                return 200 <= code < 400, f"HTTP {code}"
            finally:
                sock.close()
        except (OSError, ValueError, IndexError, StopIteration, subprocess.TimeoutExpired) as e:
            return False, f"{type(e).__name__}: {e}"[:300]

    def set_status(self, phase, reason=None, message=None):
        with self.status_lock:
            self._set_status(phase, reason, message)

    def _set_status(self, phase, reason=None, message=None):
        t = now_rfc3339()
        ready = phase == "Running" and self.cstatus and all(s.get("ready") for s in self.cstatus.values())
        initialized = getattr(self, "initialized", False) or not self.obj["spec"].get("initContainers")
        cond = lambda typ, ok: {"type": typ, "status": "True" if ok else "False", "lastTransitionTime": t}
        st = {"phase": phase, "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
              "podIP": self.ip, "podIPs": [{"ip": self.ip}], "startTime": getattr(self, "start_time", t),
              "conditions": [cond("PodReadyToStartContainers", True), cond("Initialized", initialized),
                             cond("Ready", ready), cond("ContainersReady", ready), cond("PodScheduled", True)],
              "reason": reason, "message": message}
        if self.icstatus:
            st["initContainerStatuses"] = list(self.icstatus.values())
        if self.cstatus:
            st["containerStatuses"] = list(self.cstatus.values())
        try:
            self.agent.api.patch_status(self.ns, self.name, st)
        except ApiError as e:
            if e.status != 404:
                raise

    def stop(self, grace=MAX_GRACE_S):
        self.stopped.set()
        for p in list(self.procs.values()):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + grace
        for p in list(self.procs.values()):
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
        if netns_exists(self.netns):   # SIGKILL everything left in the pod's namespace
            for _ in range(10):
                pids = sh("ip", "netns", "pids", self.netns, check=False).stdout.split()
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.2)
            sh("ip", "netns", "del", self.netns, check=False)
        # volumes hold tokens and secrets: gone with the pod; the logs stay until `kube.sh down`
        shutil.rmtree(f"{self.dir}/volumes", ignore_errors=True)
        shutil.rmtree(f"{self.dir}/overlay", ignore_errors=True)
        shutil.rmtree(f"{self.dir}/tmp", ignore_errors=True)


def proc_starttime(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return ""


# --- Services: userspace proxy in the hub, hosts files ---------------------------------------
class Proxy:
    def __init__(self, agent):
        self.agent = agent
        self.listeners = {}       # (ip, port) -> (socket, thread)
        self.targets = {}         # (ip, port) -> list of (ns or None, ip, port)
        self.hosts = {}           # namespace -> hosts text
        self.closed = False

    def sync(self):
        api = self.agent.api
        svcs = api.get("/api/v1/services")["items"]
        slices = api.get("/apis/discovery.k8s.io/v1/endpointslices")["items"]
        ready = {}                # (ns, svc) -> list of (ip, {portname: port}, hostname)
        for s in slices:
            svc = (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
            if not svc:
                continue
            ports = {p.get("name", ""): p.get("port") for p in (s.get("ports") or [])}
            for e in s.get("endpoints") or []:
                if (e.get("conditions") or {}).get("ready") is False:
                    continue
                for a in e.get("addresses", []):
                    ready.setdefault((s["metadata"]["namespace"], svc), []).append((a, ports, e.get("hostname")))
        want, names = {}, []
        for s in svcs:
            md, spec = s["metadata"], s["spec"]
            ns, name, cip = md["namespace"], md["name"], spec.get("clusterIP")
            eps = ready.get((ns, name), [])
            if cip and cip != "None":
                names.append((ns, name, [cip]))
                for p in spec.get("ports", []):
                    key = (cip, p["port"])
                    if ns == "default" and name == "kubernetes":
                        want[key] = [(None, "127.0.0.1", self.agent.api_port)]
                    else:
                        want[key] = [(HUB, ip, ports.get(p.get("name", ""))) for ip, ports, _ in eps
                                     if ports.get(p.get("name", ""))]
            else:
                names.append((ns, name, sorted({ip for ip, _, _ in eps})))
                for ip, _, host in eps:   # headless + hostname: HOST.SVC.NS.svc
                    if host:
                        names.append((ns, f"{host}.{name}", [ip]))
        self.targets = want
        for key in want:
            if key not in self.listeners:
                self.listen(key)
        for key in list(self.listeners):
            if key not in want:
                sock, _ = self.listeners.pop(key)
                sock.close()
                sh("ip", "-n", HUB, "addr", "del", f"{key[0]}/32", "dev", "lo", check=False)
        self.render_hosts(names, {s["metadata"]["namespace"] for s in svcs} | self.run_namespaces())

    def run_namespaces(self):
        return {p.ns for p in list(self.agent.pods.values())}

    def listen(self, key):
        ip, port = key
        sh("ip", "-n", HUB, "addr", "replace", f"{ip}/32", "dev", "lo")
        sock = socket_in_netns(HUB)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(64)
        t = threading.Thread(target=self.accept, args=(key, sock), daemon=True)
        self.listeners[key] = (sock, t)
        t.start()

    def accept(self, key, sock):
        n = 0
        while not self.closed:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            targets = self.targets.get(key) or []
            if not targets:
                conn.close()
                continue
            ns, ip, port = targets[n % len(targets)]
            n += 1
            threading.Thread(target=self.forward, args=(conn, ns, ip, port), daemon=True).start()

    @staticmethod
    def forward(conn, ns, ip, port):
        try:
            up = socket_in_netns(ns) if ns else socket.socket()
            up.settimeout(10)
            up.connect((ip, port))
            up.settimeout(None)
        except OSError:
            conn.close()
            return
        socks = [conn, up]
        try:
            while True:
                r, _, _ = select.select(socks, [], [], 3600)
                if not r:
                    break
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    (up if s is conn else conn).sendall(data)
        except OSError:
            pass
        finally:
            conn.close()
            up.close()

    def render_hosts(self, names, namespaces):
        pods_by_ns = {}
        for p in list(self.agent.pods.values()):
            sp = p.obj["spec"]
            if sp.get("hostname") and sp.get("subdomain"):
                names.append((p.ns, f"{sp['hostname']}.{sp['subdomain']}", [p.ip]))
            pods_by_ns.setdefault(p.ns, []).append(p)
        for ns in namespaces:
            lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
            for sns, name, ips in names:
                fq = f"{name}.{sns}.svc.cluster.local"
                alias = [f"{name}.{sns}.svc", f"{name}.{sns}"] + ([name] if sns == ns else [])
                for ip in ips:
                    lines.append(f"{ip}\t{fq} {' '.join(alias)}")
            for p in pods_by_ns.get(ns, []):
                lines.append(f"{p.ip}\t{p.obj['spec'].get('hostname') or p.name}")
            text = "\n".join(lines) + "\n"
            if self.hosts.get(ns) != text:
                self.hosts[ns] = text
                self.write_hosts(ns)

    def write_hosts(self, ns):
        path = f"{self.agent.state}/hosts/{ns}"
        text = self.hosts.get(ns, "127.0.0.1\tlocalhost\n")
        # in place (same inode): the file is bind-mounted over /etc/hosts in running pods
        with open(path, "a+") as f:
            f.seek(0)
            if f.read() != text:
                f.seek(0)
                f.truncate()
                f.write(text)

    def close(self):
        self.closed = True
        for sock, _ in self.listeners.values():
            sock.close()


# --- inside a container's namespaces ----------------------------------------------------------
def direct_submounts(top):
    """Mount points strictly under TOP that are not under another such mount point."""
    with open("/proc/self/mountinfo") as f:
        points = sorted({line.split()[4].replace("\\040", " ") for line in f})
    under = [p for p in points if p.startswith(top.rstrip("/") + "/")]
    return [p for p in under if not any(p != q and p.startswith(q + "/") for q in under)]


def host_paths_under_tmp(paths):
    """The directories among PATHS (resolved) that a pod's private /tmp would hide: those under
    /tmp/ that exist, outermost only (one under another is seen through it), sorted. /tmp itself
    is never one: binding all of it back would undo the private /tmp."""
    dirs = sorted({os.path.realpath(p) for p in paths if p})
    dirs = [d for d in dirs if d.startswith("/tmp/") and os.path.isdir(d)]
    return [d for d in dirs if not any(d.startswith(o + "/") for o in dirs)]


def container_main(pod_dir, name):
    """Runs as root in the pod's network namespace and a fresh mount + UTS namespace: mount the
    volumes on their mountPaths and the hosts file on /etc/hosts, then exec the command."""
    with open(f"{pod_dir}/specs/{name}.json") as f:
        spec = json.load(f)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    overlaid = set()
    # The pod gets a private /tmp (Ray keeps its sessions and sockets there). The state dir may be
    # under /tmp itself: hold it and the hosts file by fd, and mount from /proc/PID/fd/N paths,
    # which still reach them once /tmp is covered.
    # The host paths are what the pod must see where the host sees them even when they lie under
    # /tmp: the image (the Ray venv: its scripts' #! lines name its path), the checkout the
    # platform runs from and the raytls binary's directory (pods run `raytls` at its host path:
    # a CI clone under /tmp/... made the signer pods fail with FileNotFoundError). One mechanism
    # for all: each is held by fd before /tmp is covered, then bound back at its own path inside
    # the pod's /tmp. The rest of the pod's /tmp stays private.
    pod_fd = os.open(pod_dir, os.O_PATH)
    hosts_fd = os.open(spec["hosts"], os.O_PATH) if os.path.exists(spec["hosts"]) else None
    host_paths = host_paths_under_tmp(spec.get("host_paths", []))
    host_fds = [(p, os.open(p, os.O_PATH)) for p in host_paths]
    by_fd = lambda fd: f"/proc/{os.getpid()}/fd/{fd}"
    held = lambda path: by_fd(pod_fd) + path[len(pod_dir):] if path.startswith(pod_dir + "/") else path
    os.makedirs(f"{pod_dir}/tmp", exist_ok=True)
    os.chmod(f"{pod_dir}/tmp", 0o1777)
    subprocess.run(["mount", "--bind", held(f"{pod_dir}/tmp"), "/tmp"], check=True)
    for path, fd in host_fds:
        os.makedirs(path, exist_ok=True)   # the mount point, in the pod's own /tmp
        # --no-canonicalize: mount(8) would resolve the fd's link to its path name, which now
        # names the empty mount point in the pod's /tmp
        subprocess.run(["mount", "--no-canonicalize", "--bind", by_fd(fd), path], check=True)
        os.close(fd)
    under_host_path = lambda d: any(d == p or d.startswith(p + "/") for p in host_paths)

    def ensure_mountpoint(dst, is_dir):
        if os.path.lexists(dst):
            return
        anc = os.path.dirname(dst.rstrip("/")) or "/"
        while not os.path.isdir(anc):
            anc = os.path.dirname(anc)
        if anc == "/":
            raise SystemExit(f"podrunner: cannot make mount point {dst} (its parent is /)")
        if (anc == "/tmp" or anc.startswith("/tmp/")) and not under_host_path(anc):
            pass                  # the pod's own /tmp: make the mount point there
        # (under a host path bound back, as anywhere else on the host: a private layer over it)
        elif anc not in overlaid:   # a private writable layer over the host's directory
            i = len(overlaid)
            base = held(f"{spec['overlay']}/{i}")
            up, work, merged = f"{base}/upper", f"{base}/work", f"{base}/merged"
            # a restarted container starts from a fresh writable layer, as a new container does
            shutil.rmtree(base, ignore_errors=True)
            for d in (up, work, merged):
                os.makedirs(d)
            real = os.path.realpath(anc)
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            f"lowerdir={real},upperdir={up},workdir={work}", merged], check=True)
            # an overlay does not show the mounts under its lower dir (/run/netns/*, say, when a
            # pod mounts /var/run/secrets/...): bind them into the merged view, then move it
            for sub in direct_submounts(real):
                subprocess.run(["mount", "--rbind", sub, merged + sub[len(real):]], check=True)
            subprocess.run(["mount", "--move", merged, real], check=True)
            overlaid.add(anc)
        if is_dir:
            os.makedirs(dst, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            open(dst, "a").close()

    for m in spec["mounts"]:
        src, dst = held(m["src"]), m["dst"]
        ensure_mountpoint(dst, os.path.isdir(src))
        subprocess.run(["mount", "--bind", src, dst], check=True)
        if m["ro"]:
            subprocess.run(["mount", "-o", "remount,bind,ro", dst], check=True)
    if hosts_fd is not None:
        subprocess.run(["mount", "--bind", by_fd(hosts_fd), "/etc/hosts"], check=True)
    os.close(pod_fd)
    if hosts_fd is not None:
        os.close(hosts_fd)
    socket.sethostname(spec["hostname"])
    os.chdir(spec["workingDir"])
    env = spec["env"]
    argv = spec["argv"]
    exe = shutil.which(argv[0], path=env.get("PATH")) or argv[0]
    os.execve(exe, argv, env)


def exec_main(pod_dir, name, argv):
    with open(f"{pod_dir}/{name}.pid") as f:
        pid, st = f.read().split()
    if proc_starttime(int(pid)) != st:
        sys.exit(f"podrunner: container {name} is not running")
    # nsenter, unshare and the _container helper each exec the next: PID is the container's command
    target = pid
    with open(f"{pod_dir}/env/{name}.json") as f:
        env = json.load(f)
    os.execvpe("nsenter", ["nsenter", "-t", target, "-n", "-m", "-u", "--"] + argv, env)


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "_container":
        return container_main(sys.argv[2], sys.argv[3])
    if len(sys.argv) >= 2 and sys.argv[1] == "exec":
        if len(sys.argv) < 6 or sys.argv[4] != "--":
            sys.exit("usage: podrunner.py exec POD_DIR CONTAINER -- CMD...")
        return exec_main(sys.argv[2], sys.argv[3], sys.argv[5:])
    ap = argparse.ArgumentParser(description="the node agent and pod runner of scripts/kube.sh")
    ap.add_argument("--state", required=True)
    ap.add_argument("--server", required=True)
    ap.add_argument("--node", default="raytls-node")
    ap.add_argument("--kubeconfig-dir")
    ap.add_argument("--venv", default=os.environ.get("RAY_TLS_VENV") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
        "ray-tls-interop/venv-ray-2.60.0"))  # the harness's default
    ap.add_argument("--host-path", action="append", metavar="DIR",
                    help="a host directory run pods must see at its own path even under /tmp (each "
                         "pod's /tmp is private): repeatable; the venv is always one")
    a = ap.parse_args()
    agent = Agent(a)

    def on_term(*_):
        agent.stopping = True
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    agent.run()


if __name__ == "__main__":
    main()
