# kube-objects.sh - Kubernetes objects the kube tests and benches make, sourced (needs kubectl
# with KUBECONFIG set).

# suspended_raycluster NS NAME: a RayCluster with spec.suspend: true (the KubeRay operator makes
# no pods for it; the caller makes Pod objects owned by it); prints its UID.
suspended_raycluster() {
  kubectl -n "$1" apply -f - >/dev/null <<EOF_RC
apiVersion: ray.io/v1
kind: RayCluster
metadata: {name: $2}
spec:
  suspend: true
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers: [{name: ray-head, image: rayproject/ray:2.52.0}]
EOF_RC
  kubectl -n "$1" get raycluster "$2" -o jsonpath='{.metadata.uid}'
}
