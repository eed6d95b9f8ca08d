#!/usr/bin/env bash
# Deploys infra/azure/main.bicep into a resource group: `az deployment group what-if` first, then,
# after confirmation (or with --yes), `az deployment group create` with the same inputs.
#
#   ./deploy.sh -g <resource-group> [-p main.parameters.json] [--yes]
#
# Secrets: none is ever written to disk or printed. On the first deployment (no vault of this
# template in the group yet) the long-lived ones are generated here (openssl) and go straight into
# Key Vault through the deployment. Later deployments pass none, so the vault keeps its values;
# to rotate one, export it before running (DWGW_POSTGRESQL_PASSWORD, DWGW_ORTHANC_ADMIN_PASSWORD,
# DWGW_REDIS_ENCRYPTION_KEY, DWGW_AUDIT_HASH_KEY; a new audit chain key needs PreviousChainKey,
# docs/audit.md). The probe user's password is new at every deployment (it opens only the health
# routes, and Container Apps probes carry it in the app's definition).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
group='' params="$here/main.parameters.json" yes=0
while (($#)); do
  case $1 in
    -g|--resource-group) group=$2; shift 2 ;;
    -p|--parameters) params=$2; shift 2 ;;
    --yes) yes=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "AZD-001: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n $group ]] || { echo "AZD-001: -g <resource-group> is required" >&2; exit 2; }
command -v az >/dev/null || { echo "AZD-002: the Azure CLI (az) is not installed" >&2; exit 2; }
command -v openssl >/dev/null || { echo "AZD-002: openssl is not installed" >&2; exit 2; }

password() { openssl rand -base64 30 | tr -d '/+=\n'; }
hexkey() { openssl rand -hex 32; }

existing=$(az keyvault list -g "$group" --query "[?tags.application=='dicomweb-oauth-gateway'] | length(@)" -o tsv)
secrets=()
if [[ $existing == 0 ]]; then
  echo "== first deployment in $group: generating the secrets (kept only in Key Vault)"
  secrets+=("postgresqlPassword=${DWGW_POSTGRESQL_PASSWORD:-$(password)}"
            "orthancAdminPassword=${DWGW_ORTHANC_ADMIN_PASSWORD:-$(password)}"
            "redisEncryptionKey=${DWGW_REDIS_ENCRYPTION_KEY:-$(hexkey)}"
            "auditHashKey=${DWGW_AUDIT_HASH_KEY:-$(hexkey)}"
            "auditChainKey=$(hexkey)")
else
  [[ -n ${DWGW_POSTGRESQL_PASSWORD:-} ]] && secrets+=("postgresqlPassword=$DWGW_POSTGRESQL_PASSWORD")
  [[ -n ${DWGW_ORTHANC_ADMIN_PASSWORD:-} ]] && secrets+=("orthancAdminPassword=$DWGW_ORTHANC_ADMIN_PASSWORD")
  [[ -n ${DWGW_REDIS_ENCRYPTION_KEY:-} ]] && secrets+=("redisEncryptionKey=$DWGW_REDIS_ENCRYPTION_KEY")
  [[ -n ${DWGW_AUDIT_HASH_KEY:-} ]] && secrets+=("auditHashKey=$DWGW_AUDIT_HASH_KEY")
fi
secrets+=("probePassword=$(password)")

# The values go to az through a private parameters file (0600, removed on exit), not through the
# command line, where other users of the machine could read them (ps).
umask 077
secret_file=$(mktemp)
trap 'rm -f "$secret_file"' EXIT
python3 - "$secret_file" "${secrets[@]}" <<'PY'
import json, sys
out = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
       "contentVersion": "1.0.0.0", "parameters": {}}
for arg in sys.argv[2:]:
    name, value = arg.split("=", 1)
    out["parameters"][name] = {"value": value}
json.dump(out, open(sys.argv[1], "w"))
PY

args=(--resource-group "$group" --template-file "$here/main.bicep"
      --parameters "@$params" --parameters "@$secret_file")
echo "== az deployment group what-if"
az deployment group what-if "${args[@]}"
if ((yes == 0)); then
  read -r -p "Deploy these changes to $group? [y/N] " answer
  [[ $answer == [yY]* ]] || { echo "not deployed"; exit 1; }
fi
echo "== az deployment group create"
az deployment group create --name dicomweb-oauth-gateway "${args[@]}" \
  --query properties.outputs -o json
