# Provider versions are pinned exactly: a plan reviewed today is the plan applied tomorrow.
terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "4.14.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.6.3"
    }
  }
}

provider "azurerm" {
  features {
    key_vault {
      # Purge protection is on: a deleted vault stays recoverable; never purge on destroy.
      purge_soft_delete_on_destroy = false
    }
  }
  subscription_id = var.subscription_id
}
