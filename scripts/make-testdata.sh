#!/usr/bin/env bash
# make-testdata.sh - regenerate testdata/ (the openssl-made fixtures of the inspect and
# verify tests) and testdata/README.md, which lists every file with the exact commands
# that made it (recorded as they run, so the README cannot drift from the script).
#
# Usage: scripts/make-testdata.sh [DIR]   (default: testdata/ next to this script)
# Needs OpenSSL 3.x. File names are fixed; keys, serials and dates change on every run.
# Everything is valid for ~10 years (CA 3660 days, leaves 3650 days, so no leaf outlives
# the CA) except expired.crt, whose validity is fixed in 2020-2021.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$ROOT/testdata}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$OUT"
# Scratch files (CSRs of the leaves, openssl ca's database) live outside testdata/.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

README=$OUT/README.md
cat >"$README" <<EOF
# testdata

Fixtures for \`tests/integration/inspect.rs\` and \`tests/integration/verify.rs\`, made with
$(openssl version | cut -d' ' -f1-2) by \`scripts/make-testdata.sh\`, which also writes this file: each
command below is recorded as the script runs it (\`\$TMP\` is a scratch directory the script
deletes). Regenerate everything with \`scripts/make-testdata.sh\`; the tests read only the
properties listed here, never the exact bytes, so regenerated files pass too.

All certificates are valid for ~10 years from generation (CA 3660 days, leaves 3650 days)
except \`expired.crt\`. Shapes that need dates openssl cannot easily make (not yet valid,
due for renewal, outliving the CA) and the other odd leaves (no EKU, CA used as a leaf,
a second CA with the same subject) are made with rcgen inside the tests, not here.

Shared SANs of the "good" leaves: DNS localhost, IP 127.0.0.1, IP 10.0.0.5,
DNS raycluster-head-svc.default.svc.cluster.local (a head pod at 10.0.0.5).
EOF

# file NAME... -- DESCRIPTION: start a README section for the files NAME...
file() {
  local names=() ; while [ "$1" != "--" ]; do names+=("\`$1\`"); shift; done; shift
  printf '\n## %s\n\n%s\n\n' "${names[*]}" "$*" >>"$README"
}
# run CMD...: record the command (paths under $OUT shown relative, $TMP by name), run it.
run() {
  local line
  line=$(printf '%q ' "$@")
  line=${line//"$TMP"/\$TMP}
  line=${line//"$OUT/"/}
  printf '    %s\n' "${line% }" >>"$README"
  "$@"
}
# shell TEXT: record and run a shell line (redirections, concatenation).
shell() {
  printf '    %s\n' "$1" >>"$README"
  bash -euo pipefail -c "cd '$OUT'; TMP='$TMP'; $1"
}

SANS='subjectAltName=DNS:localhost,IP:127.0.0.1,IP:10.0.0.5,DNS:raycluster-head-svc.default.svc.cluster.local'
LEAF_EXT="$SANS
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth"
printf '%s\n' "$LEAF_EXT" >"$TMP/leaf.ext"
printf '%s\n' "$SANS" 'basicConstraints=critical,CA:FALSE' \
  'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
  >"$TMP/serverauth.ext"
cat >>"$README" <<EOF

The leaves are signed with an extension file; \`\$TMP/leaf.ext\` is:

$(sed 's/^/    /' "$TMP/leaf.ext")

and \`\$TMP/serverauth.ext\` is the same with \`extendedKeyUsage=serverAuth\`.
EOF

# sign NAME KEY EXT [x509 options...]: a leaf NAME.crt for KEY, signed by the RSA CA.
sign() {
  local name=$1 key=$2 ext=$3; shift 3
  run openssl req -new -key "$key" -subj "/O=raytls testdata/CN=$name" -out "$TMP/$name.csr"
  run openssl x509 -req -in "$TMP/$name.csr" -CA ca-rsa.crt -CAkey ca-rsa.key \
    -CAcreateserial -CAserial "$TMP/ca.srl" -days 3650 -extfile "$ext" "$@" -out "$name.crt"
}

file ca-rsa.key ca-rsa.crt -- 'RSA 2048 CA: the key in PKCS#1 (`BEGIN RSA PRIVATE KEY`), a self-signed CA certificate (CA:TRUE, pathlen 0, keyCertSign+cRLSign, SHA-256).'
run openssl genrsa -traditional -out ca-rsa.key 2048
run openssl req -x509 -new -key ca-rsa.key -sha256 -days 3660 \
  -subj "/O=raytls testdata/CN=raytls testdata RSA CA" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca-rsa.crt

file leaf.key leaf.crt -- 'A good leaf under the RSA CA: EC P-256 key in SEC1 (`BEGIN EC PRIVATE KEY`, from `ecparam -genkey`), the shared SANs, EKU serverAuth+clientAuth, SHA-256. `raytls verify --ca ca-rsa.crt --cert leaf.crt --key leaf.key --role head --pod-ip 10.0.0.5 --fqdn raycluster-head-svc.default.svc.cluster.local` passes.'
run openssl ecparam -name prime256v1 -genkey -noout -out leaf.key
sign leaf leaf.key "$TMP/leaf.ext" -sha256

file leaf.pkcs8.key -- 'The key of leaf.crt again, as unencrypted PKCS#8 (`BEGIN PRIVATE KEY`).'
run openssl pkcs8 -topk8 -nocrypt -in leaf.key -out leaf.pkcs8.key

file bundle.crt -- 'A two-certificate bundle: leaf.crt then ca-rsa.crt.'
shell 'cat leaf.crt ca-rsa.crt > bundle.crt'

file leaf.der -- 'leaf.crt in DER: not PEM.'
run openssl x509 -in leaf.crt -outform DER -out leaf.der

file ed25519.key ed25519.crt -- 'An Ed25519 key (PKCS#8) and a leaf for it under the RSA CA (good SANs and EKU): Ray cannot use Ed25519.'
run openssl genpkey -algorithm ed25519 -out ed25519.key
sign ed25519 ed25519.key "$TMP/leaf.ext" -sha256

file sha1.key sha1.crt -- 'A leaf under the RSA CA signed with sha1WithRSAEncryption (good SANs and EKU, EC P-256 key in SEC1).'
run openssl ecparam -name prime256v1 -genkey -noout -out sha1.key
sign sha1 sha1.key "$TMP/leaf.ext" -sha1

file rsa1024.key rsa1024.crt -- 'An RSA 1024 leaf (key in PKCS#1) under the RSA CA, good SANs and EKU, SHA-256: too small for Ray.'
run openssl genrsa -traditional -out rsa1024.key 1024
sign rsa1024 rsa1024.key "$TMP/leaf.ext" -sha256

file serverauth.key serverauth.crt -- 'A leaf under the RSA CA with EKU serverAuth only (good SANs): Ray also uses it as a client.'
run openssl ecparam -name prime256v1 -genkey -noout -out serverauth.key
sign serverauth serverauth.key "$TMP/serverauth.ext" -sha256

file expired.key expired.crt -- 'A leaf under the RSA CA (good SANs and EKU) valid 2020-01-01 to 2021-01-01: expired. OpenSSL 3.0'"'"'s `x509 -req` cannot set dates, so `openssl ca` signs it with a throwaway config and database in $TMP.'
cat >"$TMP/ca.cnf" <<EOF
[ca]
default_ca = throwaway
[throwaway]
database = $TMP/index.txt
new_certs_dir = $TMP
serial = $TMP/ca-serial
default_md = sha256
policy = any
copy_extensions = none
[any]
organizationName = optional
commonName = supplied
[leaf]
$LEAF_EXT
EOF
: >"$TMP/index.txt"
echo 01 >"$TMP/ca-serial"
printf '`$TMP/ca.cnf` is:\n\n%s\n\n' "$(sed -e "s|$TMP|\$TMP|g" -e 's/^/    /' "$TMP/ca.cnf")" >>"$README"
printf '    %s\n' ': > $TMP/index.txt; echo 01 > $TMP/ca-serial' >>"$README"
run openssl ecparam -name prime256v1 -genkey -noout -out expired.key
run openssl req -new -key expired.key -subj "/O=raytls testdata/CN=expired" -out "$TMP/expired.csr"
run openssl ca -batch -config "$TMP/ca.cnf" -extensions leaf -cert ca-rsa.crt -keyfile ca-rsa.key \
  -startdate 20200101000000Z -enddate 20210101000000Z -notext -in "$TMP/expired.csr" -out expired.crt

file csr.pem -- 'A CSR (`BEGIN CERTIFICATE REQUEST`) for leaf.key: neither a certificate nor a key.'
run openssl req -new -key leaf.key -subj "/CN=a csr" -out csr.pem

file encrypted.key -- 'An encrypted PKCS#8 key (`BEGIN ENCRYPTED PRIVATE KEY`, AES-256, password `test`).'
run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes256 -pass pass:test -out encrypted.key

file not-pem.txt -- 'Plain text with no `-----BEGIN` line.'
shell "printf 'this is not a certificate\\n' > not-pem.txt"

# Throwaway test keys: git records 0644 anyway, so make a fresh run look like a checkout.
chmod 0644 ./*.key
echo "make-testdata.sh: wrote $(ls "$OUT" | wc -l) files to $OUT"
