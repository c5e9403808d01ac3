#!/usr/bin/env bash
# make deploy: installs (or upgrades) kennel — the PetSet CRD, RBAC and the
# controller Deployment of deploy/ — into the cluster of the current
# KUBECONFIG, with server-side apply, then waits until every CRD is
# Established and every Deployment has rolled out. Running it again upgrades
# in place; existing PetSets are kept.
#
# Environment:
#   KUBECTL                kubectl to use (default: kubectl on PATH)
#   KENNEL_DEPLOY_DIR      kustomization to apply (default: deploy/)
#   KENNEL_DEPLOY_TIMEOUT  how long to wait for each object (default: 5m)
#   KENNEL_APPLY_FLAGS     extra flags for kubectl apply (e.g. --force-conflicts)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

kubectl=${KUBECTL:-kubectl}
dir=${KENNEL_DEPLOY_DIR:-$KENNEL_ROOT/deploy}
timeout=${KENNEL_DEPLOY_TIMEOUT:-5m}
case $timeout in
  *m) timeout_seconds=$((${timeout%m} * 60)) ;;
  *s) timeout_seconds=${timeout%s} ;;
  *) log "KENNEL_DEPLOY_TIMEOUT must look like 5m or 300s, not $timeout"; exit 1 ;;
esac

command -v "$kubectl" >/dev/null || { log "no $kubectl on PATH (set KUBECTL)"; exit 1; }
[ -f "$dir/kustomization.yaml" ] || { log "no kustomization.yaml in $dir"; exit 1; }

log "applying $dir to $("$kubectl" config current-context 2>/dev/null || echo "the cluster of \$KUBECONFIG")"
# One line per applied object: kind namespace name. kubectl prints the
# applied objects as a List (or one object alone).
line='{{.kind}} {{or .metadata.namespace "-"}} {{.metadata.name}}{{"\n"}}'
# shellcheck disable=SC2086
applied=$("$kubectl" apply --server-side --field-manager=kennel-deploy ${KENNEL_APPLY_FLAGS:-} -k "$dir" \
  -o go-template="{{if .items}}{{range .items}}$line{{end}}{{else}}$line{{end}}")
printf '%s\n' "$applied" | sed 's/^/    /' >&2

while read -r kind ns name; do
  [ "$kind" = CustomResourceDefinition ] || continue
  log "waiting for CRD $name to be Established"
  # `kubectl wait --for=condition=...` fails outright on a CRD whose status
  # has no conditions yet (right after creation), so poll the condition.
  deadline=$((SECONDS + timeout_seconds))
  until [ "$("$kubectl" get "crd/$name" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}')" = True ]; do
    [ $SECONDS -lt $deadline ] || { log "CRD $name not Established after $timeout"; exit 1; }
    sleep 1
  done
done <<<"$applied"

while read -r kind ns name; do
  [ "$kind" = Deployment ] || continue
  log "waiting for Deployment $ns/$name to roll out"
  "$kubectl" -n "$ns" rollout status --timeout="$timeout" "deployment/$name" >&2
done <<<"$applied"
log "kennel deployed"
