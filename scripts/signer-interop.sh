#!/usr/bin/env bash
# signer-interop.sh - `raytls serve` + `raytls init --signer` against REAL Ray (2.60 by default),
# each party on its own host with its own address (../shared/harness/netns_hosts.sh: network
# namespaces on a private L2 segment; nothing leaves them).
#
#   host a 10.79.0.1  the signer: `raytls serve`, the only place a CA key exists
#   host b 10.79.0.2  the Ray head: `raytls init head --signer ... --fqdn <head Service name>`
#   host c 10.79.0.3  a Ray worker: `raytls init worker --signer ...`; joins via the head's name
#
# Two layouts, one cluster at a time:
#   root          the signer holds the root CA (ca.crt + ca.key); pods get tls.crt = leaf,
#                 ca.crt = the root
#   intermediate  `raytls ca create --intermediate`: the signer holds the intermediate and its
#                 key; the root key stays in an "offline" directory; pods get tls.crt = leaf +
#                 intermediate, ca.crt = the root
# Checks per layout (one PASS/FAIL line each): the signer answers /healthz; each pod's
# certificate holds its own address (decided by the signer from the TCP peer) and chains as
# the layout says; no ca.key (and no private key but tls.key) under the head's or the worker's
# directory; the head starts with TLS; the worker joins; the cluster has 2 alive nodes; a task
# pinned to the worker's node (NodeAffinitySchedulingStrategy, hard) runs there and returns the
# worker's IP; a 2 MB object made on the worker reaches the driver on the head host; the
# audit log saw each pod's own address. Against the live signer of the root layout, from host c
# with the worker's token: role head -> 403 role_not_allowed (curl), and `raytls init head`
# with that token fails at once with the 403 and writes nothing; a pod whose POD_IP is not the
# address the signer sees (as behind NAT) refuses the certificate it gets and writes nothing.
# Prints "signer-interop: N passed, M failed"; exits 1 on any failure, 2 on a setup error.
# Every exit path takes the namespaces (and the Ray and signer processes in them) down.
#
# Needs root (ip netns), iproute2, curl, openssl, python3 with venv (the harness makes the
# Ray venv on first use, ~1 min, ~300 MB). Takes ~2-3 min on 2 cores once the venv exists.
# Env: SIGNER_INTEROP_KEEP=1 keeps the work dir (certificates, audit log, Ray logs); RAYTLS_BIN,
#      RAYTLS_HARNESS_DIR, RAY_PIP_SPEC, RAY_TLS_VENV: see scripts/lib/hosts.sh.
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/p;}' "${BASH_SOURCE[0]}"; exit 0;; esac
NAME=signer-interop KEEP_VAR=SIGNER_INTEROP_KEEP
. "$(dirname "${BASH_SOURCE[0]}")/lib/hosts.sh"
SIGNER_IP=10.79.0.1 HEAD_IP=10.79.0.2 WORKER_IP=10.79.0.3
SIGNER_NAME=raytls-signer.test
SIGNER_URL=https://$SIGNER_NAME:8443
# KubeRay's head Service name for a cluster "raycluster-signer" in namespace "ray": the signer
# grants it to a head because it matches --head-name; workers dial the head by it.
HEAD_FQDN=raycluster-signer-head-svc.ray.svc.cluster.local
HEAD_PATTERN='*-head-svc.ray.svc.cluster.local'
hosts_up --host a=$SIGNER_IP --host b=$HEAD_IP --host c=$WORKER_IP \
  --hosts-entry "$SIGNER_NAME=$SIGNER_IP" --hosts-entry "$HEAD_FQDN=$HEAD_IP"
echo "== hosts $ID: signer a=$SIGNER_IP, head b=$HEAD_IP, worker c=$WORKER_IP (work dir $T)"


# run_case LAYOUT: one signer, one head, one worker; every check of the layout
run_case() {
  local layout=$1 d=$T/$1 t sp hp wp pod_ca rc
  echo "=== $layout layout"
  mkdir -p "$d/signer" "$d/head" "$d/worker"
  # The CA: only the signer's directory (and, for the intermediate, the offline root) has a key.
  if [ "$layout" = root ]; then
    "$RT" ca create --out "$d/signer/ca" --name "signer-interop root" >/dev/null
    pod_ca=$d/signer/ca/ca.crt
  else
    "$RT" ca create --out "$d/offline-root" --name "signer-interop offline root" >/dev/null
    "$RT" ca create --intermediate --ca "$d/offline-root" --out "$d/signer/ca" --name "signer-interop signing" >/dev/null
    pod_ca=$d/signer/ca/root.crt
  fi
  # One token per role, each pod gets only its own (as separate Secrets would mount them).
  "$RT" token generate --out "$d/signer/head.token" >/dev/null
  "$RT" token generate --out "$d/signer/worker.token" >/dev/null
  install -m 0644 "$pod_ca" "$d/head/ca.crt"; install -m 0644 "$pod_ca" "$d/worker/ca.crt"
  install -m 0600 "$d/signer/head.token" "$d/head/token"
  install -m 0600 "$d/signer/worker.token" "$d/worker/token"

  t=$(now)
  sp=$(bash "$H" spawn "$ID" a --log "$d/signer.log" -- "$RT" serve --ca "$d/signer/ca" \
        --listen "$SIGNER_IP:8443" --token "head=$d/signer/head.token" --token "worker=$d/signer/worker.token" \
        --head-name "$HEAD_PATTERN" --san "$SIGNER_NAME" --audit-log "$d/audit.jsonl")
  local up=0
  for _ in $(seq 100); do
    if on b curl -sf --max-time 2 --cacert "$d/head/ca.crt" "$SIGNER_URL/healthz" >/dev/null 2>&1; then up=1; break; fi
    sleep 0.2
  done
  if [ $up = 1 ]; then pass "$layout: the signer on a answers /healthz from b over TLS trusted via the pod's ca.crt ($(since "$t"))"
  else fail "$layout: the signer did not come up"; sed 's/^/   signer: /' "$d/signer.log"; return; fi

  # The pods: keys made here, CSRs to the signer; POD_IP as the downward API would set it.
  t=$(now)
  if on b env POD_IP=$HEAD_IP "$RT" init head --signer "$SIGNER_URL" --signer-ca "$d/head/ca.crt" \
       --token-file "$d/head/token" --fqdn "$HEAD_FQDN" --out "$d/head/tls" --wait 30s >"$d/head-init.log" 2>&1; then
    pass "$layout: raytls init head --signer on b ($(since "$t")): $(head -1 "$d/head-init.log")"
  else fail "$layout: raytls init head --signer"; sed 's/^/   /' "$d/head-init.log"; return; fi
  t=$(now)
  if on c env POD_IP=$WORKER_IP "$RT" init worker --signer "$SIGNER_URL" --signer-ca "$d/worker/ca.crt" \
       --token-file "$d/worker/token" --out "$d/worker/tls" --wait 30s >"$d/worker-init.log" 2>&1; then
    pass "$layout: raytls init worker --signer on c ($(since "$t")): $(head -1 "$d/worker-init.log")"
  else fail "$layout: raytls init worker --signer"; sed 's/^/   /' "$d/worker-init.log"; return; fi

  local hs ws
  hs=$(sans_of "$d/head/tls/tls.crt"); ws=$(sans_of "$d/worker/tls/tls.crt")
  check "$layout: head certificate SANs are $hs (its own address $HEAD_IP and the head Service name)" \
    test "$hs" = "DNS:localhost,DNS:$HEAD_FQDN,IPAddress:$HEAD_IP,IPAddress:127.0.0.1"
  check "$layout: worker certificate SANs are $ws (its own address $WORKER_IP, no head name)" \
    test "$ws" = "DNS:localhost,IPAddress:$WORKER_IP,IPAddress:127.0.0.1"
  local want_chain=1; [ "$layout" = intermediate ] && want_chain=2
  check "$layout: tls.crt holds $want_chain certificate(s), ca.crt is the root, and openssl verifies the chain" \
    eval "[ \$(certs_in '$d/head/tls/tls.crt') = $want_chain ] && [ \$(certs_in '$d/worker/tls/tls.crt') = $want_chain ] &&
      cmp -s '$d/head/tls/ca.crt' '$pod_ca' && cmp -s '$d/worker/tls/ca.crt' '$pod_ca' &&
      openssl verify -CAfile '$pod_ca' -untrusted '$d/worker/tls/tls.crt' '$d/worker/tls/tls.crt' >/dev/null &&
      openssl verify -CAfile '$pod_ca' -untrusted '$d/head/tls/tls.crt' '$d/head/tls/tls.crt' >/dev/null"
  local keys others
  keys=$(find "$d/head" "$d/worker" -name ca.key | paste -sd' ')
  # (tls.key itself may live in a ..TIMESTAMP directory: the kubelet-style ..data layout)
  others=$(grep -rl -- 'PRIVATE KEY' "$d/head" "$d/worker" | grep -vE '/tls/(\.\.[^/]+/)?tls\.key$' | paste -sd' ' || true)
  check "$layout: no ca.key under the head's or the worker's directory (found: ${keys:-none}); no private key there but tls.key (found: ${others:-none}); the CA key is in the signer's" \
    test -z "$keys" -a -z "$others" -a -f "$d/signer/ca/ca.key"

  # Ray: head on b, worker on c, each with the ray-tls.env its init wrote.
  t=$(now)
  if hp=$(bash "$H" ray-start "$ID" b --temp-dir "$T/rb" --log "$d/ray-head.log" --wait 120 \
            --env-file "$d/head/tls/ray-tls.env" -- --head --node-ip-address=$HEAD_IP --port=6379 \
            --include-dashboard=false 2>"$d/ray-head.err"); then
    pass "$layout: Ray head with TLS started on b ($(since "$t"))"
  else fail "$layout: Ray head did not start"; sed 's/^/   /' "$d/ray-head.err"; return; fi
  t=$(now)
  if wp=$(bash "$H" ray-start "$ID" c --temp-dir "$T/rc" --log "$d/ray-worker.log" --wait 120 \
            --env-file "$d/worker/tls/ray-tls.env" -- --address=$HEAD_FQDN:6379 --node-ip-address=$WORKER_IP \
            2>"$d/ray-worker.err"); then
    pass "$layout: Ray worker on c joined via $HEAD_FQDN:6379 ($(since "$t"))"
  else fail "$layout: Ray worker did not start"; sed 's/^/   /' "$d/ray-worker.err"; fi

  t=$(now)
  rc=0
  bash "$H" exec "$ID" b --env-file "$d/head/tls/ray-tls.env" -- timeout 240 python "$DRIVER" \
    "$HEAD_IP" "$WORKER_IP" >"$d/driver.log" 2>&1 || rc=$?
  local result; result=$(driver_result "$d/driver.log")
  echo "   driver ($(since "$t"), exit $rc): $result"
  [ "$result" != '{}' ] || tail -n 20 "$d/driver.log" | sed 's/^/   driver: /'
  local alive task_ip on_node obj
  alive=$(json_field "$result" alive); task_ip=$(json_field "$result" task_ip)
  on_node=$(json_field "$result" task_on_worker_node); obj=$(json_field "$result" object_bytes)
  check "$layout: the cluster has 2 alive nodes ($alive)" test "$alive" = "$HEAD_IP,$WORKER_IP"
  check "$layout: a task pinned to the worker's node ran there and returned the worker's IP ($task_ip)" \
    test "$task_ip" = "$WORKER_IP" -a "$on_node" = True
  check "$layout: a 2 MB object made on the worker reached the driver on the head's host ($obj bytes)" \
    test "$obj" = $((2 * 1024 * 1024))
  # The signer decided the names from the TCP peer: its audit log has each pod's own address.
  check "$layout: the signer's audit log shows head issued to $HEAD_IP, worker to $WORKER_IP" \
    python3 - "$d/audit.jsonl" "$HEAD_IP" "$WORKER_IP" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
issued = {(l.get("role"), l.get("peer")) for l in lines if l.get("result") == "issued"}
sys.exit(0 if {("head", sys.argv[2]), ("worker", sys.argv[3])} <= issued else 1)
EOF
  # What Ray says when a certificate lacks a name it dials, or does not chain (RAY_TLS_NOTES).
  local lb=$T/rb/session_latest/logs lc=$T/rc/session_latest/logs
  local tls_errors='Peer name|not in peer certificate|No match found for server name|CERTIFICATE_VERIFY_FAILED|UNKNOWN_CA'
  if [ ! -f "$lb/gcs_server.out" ] || [ ! -f "$lc/raylet.out" ]; then
    fail "$layout: no Ray logs to read under $lb and $lc"
  elif grep -rqsE "$tls_errors" "$lb" "$lc"; then
    fail "$layout: Ray logs name a certificate problem"; grep -rhsE -m3 "$tls_errors" "$lb" "$lc" | sed 's/^/   /'
  else pass "$layout: no TLS name or verification error in the head's or the worker's Ray logs"; fi

  [ "$layout" = root ] && refusals "$d"

  # One cluster at a time: stop the worker, the head, the signer (TERM: ray stops its processes).
  [ -n "${wp:-}" ] && bash "$H" stop "$ID" "$wp" --grace 20 >/dev/null 2>&1 || true
  bash "$H" stop "$ID" "$hp" --grace 20 >/dev/null 2>&1 || true
  bash "$H" stop "$ID" "$sp" --grace 5 >/dev/null 2>&1 || true
  cp -r "$T/rb/session_latest/logs" "$d/ray-head-logs" 2>/dev/null || true
  cp -r "$T/rc/session_latest/logs" "$d/ray-worker-logs" 2>/dev/null || true
  rm -rf "$T/rb" "$T/rc"
}

# refusals DIR: against the live signer, from the worker's host, with the worker's token.
refusals() {
  local d=$1 code
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/rogue.key" \
    -subj /CN=rogue -out "$d/rogue.csr" 2>/dev/null
  python3 -c 'import json,sys; print(json.dumps({"role": "head", "csr": open(sys.argv[1]).read()}))' \
    "$d/rogue.csr" >"$d/rogue.json"
  code=$(on c curl -sS -o "$d/rogue.out" -w '%{http_code}' --max-time 10 --cacert "$d/worker/ca.crt" \
           -H "Authorization: Bearer $(head -1 "$d/worker/token")" -H 'Content-Type: application/json' \
           --data-binary @"$d/rogue.json" "$SIGNER_URL/v1/sign" 2>"$d/rogue.err" || true)
  check "refusal: worker token asking for role head -> HTTP $code $(cat "$d/rogue.out" 2>/dev/null)" \
    eval "[ '$code' = 403 ] && grep -q '\"error\":\"role_not_allowed\"' '$d/rogue.out'"
  local t rc=0; t=$(now)
  on c env POD_IP=$WORKER_IP "$RT" init head --signer "$SIGNER_URL" --signer-ca "$d/worker/ca.crt" \
    --token-file "$d/worker/token" --fqdn "$HEAD_FQDN" --out "$d/rogue-out" --wait 60s >"$d/rogue-init.log" 2>&1 || rc=$?
  local took; took=$(since "$t")
  check "refusal: raytls init head with the worker's token exits $rc after $took, not retried, writes no certificate: $(grep -m1 -i 403 "$d/rogue-init.log" || tail -1 "$d/rogue-init.log")" \
    eval "[ $rc != 0 ] && grep -q 403 '$d/rogue-init.log' && [ ! -e '$d/rogue-out/tls.crt' ] &&
      awk -v s='${took%s}' 'BEGIN { exit !(s < 10) }'"
  # The signer certifies the address it sees. A pod behind NAT or a proxy would get the wrong
  # one: init (POD_IP set) must refuse that certificate and write nothing.
  rc=0
  on c env POD_IP=10.79.0.99 "$RT" init worker --signer "$SIGNER_URL" --signer-ca "$d/worker/ca.crt" \
    --token-file "$d/worker/token" --out "$d/natted-out" --wait 10s >"$d/natted-init.log" 2>&1 || rc=$?
  check "refusal: a pod whose POD_IP (10.79.0.99) is not the address the signer sees exits $rc, writes no certificate: $(tail -1 "$d/natted-init.log")" \
    eval "[ $rc != 0 ] && grep -q 'not POD_IP 10.79.0.99' '$d/natted-init.log' && [ ! -e '$d/natted-out/tls.crt' ]"
}

T0=$(now)
run_case root
run_case intermediate
echo "signer-interop: total $(since "$T0")"
finish
