// Key Vault for the deployment's secrets: Azure RBAC (no access policies), purge protection, no
// public network. The app reads the secrets as Container Apps Key Vault references with its pull
// identity (Key Vault Secrets User), never as values in the template.
//
// Secrets given as parameters are written only when a value is given: the first deployment writes
// them (deploy.sh generates them), later deployments leave them as they are unless the operator
// passes a new value (a rotation). The Redis access key is read from the cache itself.
param location string
param name string
param tenantId string
param tags object
@secure()
param postgresqlPassword string
@secure()
param orthancAdminPassword string
@secure()
param probePassword string
@secure()
param redisEncryptionKey string
@secure()
param auditHashKey string
@secure()
param auditChainKey string
param redisName string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enablePurgeProtection: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    publicNetworkAccess: 'Disabled'
    networkAcls: {
      bypass: 'None'
      defaultAction: 'Deny'
    }
  }
}

resource redis 'Microsoft.Cache/redis@2024-03-01' existing = {
  name: redisName
}

// The gateway's RedisUrl carries the password in the URL's user-info: %-encoded here because an
// access key is base64 ('+', '/', '=').
resource redisPassword 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'redis-password'
  properties: {
    value: uriComponent(redis.listKeys().primaryKey)
    contentType: 'Azure Cache for Redis access key, %-encoded for a redis:// URL'
  }
}

resource probeSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'probe-password'
  properties: { value: probePassword }
}

resource postgresqlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(postgresqlPassword)) {
  parent: vault
  name: 'postgresql-password'
  properties: { value: postgresqlPassword }
}

resource adminSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(orthancAdminPassword)) {
  parent: vault
  name: 'orthanc-admin-password'
  properties: { value: orthancAdminPassword }
}

resource redisKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(redisEncryptionKey)) {
  parent: vault
  name: 'redis-encryption-key'
  properties: { value: redisEncryptionKey }
}

resource hashKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(auditHashKey)) {
  parent: vault
  name: 'audit-hash-key'
  properties: { value: auditHashKey }
}

resource chainKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(auditChainKey)) {
  parent: vault
  name: 'audit-chain-key'
  properties: { value: auditChainKey }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
