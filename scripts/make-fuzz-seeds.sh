#!/usr/bin/env bash
# make-fuzz-seeds.sh - regenerate fuzz/seeds/<target>/, the small committed seed corpora of
# the cargo-fuzz targets (fuzz/README.md). Seeds start from testdata/ (scripts/make-testdata.sh)
# plus shapes testdata has no need for (P-384 and P-521, RSA PKCS#8, RSA-PSS, Ed448, secp256k1,
# a key after EC PARAMETERS, a certificate with many kinds of extension), made here with
# openssl, and hand-written netrc files, URIs, durations, gRPC replies and sign requests.
#
# Usage: scripts/make-fuzz-seeds.sh   (needs OpenSSL 3.x; keys change on every run)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TD=$ROOT/testdata
S=$ROOT/fuzz/seeds
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Keep the inputs that once crashed a target (crash-*): they are regression seeds.
find "$S" -type f ! -name 'crash-*' -delete 2>/dev/null || true
mkdir -p "$S"/{keys_pem,keys_der,certs_pem,cert_der,inspect,grpc_reply,netrc,uri_lint,duration,signer_request}

# --- openssl extras (in $TMP) --------------------------------------------------------------
q() { "$@" 2>/dev/null; }
q openssl ecparam -name secp384r1 -genkey -noout -out "$TMP/p384.sec1.key"
q openssl pkcs8 -topk8 -nocrypt -in "$TMP/p384.sec1.key" -out "$TMP/p384.pkcs8.key"
q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out "$TMP/p521.key"
q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/rsa.pkcs8.key"
q openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -out "$TMP/rsapss.key"
q openssl genpkey -algorithm ed448 -out "$TMP/ed448.key"
q openssl ecparam -name secp256k1 -genkey -noout -out "$TMP/k256.key"
q openssl ecparam -name prime256v1 -genkey -out "$TMP/params-then-key.key"   # EC PARAMETERS + key
q openssl ecparam -name prime256v1 -genkey -noout -param_enc explicit -out "$TMP/explicit.key"
cat >"$TMP/many.ext" <<'EXT'
subjectAltName=DNS:a.example,DNS:*.b.example,IP:10.0.0.5,IP:::1,email:a@b.example,URI:spiffe://ray/head,otherName:1.2.3.4;UTF8:x
basicConstraints=critical,CA:TRUE,pathlen:3
keyUsage=critical,digitalSignature,keyCertSign,cRLSign,keyAgreement,encipherOnly
extendedKeyUsage=serverAuth,clientAuth,codeSigning,1.2.3.4.5
nameConstraints=permitted;DNS:example,excluded;IP:192.168.0.0/255.255.0.0
authorityInfoAccess=OCSP;URI:http://ocsp.example,caIssuers;URI:http://ca.example/ca.crt
crlDistributionPoints=URI:http://crl.example/ca.crl
certificatePolicies=1.2.3.4,2.5.29.32.0
subjectKeyIdentifier=hash
EXT
q openssl req -x509 -new -key "$TMP/p384.sec1.key" -sha384 -days 30 \
  -subj "/C=US/O=raytls fuzz/OU=a+OU=b/CN=many extensions" -extensions v3 \
  -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n[v3]\n'; cat "$TMP/many.ext") -out "$TMP/many.crt"
q openssl req -x509 -new -key "$TMP/ed448.key" -days 30 -subj "/CN=ed448" -out "$TMP/ed448.crt"
q openssl req -x509 -new -key "$TMP/rsapss.key" -days 30 -subj "/CN=rsa-pss" -out "$TMP/rsapss.crt"
q openssl req -x509 -new -key "$TMP/p521.key" -sha512 -days 30 -subj "/CN=p521" -out "$TMP/p521.crt"

KEYS=("$TD"/{ca-rsa,leaf,leaf.pkcs8,ed25519,encrypted,rsa1024}.key "$TMP"/{p384.sec1,p384.pkcs8,p521,rsa.pkcs8,rsapss,ed448,k256,params-then-key,explicit}.key)
CERTS=("$TD"/{ca-rsa,leaf,ed25519,expired,rsa1024,sha1,serverauth}.crt "$TMP"/{many,ed448,rsapss,p521}.crt)

# --- keys_pem, certs_pem, inspect: whole files -----------------------------------------------
for f in "${KEYS[@]}"; do cp "$f" "$S/keys_pem/$(basename "$f")"; done
cp "$TD/csr.pem" "$TD/not-pem.txt" "$S/keys_pem/"
for f in "${CERTS[@]}" "$TD/bundle.crt" "$TD/csr.pem" "$TD/not-pem.txt"; do
  cp "$f" "$S/certs_pem/$(basename "$f")"
done
cp "$TD"/{leaf.crt,bundle.crt,leaf.key,rsa1024.key,ed25519.key,csr.pem,leaf.der,encrypted.key} "$S/inspect/"
cat "$TD/ca-rsa.crt" "$TD/ca-rsa.key" >"$S/inspect/ca-with-key.pem"        # one combined file
# A NUL splits an inspect input into two files: certificate, then its key.
for pair in leaf:leaf rsa1024:rsa1024 ed25519:ed25519; do
  { cat "$TD/${pair%%:*}.crt"; printf '\0'; cat "$TD/${pair##*:}.key"; } >"$S/inspect/${pair%%:*}-pair"
done

# --- keys_der: first byte picks the label (0 RSA PRIVATE KEY, 1 EC PRIVATE KEY, 2 PRIVATE KEY)
for f in "${KEYS[@]}"; do
  label=$(sed -n 's/^-----BEGIN \(.*\)-----$/\1/p' "$f" | tail -1)
  case $label in
    "RSA PRIVATE KEY") pick='\000' ;; "EC PRIVATE KEY") pick='\001' ;; "PRIVATE KEY") pick='\002' ;;
    *) continue ;;   # encrypted keys hold no plain DER
  esac
  body=$(awk -v l="$label" '$0=="-----BEGIN " l "-----"{on=1;next} $0=="-----END " l "-----"{on=0} on' "$f")
  { printf "$pick"; printf '%s' "$body" | base64 -d; } >"$S/keys_der/$(basename "$f" .key).der"
done

# --- cert_der: DER of each certificate ----------------------------------------------------------
for f in "${CERTS[@]}"; do openssl x509 -in "$f" -outform DER -out "$S/cert_der/$(basename "$f" .crt).der"; done

# --- grpc_reply: protobuf bytes as a GCS sends them ---------------------------------------------
# GetClusterIdReply { status { code 0 }, cluster_id: 28 bytes }
printf '\x0a\x00\x12\x1c0123456789abcdef0123456789ab' >"$S/grpc_reply/cluster-id"
# GetClusterIdReply { status { code 5, message "not found" } }
printf '\x0a\x0d\x08\x05\x12\x09not found' >"$S/grpc_reply/status-not-found"
# InternalKvGetReply { status {}, value: CLUSTER_METADATA JSON }
json='{"ray_version": "2.60.0", "python_version": "3.11.9"}'
{ printf '\x0a\x00\x12'; printf "\\x$(printf %02x ${#json})"; printf '%s' "$json"; } >"$S/grpc_reply/kv-metadata"
# HealthCheckResponse { status: SERVING }; a negative int32 (10-byte varint); an unknown field
printf '\x08\x01' >"$S/grpc_reply/serving"
printf '\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01' >"$S/grpc_reply/negative-status"
printf '\x0a\x02\x08\x00\x1a\x03abc\x25\x01\x02\x03\x04' >"$S/grpc_reply/unknown-fields"

# --- netrc ---------------------------------------------------------------------------------------
printf '# creds\nmachine github.com\n  login alice\n  password s3cret\n\nmachine b.example login bob password "two words" account acct\n' >"$S/netrc/two-machines"
printf 'machine a.example login u password p\ndefault login anonymous password guest\n' >"$S/netrc/default-last"
printf 'macdef init\ncd /pub\nget file\n\nmachine fuzz.example.com login old password older\n' >"$S/netrc/macdef-then-ours"
printf 'machine fuzz.example.com login a password b\nmachine fuzz.example.com login c password d\n' >"$S/netrc/duplicate-ours"
printf 'machine "quoted host" login "a\\"b" password "p w"\n' >"$S/netrc/quoted"
printf 'machine https://h.example/x login u password p\nmachine h.example:8443 login u@h password p\n' >"$S/netrc/bad-names"
printf 'user u\npass p\nmachine\n' >"$S/netrc/malformed"
printf 'machine a login u password "unterminated\n' >"$S/netrc/unterminated-quote"

# --- uri_lint ------------------------------------------------------------------------------------
printf 'https://alice:s3cret@github.com/org/repo/archive/main.zip' >"$S/uri_lint/user-password"
printf 'https://ghp_abcdefghijklmnop1234@github.com/o/r.zip' >"$S/uri_lint/token-user"
printf 'https://b.s3.amazonaws.com/x.zip?X-Amz-Algorithm=AWS4&X-Amz-Signature=ff&X%%2DAmz-Credential=k' >"$S/uri_lint/sigv4"
printf 'https://acct.blob.core.windows.net/c/x.zip?sv=2022&sig=abc#frag' >"$S/uri_lint/sas-fragment"
printf 'https://[::1]:8443/x.zip?token=&ref=main' >"$S/uri_lint/ipv6-empty-token"
printf 's3://bucket/pkg.zip' >"$S/uri_lint/s3"
printf './local_dir' >"$S/uri_lint/relative"
printf 'https://u:p@ss@h/%%zz?%%4' >"$S/uri_lint/odd-escapes"

# --- duration ------------------------------------------------------------------------------------
for d in 500ms 5s 1.5s 2m 1h 30d 7 " 10 min " 1e999d 0.000001ms 18446744073709551615s 1..2s; do
  printf '%s' "$d" >"$S/duration/$(printf '%s' "$d" | tr -c 'A-Za-z0-9.' '_')"
done

# --- signer_request: POST /v1/sign bodies with openssl-made CSRs --------------------------------
q openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=w -out "$TMP/p256.csr"
q openssl req -new -newkey rsa:2048 -nodes -keyout /dev/null -subj /CN=r \
    -addext subjectAltName=DNS:x-head-svc.ray.svc.cluster.local,IP:10.9.9.9 -out "$TMP/rsa-sans.csr"
q openssl req -new -newkey ed25519 -nodes -keyout /dev/null -subj /CN=e -out "$TMP/ed25519.csr"
body() { python3 -c 'import json,sys; d={"role":sys.argv[1],"csr":open(sys.argv[2]).read()}; d.update({"fqdn":sys.argv[3:]} if len(sys.argv)>3 else {}); print(json.dumps(d),end="")' "$@"; }
body worker "$TMP/p256.csr" >"$S/signer_request/worker.json"
body head "$TMP/p256.csr" x-head-svc.ray.svc.cluster.local >"$S/signer_request/head-fqdn.json"
body worker "$TMP/rsa-sans.csr" >"$S/signer_request/rsa-with-sans.json"
body client "$TMP/ed25519.csr" >"$S/signer_request/ed25519.json"

for d in "$S"/*/; do printf '%-12s %3d files\n' "$(basename "$d")" "$(ls "$d" | wc -l)"; done
