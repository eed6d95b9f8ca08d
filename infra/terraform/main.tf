# dicomweb-oauth-gateway on AKS: the cluster (OIDC issuer + Microsoft Entra Workload ID), the
# gateway's user-assigned identity federated with its Kubernetes service account and holding
# `DICOM Data Owner` on the DICOM service, Key Vault, Azure Cache for Redis and PostgreSQL, all
# without public network access. The workload itself is infra/k8s/overlays/aks (docs/deploy/aks.md).

data "azurerm_client_config" "current" {}

locals {
  suffix       = substr(sha1("${var.subscription_id}/${var.name_prefix}"), 0, 8)
  create_dicom = var.existing_dicom_service_id == ""
  dicom_id     = local.create_dicom ? azurerm_healthcare_dicom_service.dicom[0].id : var.existing_dicom_service_id
  # Built-in role definition ids (fixed, never looked up by name).
  role_dicom_data_owner       = "58a3b984-7adf-4c20-983a-32417c86fbc8"
  role_key_vault_secrets_user = "4633458b-17de-408a-b874-0445c86b69e6"
  role_key_vault_officer      = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
  private_dns_zones = {
    vault      = "privatelink.vaultcore.azure.net"
    redis      = "privatelink.redis.cache.windows.net"
    healthcare = "privatelink.azurehealthcareapis.com"
    dicom      = "privatelink.dicom.azurehealthcareapis.com"
  }
}

resource "azurerm_resource_group" "main" {
  name     = "${var.name_prefix}-rg"
  location = var.location
  tags     = var.tags
}

# --- network ---------------------------------------------------------------------------------

resource "azurerm_virtual_network" "main" {
  name                = "${var.name_prefix}-vnet"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  address_space       = [var.vnet_address_space]
  tags                = var.tags
}

resource "azurerm_subnet" "aks" {
  name                 = "aks"
  resource_group_name  = azurerm_resource_group.main.name
  virtual_network_name = azurerm_virtual_network.main.name
  address_prefixes     = [var.aks_subnet_prefix]
}

resource "azurerm_subnet" "endpoints" {
  name                              = "private-endpoints"
  resource_group_name               = azurerm_resource_group.main.name
  virtual_network_name              = azurerm_virtual_network.main.name
  address_prefixes                  = [var.endpoints_subnet_prefix]
  private_endpoint_network_policies = "Enabled"
}

resource "azurerm_subnet" "postgresql" {
  name                 = "postgresql"
  resource_group_name  = azurerm_resource_group.main.name
  virtual_network_name = azurerm_virtual_network.main.name
  address_prefixes     = [var.postgresql_subnet_prefix]
  delegation {
    name = "postgresql-flexible"
    service_delegation {
      name    = "Microsoft.DBforPostgreSQL/flexibleServers"
      actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    }
  }
}

resource "azurerm_network_security_group" "endpoints" {
  name                = "${var.name_prefix}-endpoints-nsg"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = var.tags

  security_rule {
    name                       = "allow-aks-to-endpoints"
    priority                   = 100
    direction                  = "Inbound"
    access                     = "Allow"
    protocol                   = "Tcp"
    source_address_prefix      = var.aks_subnet_prefix
    source_port_range          = "*"
    destination_address_prefix = var.endpoints_subnet_prefix
    destination_port_ranges    = ["443", "6380"]
  }

  security_rule {
    name                       = "deny-vnet-inbound"
    priority                   = 4000
    direction                  = "Inbound"
    access                     = "Deny"
    protocol                   = "*"
    source_address_prefix      = "VirtualNetwork"
    source_port_range          = "*"
    destination_address_prefix = "*"
    destination_port_range     = "*"
  }
}

resource "azurerm_network_security_group" "postgresql" {
  name                = "${var.name_prefix}-postgresql-nsg"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = var.tags

  security_rule {
    name                       = "allow-aks-to-postgresql"
    priority                   = 100
    direction                  = "Inbound"
    access                     = "Allow"
    protocol                   = "Tcp"
    source_address_prefix      = var.aks_subnet_prefix
    source_port_range          = "*"
    destination_address_prefix = var.postgresql_subnet_prefix
    destination_port_range     = "5432"
  }

  security_rule {
    name                       = "deny-vnet-inbound"
    priority                   = 4000
    direction                  = "Inbound"
    access                     = "Deny"
    protocol                   = "*"
    source_address_prefix      = "VirtualNetwork"
    source_port_range          = "*"
    destination_address_prefix = "*"
    destination_port_range     = "*"
  }
}

resource "azurerm_subnet_network_security_group_association" "endpoints" {
  subnet_id                 = azurerm_subnet.endpoints.id
  network_security_group_id = azurerm_network_security_group.endpoints.id
}

resource "azurerm_subnet_network_security_group_association" "postgresql" {
  subnet_id                 = azurerm_subnet.postgresql.id
  network_security_group_id = azurerm_network_security_group.postgresql.id
}

resource "azurerm_private_dns_zone" "endpoints" {
  for_each            = local.private_dns_zones
  name                = each.value
  resource_group_name = azurerm_resource_group.main.name
  tags                = var.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "endpoints" {
  for_each              = local.private_dns_zones
  name                  = "vnet-link"
  resource_group_name   = azurerm_resource_group.main.name
  private_dns_zone_name = azurerm_private_dns_zone.endpoints[each.key].name
  virtual_network_id    = azurerm_virtual_network.main.id
  registration_enabled  = false
  tags                  = var.tags
}

# --- AKS with workload identity --------------------------------------------------------------

resource "azurerm_log_analytics_workspace" "main" {
  name                = "${var.name_prefix}-logs"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = var.tags
}

resource "azurerm_kubernetes_cluster" "main" {
  name                              = "${var.name_prefix}-aks"
  location                          = azurerm_resource_group.main.location
  resource_group_name               = azurerm_resource_group.main.name
  dns_prefix                        = var.name_prefix
  kubernetes_version                = var.kubernetes_version
  private_cluster_enabled           = var.private_cluster
  oidc_issuer_enabled               = true
  workload_identity_enabled         = true
  local_account_disabled            = true
  role_based_access_control_enabled = true
  sku_tier                          = "Standard"
  tags                              = var.tags

  azure_active_directory_role_based_access_control {
    azure_rbac_enabled = true
    tenant_id          = data.azurerm_client_config.current.tenant_id
  }

  default_node_pool {
    name                         = "system"
    vm_size                      = var.node_vm_size
    node_count                   = var.node_count
    vnet_subnet_id               = azurerm_subnet.aks.id
    zones                        = ["1", "2", "3"]
    only_critical_addons_enabled = false
    upgrade_settings {
      max_surge = "33%"
    }
  }

  identity {
    type = "SystemAssigned"
  }

  # Azure CNI overlay with Cilium: the NetworkPolicies of infra/k8s are enforced.
  network_profile {
    network_plugin      = "azure"
    network_plugin_mode = "overlay"
    network_data_plane  = "cilium"
    network_policy      = "cilium"
  }

  oms_agent {
    log_analytics_workspace_id      = azurerm_log_analytics_workspace.main.id
    msi_auth_for_monitoring_enabled = true
  }
}

# The gateway's identity: the pods' service account is federated with it (no secret anywhere).
resource "azurerm_user_assigned_identity" "gateway" {
  name                = "${var.name_prefix}-gateway"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = var.tags
}

resource "azurerm_federated_identity_credential" "gateway" {
  name                = "kubernetes-${var.kubernetes_namespace}-${var.kubernetes_service_account}"
  resource_group_name = azurerm_resource_group.main.name
  parent_id           = azurerm_user_assigned_identity.gateway.id
  issuer              = azurerm_kubernetes_cluster.main.oidc_issuer_url
  subject             = "system:serviceaccount:${var.kubernetes_namespace}:${var.kubernetes_service_account}"
  audience            = ["api://AzureADTokenExchange"]
}

# --- the DICOM service -----------------------------------------------------------------------

# azurerm has no public-access switch on the workspace itself (Bicep sets it, infra/azure); the DICOM
# service's own switch below governs its data plane.
resource "azurerm_healthcare_workspace" "main" {
  count               = local.create_dicom ? 1 : 0
  name                = "${var.name_prefix}dicom${local.suffix}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = var.tags
}

resource "azurerm_healthcare_dicom_service" "dicom" {
  count                         = local.create_dicom ? 1 : 0
  name                          = "dicom"
  workspace_id                  = azurerm_healthcare_workspace.main[0].id
  location                      = azurerm_resource_group.main.location
  public_network_access_enabled = false
  tags                          = var.tags
}

resource "azurerm_private_endpoint" "dicom" {
  count               = local.create_dicom ? 1 : 0
  name                = "${var.name_prefix}-pe-dicom"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.endpoints.id
  tags                = var.tags

  private_service_connection {
    name                           = "dicom"
    private_connection_resource_id = azurerm_healthcare_workspace.main[0].id
    subresource_names              = ["healthcareworkspace"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name = "default"
    private_dns_zone_ids = [
      azurerm_private_dns_zone.endpoints["healthcare"].id,
      azurerm_private_dns_zone.endpoints["dicom"].id,
    ]
  }
}

# `DICOM Data Owner` on the DICOM service itself, for the gateway's identity.
resource "azurerm_role_assignment" "gateway_dicom" {
  scope                            = local.dicom_id
  role_definition_id               = "/subscriptions/${var.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/${local.role_dicom_data_owner}"
  principal_id                     = azurerm_user_assigned_identity.gateway.principal_id
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}

# --- Key Vault and the secrets ---------------------------------------------------------------

resource "azurerm_key_vault" "main" {
  name                          = "${var.name_prefix}-kv-${local.suffix}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "standard"
  enable_rbac_authorization     = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = 90
  public_network_access_enabled = false
  tags                          = var.tags

  network_acls {
    bypass         = "None"
    default_action = "Deny"
  }
}

resource "azurerm_private_endpoint" "vault" {
  name                = "${var.name_prefix}-pe-vault"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.endpoints.id
  tags                = var.tags

  private_service_connection {
    name                           = "vault"
    private_connection_resource_id = azurerm_key_vault.main.id
    subresource_names              = ["vault"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "default"
    private_dns_zone_ids = [azurerm_private_dns_zone.endpoints["vault"].id]
  }
}

# Whoever applies writes the secrets (from inside the VNet: the vault has no public endpoint);
# the gateway's identity reads them (Secrets Store CSI driver, or `keyvault:` references).
resource "azurerm_role_assignment" "deployer_vault" {
  scope              = azurerm_key_vault.main.id
  role_definition_id = "/subscriptions/${var.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/${local.role_key_vault_officer}"
  principal_id       = data.azurerm_client_config.current.object_id
}

resource "azurerm_role_assignment" "gateway_vault" {
  scope                            = azurerm_key_vault.main.id
  role_definition_id               = "/subscriptions/${var.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/${local.role_key_vault_secrets_user}"
  principal_id                     = azurerm_user_assigned_identity.gateway.principal_id
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}

resource "random_password" "postgresql" {
  length  = 32
  special = false
}

resource "random_password" "orthanc_admin" {
  length  = 32
  special = false
}

resource "random_password" "probe" {
  length  = 32
  special = false
}

resource "random_bytes" "redis_encryption_key" {
  length = 32
}

resource "random_bytes" "audit_hash_key" {
  length = 32
}

resource "random_bytes" "audit_chain_key" {
  length = 32
}

# The keys of the orthanc-secrets Secret the infra/k8s base expects (plus redis-password and the
# audit keys), so that it can be made from the vault (docs/deploy/aks.md). The Redis access key is
# %-encoded: it goes into a redis:// URL and base64 has '/', '+', '='.
locals {
  vault_secrets = {
    "postgresql-password" = random_password.postgresql.result
    "admin-password"      = random_password.orthanc_admin.result
    "probe-password"      = random_password.probe.result
    "redis-key"           = random_bytes.redis_encryption_key.hex
    "redis-password"      = urlencode(azurerm_redis_cache.main.primary_access_key)
    "audit-hash-key"      = random_bytes.audit_hash_key.hex
    "audit-chain-key"     = random_bytes.audit_chain_key.hex
  }
}

resource "azurerm_key_vault_secret" "main" {
  for_each     = nonsensitive(toset(keys(local.vault_secrets)))
  name         = each.key
  value        = local.vault_secrets[each.key]
  key_vault_id = azurerm_key_vault.main.id
  depends_on   = [azurerm_role_assignment.deployer_vault, azurerm_private_endpoint.vault]
}

# --- Redis (TLS only) and PostgreSQL (private access) ----------------------------------------

resource "azurerm_redis_cache" "main" {
  name                          = "${var.name_prefix}-redis-${local.suffix}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  sku_name                      = var.redis_sku
  family                        = var.redis_sku == "Premium" ? "P" : "C"
  capacity                      = var.redis_capacity
  non_ssl_port_enabled          = false
  minimum_tls_version           = "1.2"
  public_network_access_enabled = false
  redis_version                 = "6"
  tags                          = var.tags

  redis_configuration {
    maxmemory_policy = "volatile-lru"
  }
}

resource "azurerm_private_endpoint" "redis" {
  name                = "${var.name_prefix}-pe-redis"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.endpoints.id
  tags                = var.tags

  private_service_connection {
    name                           = "redis"
    private_connection_resource_id = azurerm_redis_cache.main.id
    subresource_names              = ["redisCache"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "default"
    private_dns_zone_ids = [azurerm_private_dns_zone.endpoints["redis"].id]
  }
}

resource "azurerm_private_dns_zone" "postgresql" {
  name                = "${var.name_prefix}.private.postgres.database.azure.com"
  resource_group_name = azurerm_resource_group.main.name
  tags                = var.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "postgresql" {
  name                  = "vnet-link"
  resource_group_name   = azurerm_resource_group.main.name
  private_dns_zone_name = azurerm_private_dns_zone.postgresql.name
  virtual_network_id    = azurerm_virtual_network.main.id
  registration_enabled  = false
  tags                  = var.tags
}

resource "azurerm_postgresql_flexible_server" "main" {
  name                          = "${var.name_prefix}-pg-${local.suffix}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  version                       = "15"
  sku_name                      = var.postgresql_sku
  storage_mb                    = var.postgresql_storage_mb
  auto_grow_enabled             = true
  backup_retention_days         = 35
  delegated_subnet_id           = azurerm_subnet.postgresql.id
  private_dns_zone_id           = azurerm_private_dns_zone.postgresql.id
  public_network_access_enabled = false
  administrator_login           = "orthanc"
  administrator_password        = random_password.postgresql.result
  zone                          = "1"
  tags                          = var.tags

  high_availability {
    mode = "ZoneRedundant"
  }

  depends_on = [azurerm_private_dns_zone_virtual_network_link.postgresql]
}

resource "azurerm_postgresql_flexible_server_database" "orthanc" {
  name      = "orthanc"
  server_id = azurerm_postgresql_flexible_server.main.id
  charset   = "UTF8"
  collation = "en_US.utf8"
}
