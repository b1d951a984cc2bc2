# scripts/lib/kube-pki.sh - the control plane's PKI and kubeconfigs, made with openssl (sourced by
# kube.sh). kube_pki DIR makes, once (kept across up/down so kubeconfigs stay valid):
#   ca.{crt,key}          the cluster CA (also --client-ca-file and kube-root-ca.crt)
#   apiserver.{crt,key}   serving cert: 127.0.0.1, the Service IP 10.96.0.1, localhost,
#                         kubernetes, kubernetes.default, kubernetes.default.svc(.cluster.local)
#   admin.{crt,key}       CN=raytls-admin, O=system:masters
#   kcm.{crt,key}         CN=system:kube-controller-manager
#   scheduler.{crt,key}   CN=system:kube-scheduler
#   node.{crt,key}        CN=system:node:raytls-node, O=system:nodes (the node agent)
#   front-proxy-ca.{crt,key}, front-proxy-client.{crt,key}   the aggregation layer's proxy
#   sa.{key,pub}          service-account token signing key pair
# Private keys are 0600 (umask 077 while they are written).

# _pki_leaf DIR NAME SUBJ EXT: a key and a cert for NAME signed by DIR/ca, with extension text EXT
_pki_leaf() {
  local d=$1 n=$2 subj=$3 ext=$4
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/$n.key" \
    -subj "$subj" -out "$d/$n.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$d/$n.ext"
  openssl x509 -req -in "$d/$n.csr" -CA "$d/${CA:-ca}.crt" -CAkey "$d/${CA:-ca}.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$d/$n.ext" -out "$d/$n.crt" 2>/dev/null
  rm -f "$d/$n.csr" "$d/$n.ext"
}

kube_pki() {
  local d=$1 client='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth'
  [ -f "$d/.complete" ] && return 0
  rm -rf "$d" && mkdir -p "$d"
  (
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" \
      -subj "/CN=raytls-kube-ca" -days 3650 -sha256 -out "$d/ca.crt" \
      -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
    _pki_leaf "$d" apiserver "/CN=kube-apiserver" 'basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local'
    _pki_leaf "$d" admin "/O=system:masters/CN=raytls-admin" "$client"
    _pki_leaf "$d" kcm "/CN=system:kube-controller-manager" "$client"
    _pki_leaf "$d" scheduler "/CN=system:kube-scheduler" "$client"
    _pki_leaf "$d" node "/O=system:nodes/CN=system:node:raytls-node" "$client"
    # the aggregation layer's front proxy: its own CA (--requestheader-client-ca-file), so that no
    # cluster-CA client cert can pose as the proxy
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/front-proxy-ca.key" \
      -subj "/CN=raytls-kube-front-proxy-ca" -days 3650 -sha256 -out "$d/front-proxy-ca.crt" \
      -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
    CA=front-proxy-ca _pki_leaf "$d" front-proxy-client "/CN=front-proxy-client" "$client"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/sa.key" 2>/dev/null
    openssl pkey -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  ) || { echo "kube: making the PKI in $d failed" >&2; return 1; }
  touch "$d/.complete"
}

# kube_kubeconfig FILE SERVER CA USER_CERT USER_KEY: a kubeconfig with embedded credentials
kube_kubeconfig() {
  local f=$1 server=$2 ca=$3 crt=$4 key=$5
  (
    umask 077
    cat >"$f.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: raytls
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$ca")
users:
- name: user
  user:
    client-certificate-data: $(base64 -w0 "$crt")
    client-key-data: $(base64 -w0 "$key")
contexts:
- name: raytls
  context: {cluster: raytls, user: user}
current-context: raytls
EOF
    mv "$f.tmp" "$f"
  )
}
