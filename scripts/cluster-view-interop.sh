#!/usr/bin/env bash
# cluster-view-interop.sh - `raytls health-check --all-nodes` against a REAL Ray (2.60 by default)
# cluster, each node on its own host with its own address (../shared/harness/netns_hosts.sh:
# network namespaces on a private L2 segment; nothing leaves them).
#
#   host b 10.83.0.1  the Ray head: `raytls init head` (POD_IP=10.83.0.1, the head Service name)
#   host c 10.83.0.2  a Ray worker: `raytls init worker` (POD_IP=10.83.0.2); joins via the name
#   host d 10.83.0.3  a Ray worker whose certificate was made for POD_IP=10.83.0.9: it lacks its
#                     own IP, the bug of issue 13 (it registers, then the GCS cannot health-check
#                     its raylet and marks it dead ~20 s later)
# Certificates from one local CA (`raytls ca create`). `--all-nodes` runs on the head's host with
# the head's ray-tls.env (as in a head pod: RAY_TLS_* are its credentials).
# Case 1 (head + good worker): `--all-nodes` exits 0 with 2 alive nodes, each OK, covering its own
# IP and chaining to the CA. Case 2 (the bad worker d joins): while d is alive, `--all-nodes`
# exits 1 and names d's node and the missing IP 10.83.0.3 (name_mismatch); the good nodes stay OK.
# Then, once the GCS has marked d dead (polled), d is listed dead with Ray's death reason and the
# run exits 1. What real Ray did (times, the GCS and raylet log lines) is printed for the record.
# Prints "cluster-view-interop: N passed, M failed"; exits 1 on any failure, 2 on a setup error.
# Every exit path takes the namespaces (and the Ray processes in them) down. Never `ray stop`.
#
# Needs root (ip netns), iproute2, python3 with venv (the harness makes the Ray venv on first
# use). Takes ~2-3 min on 2 cores once the venv exists; 3 Ray nodes, ~1.5 GB.
# Env: CLUSTER_VIEW_INTEROP_KEEP=1 keeps the work dir (certificates, outputs, Ray logs);
#      RAYTLS_BIN, RAYTLS_HARNESS_DIR, RAY_PIP_SPEC, RAY_TLS_VENV: see scripts/lib/hosts.sh.
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/p;}' "${BASH_SOURCE[0]}"; exit 0;; esac
NAME=cluster-view-interop KEEP_VAR=CLUSTER_VIEW_INTEROP_KEEP
. "$(dirname "${BASH_SOURCE[0]}")/lib/hosts.sh"
HEAD_IP=10.83.0.1 WORKER_IP=10.83.0.2 BAD_IP=10.83.0.3 WRONG_POD_IP=10.83.0.9
HEAD_FQDN=raycluster-cv-head-svc.ray.svc.cluster.local
# view OUT [--json]: `raytls health-check --all-nodes` on the head's host, with the head's
# credentials from its ray-tls.env; stdout to OUT; returns its exit status
view() {
  local out=$1; shift
  bash "$H" exec "$ID" b --env-file "$T/head/tls/ray-tls.env" -- \
    "$RT" health-check --address "$HEAD_IP:6379" --all-nodes --timeout 5s "$@" >"$out" 2>"$out.err"
}
# node_field JSONL IP FIELD: FIELD of the node object whose address is IP:*, or "" if none
node_field() {
  python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
path, ip, field = sys.argv[1:4]
for line in open(path):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if o.get("kind") == "node" and o.get("address", "").rsplit(":", 1)[0] == ip:
        v = o.get(field)
        print("" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else v))
        break
EOF
}
count_alive() { python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if l.strip().startswith("{") and json.loads(l).get("kind") == "node" and json.loads(l).get("state") == "alive"))' "$1"; }

hosts_up --host b=$HEAD_IP --host c=$WORKER_IP --host d=$BAD_IP --hosts-entry "$HEAD_FQDN=$HEAD_IP"
echo "== hosts $ID: head b=$HEAD_IP, worker c=$WORKER_IP, bad worker d=$BAD_IP (work dir $T)"

# One local CA; each node's files from `raytls init` with POD_IP as the downward API sets it.
"$RT" ca create --out "$T/ca" --name "cluster-view-interop" >/dev/null
POD_IP=$HEAD_IP "$RT" init head --ca "$T/ca" --fqdn "$HEAD_FQDN" --out "$T/head/tls" >/dev/null
POD_IP=$WORKER_IP "$RT" init worker --ca "$T/ca" --out "$T/worker/tls" >/dev/null
# The bug: a worker certificate made for another pod IP (a stale Secret, a copied directory).
POD_IP=$WRONG_POD_IP "$RT" init worker --ca "$T/ca" --out "$T/bad/tls" >/dev/null

# === Case 1: head + good worker
t=$(now)
hp=$(bash "$H" ray-start "$ID" b --temp-dir "$T/rb" --log "$T/ray-head.log" --wait 120 \
       --env-file "$T/head/tls/ray-tls.env" -- --head --node-ip-address=$HEAD_IP --port=6379 \
       --include-dashboard=false 2>"$T/ray-head.err") ||
  { sed 's/^/   /' "$T/ray-head.err"; echo "cluster-view-interop: the Ray head did not start" >&2; exit 2; }
echo "   Ray head with TLS started on b ($(since "$t"))"
t=$(now)
wp=$(bash "$H" ray-start "$ID" c --temp-dir "$T/rc" --log "$T/ray-worker.log" --wait 120 \
       --env-file "$T/worker/tls/ray-tls.env" -- --address=$HEAD_FQDN:6379 --node-ip-address=$WORKER_IP \
       2>"$T/ray-worker.err") ||
  { sed 's/^/   /' "$T/ray-worker.err"; echo "cluster-view-interop: the Ray worker did not start" >&2; exit 2; }
echo "   Ray worker started on c, joined via $HEAD_FQDN:6379 ($(since "$t"))"

# The worker registers shortly after `ray start` returns: wait for the GCS to list 2 alive nodes.
alive=0
for _ in $(seq 60); do
  view "$T/c1.jsonl" --json || true
  alive=$(count_alive "$T/c1.jsonl")
  [ "$alive" -ge 2 ] && break
  sleep 1
done
rc=0; view "$T/c1.txt" || rc=$?
echo "   --all-nodes (exit $rc):"; sed 's/^/     | /' "$T/c1.txt"
rc_json=0; view "$T/c1.jsonl" --json || rc_json=$?
check "case 1: --all-nodes on a head + worker cluster exits 0 (text $rc, --json $rc_json)" \
  test "$rc" = 0 -a "$rc_json" = 0
check "case 1: the GCS lists 2 alive nodes, each an OK line" \
  eval "[ \$(count_alive '$T/c1.jsonl') = 2 ] && [ \$(grep -c '^OK node ' '$T/c1.txt') = 2 ] && grep -q '^2 nodes (2 alive): all healthy$' '$T/c1.txt'"
for ip in $HEAD_IP $WORKER_IP; do
  check "case 1: node $ip: dialed at its node-manager port, its certificate covers $ip and chains to the CA ($(node_field "$T/c1.jsonl" $ip chains_to), $(node_field "$T/c1.jsonl" $ip days_left) days left)" \
    eval "[ \"\$(node_field '$T/c1.jsonl' $ip covers_address)\" = True ] &&
      node_field '$T/c1.jsonl' $ip chains_to | grep -q 'cluster-view-interop' &&
      [ \"\$(node_field '$T/c1.jsonl' $ip verdict)\" = ok ] &&
      grep -q '^OK node [0-9a-f]* .*$ip:[0-9]* alive: covers $ip; chains to ' '$T/c1.txt'"
done
check "case 1: the head's node is marked head" test "$(node_field "$T/c1.jsonl" $HEAD_IP is_head)" = True

# === Case 2: a worker whose certificate lacks its own IP
echo "   bad worker's certificate SANs: $(openssl x509 -in "$T/bad/tls/tls.crt" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')"
t_spawn=$(now)
# Do not wait for "Ray runtime started": the GCS gives the node ~20 s once it registers.
bp=$(bash "$H" ray-start "$ID" d --temp-dir "$T/rd" --log "$T/ray-bad.log" --wait 1 \
       --env-file "$T/bad/tls/ray-tls.env" -- --address=$HEAD_FQDN:6379 --node-ip-address=$BAD_IP \
       2>"$T/ray-bad.err") || true
seen=""
for _ in $(seq 120); do
  view "$T/c2.jsonl" --json || true
  if [ "$(node_field "$T/c2.jsonl" $BAD_IP state)" = alive ]; then seen=$(since "$t_spawn"); break; fi
  [ "$(node_field "$T/c2.jsonl" $BAD_IP state)" = dead ] && { seen=dead; break; }
  sleep 0.5
done
rc=0; view "$T/c2.txt" || rc=$?
took_named=$(since "$t_spawn")
echo "   bad worker first listed alive ${seen:-never} after its ray start; --all-nodes $took_named after (exit $rc):"
sed 's/^/     | /' "$T/c2.txt"
check "case 2: the bad worker registered and the GCS listed it alive (${seen:-not seen alive})" \
  test -n "$seen" -a "$seen" != dead
check "case 2: while it is alive, --all-nodes exits 1 and names its node and the missing IP $BAD_IP" \
  eval "[ $rc = 1 ] && grep -qE '^FAIL node [0-9a-f]{8} .*$BAD_IP:[0-9]+ alive name_mismatch: its certificate does not cover $BAD_IP, the address the GCS dials' '$T/c2.txt'"
check "case 2: --json has name_mismatch and covers_address false for $BAD_IP" \
  eval "[ \"\$(node_field '$T/c2.jsonl' $BAD_IP cause)\" = name_mismatch ] && [ \"\$(node_field '$T/c2.jsonl' $BAD_IP covers_address)\" = False ]"
check "case 2: the head and the good worker are still OK lines" \
  eval "grep -q '^OK node .*$HEAD_IP:[0-9]* alive' '$T/c2.txt' && grep -q '^OK node .*$WORKER_IP:[0-9]* alive' '$T/c2.txt'"
# Named before the GCS marked it dead: the same run must not have seen it dead.
check "case 2: named before the GCS marked the node dead" \
  eval "! grep -qE '^FAIL node [0-9a-f]{8} .*$BAD_IP:[0-9]+ dead' '$T/c2.txt'"

# Now let the GCS do what it does: poll until it lists the node as dead.
dead_after=""
for _ in $(seq 120); do
  view "$T/c3.jsonl" --json || true
  if [ "$(node_field "$T/c3.jsonl" $BAD_IP state)" = dead ]; then dead_after=$(since "$t_spawn"); break; fi
  sleep 1
done
rc=0; view "$T/c3.txt" || rc=$?
rc_json=0; view "$T/c3.jsonl" --json || rc_json=$?
echo "   the GCS listed the bad worker dead ${dead_after:-never} after its ray start; --all-nodes (exit $rc):"
sed 's/^/     | /' "$T/c3.txt"
reason=$(node_field "$T/c3.jsonl" $BAD_IP death_reason)
message=$(node_field "$T/c3.jsonl" $BAD_IP death_message)
lived=$(node_field "$T/c3.jsonl" $BAD_IP lived_s)
echo "   Ray's death record: reason $reason, message \"$message\", ${lived:-?} s from registration to death"
check "case 2: once the GCS marked it dead (after ${dead_after:-never}), it is listed dead with Ray's death reason ($reason: $message), exit 1" \
  eval "[ -n '$dead_after' ] && [ $rc = 1 ] && [ $rc_json = 1 ] && [ '$reason' = UNEXPECTED_TERMINATION ] &&
    [ \"\$(node_field '$T/c3.jsonl' $BAD_IP died_of_failed_health_checks)\" = True ] &&
    [ \"\$(node_field '$T/c3.jsonl' $BAD_IP verdict)\" = fail ] &&
    grep -qE '^FAIL node [0-9a-f]{8} .*$BAD_IP:[0-9]+ dead [a-z_]+: dead \(UNEXPECTED_TERMINATION: \"health check failed' '$T/c3.txt'"

# What Ray itself said (RAY_TLS_NOTES "Between nodes"), for the record.
lb=$T/rb/session_latest/logs ld=$T/rd/session_latest/logs
echo "   GCS log: $(grep -rhs -m1 'Peer name' "$lb" | head -1 | cut -c1-300 || true)"
echo "   GCS log: $(grep -rhs -m1 -i 'health check failed for node' "$lb" | head -1 | cut -c1-300 || true)"
echo "   bad worker's raylet log: $(grep -rhs -m1 'mistakenly been marked as dead' "$ld" | head -1 | cut -c1-300 || true)"
echo "   bad worker's logs: $(grep -rhs -m1 'No match found for server name' "$ld" | head -1 | cut -c1-200 || true)"
check "case 2: the GCS log names the certificate (Peer name $BAD_IP is not in peer certificate), Ray's own verdict does not" \
  grep -rqs "Peer name $BAD_IP is not in peer certificate" "$lb"

[ -n "${bp:-}" ] && bash "$H" stop "$ID" "$bp" --grace 10 >/dev/null 2>&1 || true
bash "$H" stop "$ID" "$wp" --grace 20 >/dev/null 2>&1 || true
bash "$H" stop "$ID" "$hp" --grace 20 >/dev/null 2>&1 || true
if [ "${CLUSTER_VIEW_INTEROP_KEEP:-0}" = 1 ]; then
  cp -r "$lb" "$T/ray-head-logs" 2>/dev/null || true
  cp -r "$ld" "$T/ray-bad-logs" 2>/dev/null || true
fi
finish
