# two_nodes_driver.py HEAD_IP WORKER_IP [TIMEOUT_S [WAIT_S]] - run on the head's host with the head's TLS identity
# (the ray-tls.env of `raytls init`): waits (WAIT_S, default 60, at most) until the GCS has an alive node at
# each address, then runs a task pinned (hard) to the worker's node and pulls a 2 MB object made
# there. Prints "RESULT {json}": alive (the alive nodes' addresses), dead (address and Ray's
# death reason of every dead node), task_ip, task_on_worker_node, object_bytes and timings;
# error when the task or the object did not come back within TIMEOUT_S (default 90).
# Shared by the real-Ray scripts (signer-interop, renewal-interop, ...).
import json, sys, time
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

head_ip, worker_ip = sys.argv[1], sys.argv[2]
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 90
wait = float(sys.argv[4]) if len(sys.argv) > 4 else 60
out = {}
t0 = time.time()
ray.init(address=f"{head_ip}:6379", _node_ip_address=head_ip, logging_level="ERROR",
         log_to_driver=False)
deadline = time.time() + wait
while True:
    nodes = ray.nodes()
    alive = [n for n in nodes if n["Alive"]]
    if {head_ip, worker_ip} <= {n["NodeManagerAddress"] for n in alive} or time.time() > deadline:
        break
    time.sleep(0.5)
out["alive"] = sorted(n["NodeManagerAddress"] for n in alive)
out["dead"] = sorted(
    "%s: %s" % (n["NodeManagerAddress"], n.get("DeathReasonMessage") or n.get("DeathReason") or "?")
    for n in nodes if not n["Alive"])
out["t_nodes"] = round(time.time() - t0, 2)
worker = next((n for n in alive if n["NodeManagerAddress"] == worker_ip), None)


@ray.remote(num_cpus=1)
def where():
    return ray.util.get_node_ip_address(), ray.get_runtime_context().get_node_id()


@ray.remote(num_cpus=1)
def payload():
    return b"x" * (2 * 1024 * 1024)


if worker is not None:
    pin = NodeAffinitySchedulingStrategy(node_id=worker["NodeID"], soft=False)
    try:
        t1 = time.time()
        ip, node = ray.get(where.options(scheduling_strategy=pin).remote(), timeout=timeout)
        out.update(task_ip=ip, task_on_worker_node=(node == worker["NodeID"]),
                   t_task=round(time.time() - t1, 2))
        t2 = time.time()
        data = ray.get(payload.options(scheduling_strategy=pin).remote(), timeout=timeout)
        out.update(object_bytes=len(data), t_object=round(time.time() - t2, 2))
    except Exception as e:  # reported, not raised: the caller decides what it means
        out["error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
print("RESULT " + json.dumps(out))
