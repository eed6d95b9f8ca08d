#!/usr/bin/env python3
"""deployment.env for infra/terraform/k8s from `terraform output -json` (stdin): no secret is among them."""
import json
import sys

out = {k: v["value"] for k, v in json.load(sys.stdin).items()}
if not out.get("dicom_service_url"):
    sys.exit("TFK-001: no dicom_service_url output (existing DICOM service: write AZURE_DICOM_URL yourself)")
values = {
    "GATEWAY_CLIENT_ID": out["gateway_client_id"],
    "TENANT_ID": out["tenant_id"],
    "AZURE_DICOM_URL": out["dicom_service_url"].rstrip("/") + "/v2/",
    "POSTGRESQL_FQDN": out["postgresql_fqdn"],
    "REDIS_HOST": out["redis_host_name"],
    "ENDPOINTS_SUBNET": out["endpoints_subnet_prefix"],
    "POSTGRESQL_SUBNET": out["postgresql_subnet_prefix"],
}
for key, value in values.items():
    print(f"{key}={value}")
