# What the infra/k8s aks overlay needs (docs/deploy/aks.md); no secret is output.
output "resource_group" {
  description = "Resource group of the deployment."
  value       = azurerm_resource_group.main.name
}

output "aks_name" {
  description = "AKS cluster name (az aks get-credentials -g <resource_group> -n <aks_name>)."
  value       = azurerm_kubernetes_cluster.main.name
}

output "oidc_issuer_url" {
  description = "The cluster's OIDC issuer, which the federated credential trusts."
  value       = azurerm_kubernetes_cluster.main.oidc_issuer_url
}

output "gateway_client_id" {
  description = "Client id of the gateway's identity: azure.workload.identity/client-id in overlays/aks/workload-identity.yaml."
  value       = azurerm_user_assigned_identity.gateway.client_id
}

output "tenant_id" {
  description = "Tenant id: azure.workload.identity/tenant-id in overlays/aks/workload-identity.yaml."
  value       = data.azurerm_client_config.current.tenant_id
}

output "federated_subject" {
  description = "The service account the identity is federated with."
  value       = azurerm_federated_identity_credential.gateway.subject
}

output "dicom_service_url" {
  description = "AZURE_DICOM_URL of the overlay (add /v2/)."
  value       = local.create_dicom ? azurerm_healthcare_dicom_service.dicom[0].service_url : null
}

output "key_vault_name" {
  description = "Key Vault holding the secrets the orthanc-secrets Secret is made from."
  value       = azurerm_key_vault.main.name
}

output "redis_host_name" {
  description = "Azure Cache for Redis host (TLS on 6380, through the relay sidecar)."
  value       = azurerm_redis_cache.main.hostname
}

output "postgresql_fqdn" {
  description = "ORTHANC_POSTGRESQL_HOST (private DNS name; TLS required)."
  value       = azurerm_postgresql_flexible_server.main.fqdn
}

output "endpoints_subnet_prefix" {
  description = "Subnet of the private endpoints (ENDPOINTS_SUBNET of infra/terraform/k8s)."
  value       = var.endpoints_subnet_prefix
}

output "postgresql_subnet_prefix" {
  description = "Subnet of PostgreSQL (POSTGRESQL_SUBNET of infra/terraform/k8s)."
  value       = var.postgresql_subnet_prefix
}
