// Storage for the audit trail: an Azure Files share mounted into every replica, which writes its
// own chained file there (audit-<replica>.jsonl). No public network (private endpoint for `file`),
// TLS 1.2, encrypted at rest, zone-redundant. Container Apps mounts SMB shares with the account
// key, so shared-key access stays on; the key goes from listKeys() straight into the environment's
// storage definition, never through a parameter or an output.
param location string
param name string
param shareName string
param tags object

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_ZRS' }
  properties: {
    publicNetworkAccess: 'Disabled'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    networkAcls: {
      bypass: 'None'
      defaultAction: 'Deny'
    }
  }
}

resource files 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    shareDeleteRetentionPolicy: {
      enabled: true
      days: 30
    }
  }
}

resource share 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = {
  parent: files
  name: shareName
  properties: {
    shareQuota: 100
    enabledProtocols: 'SMB'
  }
}

output id string = account.id
output name string = account.name
