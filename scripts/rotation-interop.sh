#!/usr/bin/env bash
# rotation-interop.sh - a CA rotation (docs/ca-rotation.md) against REAL Ray (2.60 by default),
# each node on its own host with its own address (../shared/harness/netns_hosts.sh: network
# namespaces on a private L2 segment; nothing leaves them).
#
#   host b 10.82.0.2  the Ray head
#   host c 10.82.0.3  a Ray worker; joins via the head's Service name
#
# Two CAs with unique subjects ("rotation-interop old CA <hex>", "... new CA <hex>"), each
# directory with the trust bundle old + new (`raytls ca trust`). Phases, one cluster each:
#   mixed    (steps 1-2) head with a leaf from the OLD CA, worker with a leaf from the NEW CA,
#            both trusting the bundle: `raytls verify` names each pod's step; the worker joins;
#            the cluster has 2 alive nodes; a task pinned to the worker's node
#            (NodeAffinitySchedulingStrategy, hard) runs there and returns the worker's IP.
#   dropped  (step 3) the new CA drops the old root; `raytls renew --ca NEW` re-issues the head's
#            leaf and its ca.crt holds the new root alone; the head restarts. A worker still
#            holding its OLD-CA leaf (and trusting the bundle) is refused: it never registers
#            (`ray start` keeps retrying; bounded here), the cluster has 1 alive node, and its
#            logs say why. Then `raytls renew --ca NEW` on the worker re-issues it from the new
#            CA, and the restarted worker joins and runs the pinned task.
# Prints PASS/FAIL lines, what Ray said, and "rotation-interop: N passed, M failed"; exits 1
# on any failure, 2 on a setup error. Every exit path takes the namespaces down.
#
# Needs root (ip netns), iproute2, openssl, python3 with venv (the harness makes the Ray venv
# on first use, ~1 min, ~300 MB). Takes ~3 min on 2 cores once the venv exists.
# Env: ROTATION_INTEROP_KEEP=1 keeps the work dir (CAs, certificates, Ray logs);
#      ROTATION_REFUSED_WAIT (seconds the refused worker gets; default 45); RAYTLS_BIN,
#      RAYTLS_HARNESS_DIR, RAY_PIP_SPEC, RAY_TLS_VENV: see scripts/lib/hosts.sh.
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/p;}' "${BASH_SOURCE[0]}"; exit 0;; esac
NAME=rotation-interop KEEP_VAR=ROTATION_INTEROP_KEEP
. "$(dirname "${BASH_SOURCE[0]}")/lib/hosts.sh"
REFUSED_WAIT=${ROTATION_REFUSED_WAIT:-45}

HEAD_IP=10.82.0.2 WORKER_IP=10.82.0.3
HEAD_FQDN=raycluster-rotation-head-svc.ray.svc.cluster.local
# step_of DIR: the rotation step `raytls verify` reports for a pod directory
step_of() { "$RT" verify --dir "$1" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["rotation"]["step"])' || echo error; }
issuer_cn() { openssl x509 -in "$1" -noout -issuer -nameopt multiline 2>/dev/null | sed -n 's/^ *commonName *= //p'; }

hosts_up --host b=$HEAD_IP --host c=$WORKER_IP --hosts-entry "$HEAD_FQDN=$HEAD_IP"
echo "== hosts $ID: head b=$HEAD_IP, worker c=$WORKER_IP (work dir $T)"


# driver WANT WAIT LOG: lib/two_nodes_driver.py on b, waiting up to WAIT s for the nodes (WANT
# is for the reader: 2 = head and worker, 1 = the head alone); prints the RESULT JSON (or {})
driver() {
  local t rc=0 result; t=$(now)
  bash "$H" exec "$ID" b --env-file "$T/head/ray-tls.env" -- timeout 240 python "$DRIVER" \
    "$HEAD_IP" "$WORKER_IP" 90 "$2" >"$3" 2>&1 || rc=$?
  result=$(driver_result "$3")
  echo "   driver ($(since "$t"), exit $rc): $result" >&2
  [ "$result" != '{}' ] || tail -n 20 "$3" | sed 's/^/   driver: /' >&2
  printf '%s' "$result"
}
# start_head TAG: Ray head on b from $T/head; sets HP
start_head() {
  local t; t=$(now)
  if HP=$(bash "$H" ray-start "$ID" b --temp-dir "$T/$1" --log "$T/ray-$1.log" --wait 120 \
            --env-file "$T/head/ray-tls.env" -- --head --node-ip-address=$HEAD_IP --port=6379 \
            --include-dashboard=false 2>"$T/ray-$1.err"); then
    pass "$PHASE: Ray head with TLS started on b ($(since "$t"))"
  else fail "$PHASE: Ray head did not start"; sed 's/^/   /' "$T/ray-$1.err"; return 1; fi
}
# start_worker TAG WAIT: Ray worker on c from $T/worker; sets WP; returns the harness's code
start_worker() {
  local rc=0
  WP=$(bash "$H" ray-start "$ID" c --temp-dir "$T/$1" --log "$T/ray-$1.log" --wait "$2" \
         --env-file "$T/worker/ray-tls.env" -- --address=$HEAD_FQDN:6379 --node-ip-address=$WORKER_IP \
         2>"$T/ray-$1.err") || rc=$?
  return $rc
}
stop_pid() { [ -n "${1:-}" ] && bash "$H" stop "$ID" "$1" --grace 20 >/dev/null 2>&1 || true; }

T0=$(now)
# ---- the two CAs and their trust bundles (what `raytls ca trust` is for) ----
"$RT" ca create --out "$T/ca-old" --name "rotation-interop old CA" >/dev/null
sleep 1   # notBefore one second apart, so "newest root" is the new CA by date as well
"$RT" ca create --out "$T/ca-new" --name "rotation-interop new CA" >/dev/null
"$RT" ca trust --ca "$T/ca-old" --add "$T/ca-new/ca.crt" >/dev/null
"$RT" ca trust --ca "$T/ca-new" --add "$T/ca-old/ca.crt" >/dev/null
check "setup: both CA directories hold the same trust bundle of 2 roots with unique subjects" \
  eval "cmp -s '$T/ca-old/trust.crt' '$T/ca-new/trust.crt' && [ \$(certs_in '$T/ca-old/trust.crt') = 2 ] &&
    [ \"\$(issuer_cn '$T/ca-old/ca.crt')\" != \"\$(issuer_cn '$T/ca-new/ca.crt')\" ]"

# ---- phase mixed: head from the old CA, worker from the new, both trust the bundle ----
PHASE=mixed
echo "=== $PHASE: head leaf from the old CA, worker leaf from the new CA, both trust old + new"
on b env POD_IP=$HEAD_IP "$RT" init head --ca "$T/ca-old" --fqdn "$HEAD_FQDN" --out "$T/head" >"$T/head-init.log" 2>&1
on c env POD_IP=$WORKER_IP "$RT" init worker --ca "$T/ca-new" --out "$T/worker" >"$T/worker-init.log" 2>&1
hs=$(step_of "$T/head"); ws=$(step_of "$T/worker")
check "$PHASE: raytls verify says the head is at $hs (leaf from \"$(issuer_cn "$T/head/tls.crt")\") and the worker at $ws (leaf from \"$(issuer_cn "$T/worker/tls.crt")\")" \
  test "$hs" = trusts_both_leaf_old -a "$ws" = trusts_both_leaf_new
check "$PHASE: openssl verifies both leaves against the pods' ca.crt (the bundle)" \
  eval "cmp -s '$T/head/ca.crt' '$T/ca-old/trust.crt' && cmp -s '$T/worker/ca.crt' '$T/ca-old/trust.crt' &&
    openssl verify -CAfile '$T/head/ca.crt' '$T/head/tls.crt' >/dev/null && openssl verify -CAfile '$T/head/ca.crt' '$T/worker/tls.crt' >/dev/null"
HP= WP=
if start_head rb1; then
  t=$(now)
  if start_worker rc1 120; then pass "$PHASE: Ray worker (new-CA leaf) on c joined the head (old-CA leaf) via $HEAD_FQDN:6379 ($(since "$t"))"
  else fail "$PHASE: Ray worker did not start"; sed 's/^/   /' "$T/ray-rc1.err"; fi
  r=$(driver 2 60 "$T/driver-mixed.log")
  check "$PHASE: the cluster has 2 alive nodes ($(json_field "$r" alive))" test "$(json_field "$r" alive)" = "$HEAD_IP,$WORKER_IP"
  check "$PHASE: a task pinned to the worker's node ran there and returned the worker's IP ($(json_field "$r" task_ip))" \
    test "$(json_field "$r" task_ip)" = "$WORKER_IP" -a "$(json_field "$r" task_on_worker_node)" = True
fi
stop_pid "$WP"; stop_pid "$HP"

# ---- phase dropped: the old root goes; the head moves to the new CA; an old-CA worker is refused ----
PHASE=dropped
echo "=== $PHASE: the new CA drops the old root; head re-issued from the new CA; worker still on its old-CA leaf"
# The head, while it is down: step 2 (re-issue from the new CA, the bundle still trusted),
# then step 3 (the new CA drops the old root; the head's ca.crt follows).
on b env POD_IP=$HEAD_IP "$RT" renew --dir "$T/head" --ca "$T/ca-new" >"$T/head-renew.log" 2>/dev/null
check "$PHASE: step 2 on the head: raytls renew --ca NEW re-issued its leaf ($(grep -m1 -o 'existing certificate was issued by the old CA[^(]*' "$T/head-renew.log" || head -1 "$T/head-renew.log")); verify: $(step_of "$T/head")" \
  eval "grep -q '^issued head' '$T/head-renew.log' && [ \"\$(step_of '$T/head')\" = trusts_both_leaf_new ]"
"$RT" ca trust --ca "$T/ca-new" --drop "$T/ca-old/ca.crt" >/dev/null
on b env POD_IP=$HEAD_IP "$RT" renew --dir "$T/head" --ca "$T/ca-new" >"$T/head-renew3.log" 2>&1
check "$PHASE: step 3 on the head: the leaf is kept, ca.crt holds the new root alone ($(grep -m1 -o 'ca.crt replaced.*root[^;]*' "$T/head-renew3.log")); verify: $(step_of "$T/head")" \
  eval "grep -q '^kept head' '$T/head-renew3.log' && [ \$(certs_in '$T/head/ca.crt') = 1 ] &&
    cmp -s '$T/head/ca.crt' '$T/ca-new/ca.crt' && [ \"\$(step_of '$T/head')\" = none ]"
# The worker, as on a pod that missed step 2: a leaf from the old CA (whose directory still
# trusts both), ca.crt the bundle.
on c env POD_IP=$WORKER_IP "$RT" renew --dir "$T/worker" --ca "$T/ca-old" --force >/dev/null 2>&1
ov=$(openssl verify -CAfile "$T/ca-new/ca.crt" "$T/worker/tls.crt" 2>&1 || true)
check "$PHASE: the worker holds a leaf from the old CA (\"$(issuer_cn "$T/worker/tls.crt")\") and trusts the bundle; openssl refuses it against the new root alone: $(grep -m1 error <<<"$ov" || echo accepted)" \
  eval "cmp -s '$T/worker/ca.crt' '$T/ca-old/trust.crt' && ! openssl verify -CAfile '$T/ca-new/ca.crt' '$T/worker/tls.crt' >/dev/null 2>&1"
HP= WP=
if start_head rb2; then
  t=$(now) rc=0
  start_worker rc2 "$REFUSED_WAIT" || rc=$?
  took=$(since "$t")
  case $rc in 0) what="started (joined)";; 1) what="still retrying after ${REFUSED_WAIT}s";; *) what="exited (code $rc)";; esac
  check "$PHASE: Ray worker with the old-CA leaf did not start: $what ($took)" test "$rc" != 0
  r=$(driver 1 5 "$T/driver-refused.log")
  check "$PHASE: the cluster has 1 alive node, the head ($(json_field "$r" alive)): the old-CA worker never registered" \
    test "$(json_field "$r" alive)" = "$HEAD_IP"
  echo "   what Ray said (first lines of each log; FILE: line):"
  pats='CERTIFICATE_VERIFY_FAILED|UNKNOWN_CA|Handshake failed|Failed to connect to GCS|Failed to get cluster ID|failed to connect to all addresses'
  { grep -rsE -m3 "$pats" "$T/ray-rc2.log" "$T/rc2/session_latest/logs" "$T/rb2/session_latest/logs" || true; } \
    | sed "s|^$T/||; s|session_latest/logs/||" | cut -c1-260 | sed 's/^/   | /' | tee "$T/refusal-messages.txt"
  n_head=$(grep -rhsc 'CERTIFICATE_VERIFY_FAILED' "$T/rb2/session_latest/logs" | awk '{ n += $1 } END { print n + 0 }')
  n_worker=$(grep -c 'Failed to connect to GCS' "$T/ray-rc2.log" 2>/dev/null || echo 0)
  check "$PHASE: the head's GCS refused the worker's certificate (CERTIFICATE_VERIFY_FAILED $n_head times in the head's logs); the worker's ray start kept retrying (\"Failed to connect to GCS\" $n_worker times)" \
    eval "[ '${n_head:-0}' -gt 0 ] && [ '${n_worker:-0}' -gt 0 ]"
  stop_pid "$WP"; WP=
  # The fix: re-issue from the new CA (its trust is the new root alone now), restart the worker.
  on c env POD_IP=$WORKER_IP "$RT" renew --dir "$T/worker" --ca "$T/ca-new" >"$T/worker-renew.log" 2>&1
  check "$PHASE: raytls renew --ca NEW re-issued the worker's leaf ($(head -1 "$T/worker-renew.log" | grep -o '(existing.*' | cut -c1-160)); verify: $(step_of "$T/worker")" \
    eval "grep -q '^issued worker' '$T/worker-renew.log' && cmp -s '$T/worker/ca.crt' '$T/ca-new/ca.crt' && [ \"\$(step_of '$T/worker')\" = none ]"
  t=$(now)
  if start_worker rc3 120; then pass "$PHASE: Ray worker re-issued from the new CA joined ($(since "$t"))"
  else fail "$PHASE: the re-issued worker did not start"; sed 's/^/   /' "$T/ray-rc3.err"; fi
  r=$(driver 2 60 "$T/driver-dropped.log")
  check "$PHASE: the cluster has 2 alive nodes again ($(json_field "$r" alive)) and a task pinned to the worker ran there ($(json_field "$r" task_ip))" \
    test "$(json_field "$r" alive)" = "$HEAD_IP,$WORKER_IP" -a "$(json_field "$r" task_ip)" = "$WORKER_IP"
fi
stop_pid "$WP"; stop_pid "$HP"

echo "rotation-interop: total $(since "$T0")"
finish
