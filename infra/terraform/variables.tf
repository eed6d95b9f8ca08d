variable "subscription_id" {
  description = "Azure subscription to deploy into."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.subscription_id))
    error_message = "subscription_id must be a GUID."
  }
}

variable "location" {
  description = "Azure region of every resource."
  type        = string
  default     = "westeurope"
}

variable "name_prefix" {
  description = "Short lowercase prefix of every resource name (3 to 10 letters or digits)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,9}$", var.name_prefix))
    error_message = "name_prefix must be 3 to 10 lowercase letters or digits, starting with a letter."
  }
}

variable "vnet_address_space" {
  description = "Address space of the VNet; the subnets below must lie inside it."
  type        = string
  default     = "10.42.0.0/16"
  validation {
    condition     = can(cidrhost(var.vnet_address_space, 0))
    error_message = "vnet_address_space must be a CIDR block."
  }
}

variable "aks_subnet_prefix" {
  description = "Subnet of the AKS nodes."
  type        = string
  default     = "10.42.0.0/22"
  validation {
    condition     = can(cidrhost(var.aks_subnet_prefix, 0))
    error_message = "aks_subnet_prefix must be a CIDR block."
  }
}

variable "endpoints_subnet_prefix" {
  description = "Subnet of the private endpoints (Key Vault, Redis, DICOM workspace)."
  type        = string
  default     = "10.42.4.0/24"
  validation {
    condition     = can(cidrhost(var.endpoints_subnet_prefix, 0))
    error_message = "endpoints_subnet_prefix must be a CIDR block."
  }
}

variable "postgresql_subnet_prefix" {
  description = "Subnet delegated to the PostgreSQL flexible server."
  type        = string
  default     = "10.42.5.0/24"
  validation {
    condition     = can(cidrhost(var.postgresql_subnet_prefix, 0))
    error_message = "postgresql_subnet_prefix must be a CIDR block."
  }
}

variable "kubernetes_version" {
  description = "AKS Kubernetes version (null: the region's default)."
  type        = string
  default     = null
}

variable "private_cluster" {
  description = "API server reachable only from the VNet (run kubectl from inside it, or through `az aks command invoke`)."
  type        = bool
  default     = true
}

variable "node_vm_size" {
  description = "VM size of the AKS nodes."
  type        = string
  default     = "Standard_D4ds_v5"
}

variable "node_count" {
  description = "Nodes of the system pool (2 replicas of the gateway spread over them)."
  type        = number
  default     = 3
  validation {
    condition     = var.node_count >= 2 && var.node_count <= 100
    error_message = "node_count must be between 2 and 100."
  }
}

variable "kubernetes_namespace" {
  description = "Namespace the infra/k8s aks overlay is applied to (the federated credential names it)."
  type        = string
  default     = "dicomweb-oauth"
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.kubernetes_namespace))
    error_message = "kubernetes_namespace must be a DNS label."
  }
}

variable "kubernetes_service_account" {
  description = "The gateway's service account in infra/k8s (base/orthanc.yaml)."
  type        = string
  default     = "orthanc"
}

variable "existing_dicom_service_id" {
  description = "Resource id of an existing DICOM service to use instead of creating a workspace and one (empty: create)."
  type        = string
  default     = ""
  validation {
    condition     = var.existing_dicom_service_id == "" || can(regex("(?i)/providers/Microsoft.HealthcareApis/workspaces/[^/]+/dicomservices/[^/]+$", var.existing_dicom_service_id))
    error_message = "existing_dicom_service_id must be empty or the id of a Microsoft.HealthcareApis/workspaces/dicomservices resource."
  }
}

variable "redis_sku" {
  description = "Azure Cache for Redis tier: Basic, Standard or Premium."
  type        = string
  default     = "Standard"
  validation {
    condition     = contains(["Basic", "Standard", "Premium"], var.redis_sku)
    error_message = "redis_sku must be Basic, Standard or Premium."
  }
}

variable "redis_capacity" {
  description = "Azure Cache for Redis size (0..6 for Basic/Standard, 1..5 for Premium)."
  type        = number
  default     = 1
  validation {
    condition     = var.redis_capacity >= 0 && var.redis_capacity <= 6
    error_message = "redis_capacity must be between 0 and 6."
  }
}

variable "postgresql_sku" {
  description = "PostgreSQL flexible server SKU (tier prefix B_, GP_ or MO_)."
  type        = string
  default     = "GP_Standard_D2ds_v5"
  validation {
    condition     = can(regex("^(B|GP|MO)_", var.postgresql_sku))
    error_message = "postgresql_sku must start with B_, GP_ or MO_."
  }
}

variable "postgresql_storage_mb" {
  description = "PostgreSQL storage in MB (Orthanc's index and DICOM files)."
  type        = number
  default     = 131072
  validation {
    condition     = var.postgresql_storage_mb >= 32768
    error_message = "postgresql_storage_mb must be at least 32768."
  }
}

variable "log_retention_days" {
  description = "Log Analytics retention for the cluster's and the gateway's logs (days)."
  type        = number
  default     = 365
  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730
    error_message = "log_retention_days must be between 30 and 730."
  }
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = { application = "dicomweb-oauth-gateway" }
}
