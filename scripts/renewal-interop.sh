#!/usr/bin/env bash
# renewal-interop.sh - certificate renewal on a running two-node REAL Ray (2.60 by default)
# cluster, each party on its own host (../shared/harness/netns_hosts.sh):
#
#   host a 10.81.0.1  the signer: `raytls serve --max-days head=1,worker=3m` (the head lives
#                     long, workers briefly: the Ray-aware policy, in minutes instead of days)
#   host b 10.81.0.2  the Ray head, `raytls init head --signer`
#   host c 10.81.0.3  a Ray worker, `raytls init worker --signer`, raylet on a fixed
#                     --node-manager-port; its native sidecar's job: `raytls renew --watch`
#
# The timeline a pod goes through, one PASS/FAIL line per step:
#   1. the head's certificate lives a day, the worker's 3 minutes (the signer's per-role max);
#   2. Ray starts; `health-check --expect-cert` (the liveness probe) passes on the worker's
#      raylet port and on the head's GCS port, from each pod's own host over 127.0.0.1;
#   3. `renew --watch --renew-before 150s` renews the worker's pair on disk while Ray runs,
#      through the signer, authenticated by the certificate it replaces (audit: client_cert);
#      one log line per pass; the new pair matches and keeps the worker's names;
#   4. the probe now fails with cause stale_certificate, naming both fingerprints and expiry
#      dates (Ray still serves the certificate it loaded at start);
#   5. restarting the worker's Ray (what the kubelet does after the probe fails) loads the new
#      pair: the probe passes again, the GCS has both nodes alive, and a task pinned to the
#      worker runs there, before the old certificate would have expired;
#   6. the head was never touched: its probe still passes;
#   7. without a restart (no liveness probe): the sidecar renews again, Ray keeps serving the
#      certificate it loaded until that expires; the probe fails (stale_certificate), and what
#      the cluster does past the expiry is reported (the GCS's view of the worker, and whether
#      a new driver can still run a task there).
# Prints "renewal-interop: N passed, M failed"; exits 1 on any failure, 2 on a setup error.
# Needs root (ip netns), iproute2, curl, openssl, python3 with venv (the harness makes the Ray
# venv on first use). Takes ~2-3 min on 2 cores once the venv exists.
# Env: RENEWAL_INTEROP_KEEP=1 keeps the work dir (certificates, logs); RAYTLS_BIN,
#      RAYTLS_HARNESS_DIR, RAY_PIP_SPEC, RAY_TLS_VENV: see scripts/lib/hosts.sh.
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/p;}' "${BASH_SOURCE[0]}"; exit 0;; esac
NAME=renewal-interop KEEP_VAR=RENEWAL_INTEROP_KEEP
. "$(dirname "${BASH_SOURCE[0]}")/lib/hosts.sh"

SIGNER_IP=10.81.0.1 HEAD_IP=10.81.0.2 WORKER_IP=10.81.0.3
SIGNER_NAME=raytls-signer.test
SIGNER_URL=https://$SIGNER_NAME:8443
HEAD_FQDN=raycluster-renewal-head-svc.ray.svc.cluster.local
NM_PORT=43001   # the worker's raylet (node manager), fixed so a liveness probe can find it
hosts_up --host a=$SIGNER_IP --host b=$HEAD_IP --host c=$WORKER_IP \
  --hosts-entry "$SIGNER_NAME=$SIGNER_IP" --hosts-entry "$HEAD_FQDN=$HEAD_IP"
echo "== hosts $ID: signer a=$SIGNER_IP, head b=$HEAD_IP, worker c=$WORKER_IP (work dir $T)"

d=$T
mkdir -p "$d/signer" "$d/head" "$d/worker"
"$RT" ca create --out "$d/signer/ca" --name "renewal-interop CA" >/dev/null
"$RT" token generate --out "$d/signer/head.token" >/dev/null
"$RT" token generate --out "$d/signer/worker.token" >/dev/null
for p in head worker; do
  install -m 0644 "$d/signer/ca/ca.crt" "$d/$p/ca.crt"
  install -m 0600 "$d/signer/$p.token" "$d/$p/token"
done
sp=$(bash "$H" spawn "$ID" a --log "$d/signer.log" -- "$RT" serve --ca "$d/signer/ca" \
      --listen "$SIGNER_IP:8443" --token "head=$d/signer/head.token" --token "worker=$d/signer/worker.token" \
      --head-name "$HEAD_FQDN" --san "$SIGNER_NAME" --max-days head=1,worker=3m --audit-log "$d/audit.jsonl")
up=0
for _ in $(seq 100); do
  if on b curl -sf --max-time 2 --cacert "$d/head/ca.crt" "$SIGNER_URL/healthz" >/dev/null 2>&1; then up=1; break; fi
  sleep 0.2
done
[ $up = 1 ] || { sed 's/^/   signer: /' "$d/signer.log"; echo "$NAME: the signer did not come up" >&2; exit 2; }

# 1. The pods' first certificates.
on b env POD_IP=$HEAD_IP "$RT" init head --signer "$SIGNER_URL" --signer-ca "$d/head/ca.crt" \
  --token-file "$d/head/token" --fqdn "$HEAD_FQDN" --out "$d/head/tls" --wait 30s >"$d/head-init.log"
on c env POD_IP=$WORKER_IP "$RT" init worker --signer "$SIGNER_URL" --signer-ca "$d/worker/ca.crt" \
  --token-file "$d/worker/token" --out "$d/worker/tls" --wait 30s >"$d/worker-init.log"
T_ISSUED=$(now)
left() { echo $(( $(date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s) )); }
head_left=$(left "$d/head/tls/tls.crt") worker_left=$(left "$d/worker/tls/tls.crt")
check "1. the signer's per-role policy: the head's certificate lives a day (${head_left}s left), the worker's 3 minutes (${worker_left}s left)" \
  eval "[ $head_left -gt 86000 ] && [ $head_left -le 86400 ] && [ $worker_left -gt 160 ] && [ $worker_left -le 180 ]"
old_serial=$(serial_of "$d/worker/tls/tls.crt")

# 2. Ray, and the liveness probe each Ray container would run.
t=$(now)
hp=$(bash "$H" ray-start "$ID" b --temp-dir "$T/rb" --log "$d/ray-head.log" --wait 120 \
      --env-file "$d/head/tls/ray-tls.env" -- --head --node-ip-address=$HEAD_IP --port=6379 \
      --include-dashboard=false 2>"$d/ray-head.err") || { sed 's/^/   /' "$d/ray-head.err"; exit 2; }
worker_start() {  # worker_start TEMPDIR: the worker's Ray, joined through the head's name
  bash "$H" ray-start "$ID" c --temp-dir "$1" --log "$d/ray-worker.log" --wait 120 \
    --env-file "$d/worker/tls/ray-tls.env" -- --address=$HEAD_FQDN:6379 --node-ip-address=$WORKER_IP \
    --node-manager-port=$NM_PORT 2>"$d/ray-worker.err"
}
wp=$(worker_start "$T/rc") || { sed 's/^/   /' "$d/ray-worker.err"; exit 2; }
echo "   Ray head and worker up in $(since "$t")"
# probe HOST PORT CERT: the liveness probe, from the pod's own host, as one JSON line
probe() {
  local envf=$d/head/tls/ray-tls.env; [ "$1" = c ] && envf=$d/worker/tls/ray-tls.env
  bash "$H" exec "$ID" "$1" --env-file "$envf" -- "$RT" health-check --address "127.0.0.1:$2" \
    --expect-cert "$3" --timeout 5s --json
}
rc=0; out=$(probe c $NM_PORT "$d/worker/tls/tls.crt") || rc=$?
check "2. the worker's probe on its raylet (127.0.0.1:$NM_PORT) passes (exit $rc)" test $rc = 0
rc=0; out=$(probe b 6379 "$d/head/tls/tls.crt") || rc=$?
check "2. the head's probe on its GCS (127.0.0.1:6379) passes (exit $rc)" test $rc = 0

# 3. The sidecar renews on disk while Ray runs.
t=$(now)
rp=$(bash "$H" spawn "$ID" c --log "$d/renew.log" -- "$RT" renew --dir "$d/worker/tls" \
      --signer "$SIGNER_URL" --signer-ca "$d/worker/ca.crt" --renew-before 150s --watch)
renewed=0
for _ in $(seq 120); do
  grep -q ' renewed worker certificate ' "$d/renew.log" 2>/dev/null && { renewed=1; break; }
  sleep 1
done
sed 's/^/   sidecar: /' "$d/renew.log"
new_serial=$(serial_of "$d/worker/tls/tls.crt")
check "3. renew --watch renewed the worker's pair $(since "$T_ISSUED") after it was issued ($(since "$t") after the sidecar started): serial $old_serial -> $new_serial" \
  eval "[ $renewed = 1 ] && [ -n '$new_serial' ] && [ '$new_serial' != '$old_serial' ]"
check "3. the sidecar logged one line per pass (RFC 3339 time, renewed/kept, next check)" \
  eval "[ \$(grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z (renewed|kept) worker certificate .*; next check in ([0-9]+h)?([0-9]+m)?[0-9]+[sm]$' '$d/renew.log') = 0 ]"
check "3. the renewal authenticated with the certificate it replaced (audit: client_cert from $WORKER_IP)" \
  python3 - "$d/audit.jsonl" "$WORKER_IP" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if any(l.get("auth") == "client_cert" and l.get("peer") == sys.argv[2] and
                  l.get("result") == "issued" for l in lines) else 1)
EOF
check "3. the renewed pair matches, keeps the worker's names ($(sans_of "$d/worker/tls/tls.crt")) and verifies" \
  eval "on c '$RT' verify --dir '$d/worker/tls' --renew-before 1s --pod-ip $WORKER_IP >'$d/verify.log'"

# 4. Ray still runs on the certificate it loaded: the probe says so.
rc=0; out=$(probe c $NM_PORT "$d/worker/tls/tls.crt") || rc=$?
echo "   probe: $(json_field "$out" message)"
cause=$(json_field "$out" cause)
fps=$(json_field "$out" message | grep -oiE '[0-9a-f]{2}(:[0-9a-f]{2}){31}|[0-9a-f]{64}' | sort -u | wc -l)
check "4. the worker's probe now fails with $cause (exit $rc), naming $fps fingerprints and both expiry times" \
  test "$rc" = 1 -a "$cause" = stale_certificate -a "$fps" = 2

# 5. What the kubelet does after the probe fails: restart the Ray container.
t=$(now)
bash "$H" stop "$ID" "$wp" --grace 30 >/dev/null 2>&1 || true
wp=$(worker_start "$T/rc2") || { sed 's/^/   /' "$d/ray-worker.err"; fail "5. the worker's Ray did not restart"; }
echo "   worker's Ray restarted in $(since "$t")"
rc=0; out=$(probe c $NM_PORT "$d/worker/tls/tls.crt") || rc=$?
check "5. after the restart the worker's probe passes again (exit $rc): Ray loaded the renewed pair" test $rc = 0
t=$(now); rc=0
bash "$H" exec "$ID" b --env-file "$d/head/tls/ray-tls.env" -- timeout 240 python "$DRIVER" \
  "$HEAD_IP" "$WORKER_IP" >"$d/driver.log" 2>&1 || rc=$?
result=$(driver_result "$d/driver.log")
echo "   driver ($(since "$t"), exit $rc): $result"
[ "$result" != '{}' ] || tail -n 20 "$d/driver.log" | sed 's/^/   driver: /'
check "5. the GCS has the head and the restarted worker alive ($(json_field "$result" alive)); dead: $(json_field "$result" dead)" \
  test "$(json_field "$result" alive)" = "$HEAD_IP,$WORKER_IP"
check "5. a task pinned to the worker ran there ($(json_field "$result" task_ip)) and its 2 MB object reached the head's host" \
  test "$(json_field "$result" task_ip)" = "$WORKER_IP" -a "$(json_field "$result" task_on_worker_node)" = True \
    -a "$(json_field "$result" object_bytes)" = $((2 * 1024 * 1024))
worker_left=$(left "$d/worker/tls/tls.crt")
echo "   the renewed certificate has ${worker_left}s left; the whole cycle took $(since "$T_ISSUED")"

# 6. The head: never renewed, never restarted.
rc=0; out=$(probe b 6379 "$d/head/tls/tls.crt") || rc=$?
check "6. the head's probe still passes (exit $rc): its day-long certificate was left alone" test $rc = 0
# The head's planned restart: its sidecar (renew --check-served) tells when one is due.
head_renew() {
  on b "$RT" renew --dir "$d/head/tls" --signer "$SIGNER_URL" --signer-ca "$d/head/ca.crt" \
    --check-served 127.0.0.1:6379 "$@"
}
out=$(head_renew 2>&1) || true
check "6. the head's sidecar pass says the GCS serves the certificate on disk: $(tail -1 <<<"$out")" \
  grep -q '^Ray at 127.0.0.1:6379 serves it$' <<<"$out"
out=$(head_renew --force 2>&1) || true
check "6. after a forced renewal of the head on disk the same pass says RESTART DUE (the real GCS serves the previous certificate)" \
  grep -q '^RESTART DUE: 127.0.0.1:6379 serves another certificate' <<<"$out"

# 7. What happens without the probe: nobody restarts the worker's Ray.
loaded_end=$(date -d "$(openssl x509 -in "$d/worker/tls/tls.crt" -noout -enddate | cut -d= -f2)" +%s)
loaded_serial=$(serial_of "$d/worker/tls/tls.crt")
echo "   waiting for the certificate Ray loaded ($loaded_serial) to expire, $((loaded_end - $(date +%s)))s from now, and 20s more"
while [ "$(date +%s)" -lt $((loaded_end + 20)) ]; do sleep 5; done
rc=0; out=$(probe c $NM_PORT "$d/worker/tls/tls.crt") || rc=$?
echo "   probe: $(json_field "$out" message)"
check "7. past its expiry, the probe fails on the worker's raylet with $(json_field "$out" cause) (exit $rc); the sidecar has renewed on disk ($(serial_of "$d/worker/tls/tls.crt"))" \
  test "$rc" = 1 -a "$(serial_of "$d/worker/tls/tls.crt")" != "$loaded_serial"
t=$(now); rc=0
bash "$H" exec "$ID" b --env-file "$d/head/tls/ray-tls.env" -- timeout 120 python "$DRIVER" \
  "$HEAD_IP" "$WORKER_IP" 30 >"$d/driver-expired.log" 2>&1 || rc=$?
result=$(driver_result "$d/driver-expired.log")
echo "   real Ray with an expired certificate loaded on the worker ($(since "$t"), exit $rc): $result"
grep -rhsoE 'CERTIFICATE_VERIFY_FAILED|certificate has expired|CERTIFICATE_EXPIRED|certificate expired' "$T/rb/session_latest/logs" "$T/rc2/session_latest/logs" |
  sort | uniq -c | sed 's/^/   Ray logs: /' || true

bash "$H" stop "$ID" "$rp" --grace 5 >/dev/null 2>&1 || true
bash "$H" stop "$ID" "$wp" --grace 20 >/dev/null 2>&1 || true
bash "$H" stop "$ID" "$hp" --grace 20 >/dev/null 2>&1 || true
bash "$H" stop "$ID" "$sp" --grace 5 >/dev/null 2>&1 || true
cp -r "$T/rb/session_latest/logs" "$d/ray-head-logs" 2>/dev/null || true
finish
