// dicomweb-oauth-gateway on Azure Container Apps: Orthanc + the gateway in a VNet, every PaaS behind
// a private endpoint (or, for PostgreSQL, in a delegated subnet), no client secret anywhere (the
// app's managed identity holds `DICOM Data Owner` on the DICOM service). docs/deploy/azure.md.
//
//   ./deploy.sh -g <resource-group> [-p main.parameters.json]     (what-if first, then create)
targetScope = 'resourceGroup'

@description('Azure region of every resource (the resource group\'s by default).')
param location string = resourceGroup().location

@description('Short lowercase prefix of every resource name.')
@minLength(3)
@maxLength(10)
param namePrefix string

@description('Registry of the gateway image; empty: the registry this template creates.')
param imageRegistry string = ''

@description('Repository of the gateway image (./scripts/image.sh builds it).')
param imageName string = 'dicomweb-oauth-gateway'

@description('Tag of the gateway image.')
param imageTag string

@description('Repository of the Redis TLS relay image (infra/azure/redis-tls/Containerfile).')
param redisTlsImageName string = 'dicomweb-oauth-redis-tls'

@description('Tag of the Redis TLS relay image.')
param redisTlsImageTag string

@description('Address space of the VNet and its three subnets.')
param vnetAddressPrefix string = '10.40.0.0/16'
param appsSubnetPrefix string = '10.40.0.0/23'
param endpointsSubnetPrefix string = '10.40.2.0/24'
param postgresqlSubnetPrefix string = '10.40.3.0/24'

@description('Ingress reachable from outside the VNet (through the environment\'s load balancer). Off: VNet only.')
param externalIngress bool = false

@description('Replicas: at least 2 (one token client for the fleet through the shared cache).')
@minValue(2)
param minReplicas int = 2
@maxValue(30)
param maxReplicas int = 6
@description('Concurrent HTTP requests per replica before scaling out.')
param concurrentRequests int = 50

@description('Use an existing DICOM service instead of creating a workspace and one: its workspace, service and resource group. Empty: create them.')
param existingDicomWorkspaceName string = ''
param existingDicomServiceName string = ''
param existingDicomResourceGroup string = resourceGroup().name

@description('Azure Cache for Redis tier and size (Standard C1: replicated, the smallest with an SLA).')
@allowed(['Basic', 'Standard', 'Premium'])
param redisSkuName string = 'Standard'
param redisCapacity int = 1

@description('PostgreSQL flexible server size.')
param postgresqlSkuName string = 'Standard_D2ds_v5'
@allowed(['Burstable', 'GeneralPurpose', 'MemoryOptimized'])
param postgresqlSkuTier string = 'GeneralPurpose'
param postgresqlStorageSizeGB int = 128
param postgresqlHighAvailability bool = true

@description('Log Analytics retention (days).')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 365

// Secrets: written to Key Vault when given (deploy.sh generates them on the first deployment);
// empty on later deployments, which leave the vault's values as they are.
@secure()
@description('PostgreSQL administrator password (first deployment or rotation only).')
param postgresqlPassword string = ''
@secure()
@description('Password of Orthanc\'s `admin` user (first deployment or rotation only).')
param orthancAdminPassword string = ''
@secure()
@description('AES-256 key sealing the tokens in Redis, 64 hex digits (first deployment or rotation only).')
param redisEncryptionKey string = ''
@secure()
@description('Audit HashKey: HMAC key of the patient pseudonyms (first deployment or rotation only).')
param auditHashKey string = ''
@secure()
@description('Audit ChainKey: HMAC key of the audit chain (first deployment only; rotating needs PreviousChainKey, docs/audit.md).')
param auditChainKey string = ''
@secure()
@description('Password of the probe user (confined by the gateway to the health routes); deploy.sh makes a new one every time.')
param probePassword string

param tags object = {
  application: 'dicomweb-oauth-gateway'
}

var suffix = uniqueString(resourceGroup().id)
var createDicom = empty(existingDicomServiceName)
var dicomWorkspaceName = createDicom ? take('${namePrefix}dicom${suffix}', 24) : existingDicomWorkspaceName
var dicomServiceName = createDicom ? 'dicom' : existingDicomServiceName
var dicomResourceGroup = createDicom ? resourceGroup().name : existingDicomResourceGroup
var registryName = take('${namePrefix}acr${suffix}', 50)
var keyVaultName = take('${namePrefix}-kv-${suffix}', 24)
var storageName = take('${namePrefix}st${suffix}', 24)
var auditShareName = 'audit'

// Built-in role definition ids (fixed, never looked up by name).
var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    location: location
    name: '${namePrefix}-vnet'
    addressPrefix: vnetAddressPrefix
    appsSubnetPrefix: appsSubnetPrefix
    endpointsSubnetPrefix: endpointsSubnetPrefix
    postgresqlSubnetPrefix: postgresqlSubnetPrefix
    tags: tags
  }
}

// One private DNS zone per private-link namespace, each linked to the VNet.
var endpointZones = [
  'privatelink.azurecr.io'
  'privatelink.vaultcore.azure.net'
  'privatelink.redis.cache.windows.net'
  'privatelink.file.core.windows.net'
  'privatelink.azurehealthcareapis.com'
  'privatelink.dicom.azurehealthcareapis.com'
]

module zones 'modules/private-dns-zone.bicep' = [for (zone, i) in endpointZones: {
  name: 'zone-${i}'
  params: {
    name: zone
    vnetId: network.outputs.vnetId
    tags: tags
  }
}]

module postgresqlZone 'modules/private-dns-zone.bicep' = {
  name: 'zone-postgresql'
  params: {
    name: '${namePrefix}.private.postgres.database.azure.com'
    vnetId: network.outputs.vnetId
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    name: '${namePrefix}-logs'
    retentionInDays: logRetentionDays
    tags: tags
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  params: {
    location: location
    name: registryName
    tags: tags
  }
}

module redis 'modules/redis.bicep' = {
  name: 'redis'
  params: {
    location: location
    name: '${namePrefix}-redis-${suffix}'
    skuName: redisSkuName
    capacity: redisCapacity
    tags: tags
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    name: keyVaultName
    tenantId: subscription().tenantId
    tags: tags
    redisName: redis.outputs.name
    postgresqlPassword: postgresqlPassword
    orthancAdminPassword: orthancAdminPassword
    probePassword: probePassword
    redisEncryptionKey: redisEncryptionKey
    auditHashKey: auditHashKey
    auditChainKey: auditChainKey
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    name: storageName
    shareName: auditShareName
    tags: tags
  }
}

module postgresql 'modules/postgresql.bicep' = {
  name: 'postgresql'
  params: {
    location: location
    name: '${namePrefix}-pg-${suffix}'
    subnetId: network.outputs.postgresqlSubnetId
    privateDnsZoneId: postgresqlZone.outputs.id
    administratorLogin: 'orthanc'
    administratorPassword: postgresqlPassword
    skuName: postgresqlSkuName
    skuTier: postgresqlSkuTier
    storageSizeGB: postgresqlStorageSizeGB
    highAvailability: postgresqlHighAvailability
    tags: tags
  }
}

module dicom 'modules/dicom.bicep' = if (createDicom) {
  name: 'dicom'
  params: {
    location: location
    workspaceName: dicomWorkspaceName
    dicomServiceName: dicomServiceName
    tags: tags
  }
}

// Private endpoints: registry, vault, Redis, the audit share, the DICOM workspace.
module registryEndpoint 'modules/private-endpoint.bicep' = {
  name: 'pe-registry'
  dependsOn: [zones]
  params: {
    location: location
    name: '${namePrefix}-pe-registry'
    subnetId: network.outputs.endpointsSubnetId
    serviceId: registry.outputs.id
    groupId: 'registry'
    dnsZoneNames: ['privatelink.azurecr.io']
    tags: tags
  }
}

module vaultEndpoint 'modules/private-endpoint.bicep' = {
  name: 'pe-vault'
  dependsOn: [zones]
  params: {
    location: location
    name: '${namePrefix}-pe-vault'
    subnetId: network.outputs.endpointsSubnetId
    serviceId: vault.outputs.id
    groupId: 'vault'
    dnsZoneNames: ['privatelink.vaultcore.azure.net']
    tags: tags
  }
}

module redisEndpoint 'modules/private-endpoint.bicep' = {
  name: 'pe-redis'
  dependsOn: [zones]
  params: {
    location: location
    name: '${namePrefix}-pe-redis'
    subnetId: network.outputs.endpointsSubnetId
    serviceId: redis.outputs.id
    groupId: 'redisCache'
    dnsZoneNames: ['privatelink.redis.cache.windows.net']
    tags: tags
  }
}

module storageEndpoint 'modules/private-endpoint.bicep' = {
  name: 'pe-file'
  dependsOn: [zones]
  params: {
    location: location
    name: '${namePrefix}-pe-file'
    subnetId: network.outputs.endpointsSubnetId
    serviceId: storage.outputs.id
    groupId: 'file'
    dnsZoneNames: ['privatelink.file.core.windows.net']
    tags: tags
  }
}

// An existing DICOM service keeps its own networking (give it a private endpoint in its network).
module dicomEndpoint 'modules/private-endpoint.bicep' = if (createDicom) {
  name: 'pe-dicom'
  dependsOn: [zones]
  params: {
    location: location
    name: '${namePrefix}-pe-dicom'
    subnetId: network.outputs.endpointsSubnetId
    serviceId: dicom.outputs.workspaceId
    groupId: 'healthcareworkspace'
    dnsZoneNames: ['privatelink.azurehealthcareapis.com', 'privatelink.dicom.azurehealthcareapis.com']
    tags: tags
  }
}

// The platform's identity: pulls the image, resolves the Key Vault references.
resource pullIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-pull'
  location: location
  tags: tags
}

resource registryRef 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource vaultRef 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource acrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registryRef.id, pullIdentity.id, acrPullRoleId)
  scope: registryRef
  dependsOn: [registry]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
    principalId: pullIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource vaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vaultRef.id, pullIdentity.id, keyVaultSecretsUserRoleId)
  scope: vaultRef
  dependsOn: [vault]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: pullIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

var registryServer = empty(imageRegistry) ? registry.outputs.loginServer : imageRegistry
var dicomServiceUrl = 'https://${dicomWorkspaceName}-${dicomServiceName}.dicom.azurehealthcareapis.com'

module app 'modules/containerapp.bicep' = {
  name: 'containerapp'
  dependsOn: [acrPull, vaultSecretsUser, registryEndpoint, vaultEndpoint, redisEndpoint, storageEndpoint, dicomEndpoint]
  params: {
    location: location
    environmentName: '${namePrefix}-env'
    appName: '${namePrefix}-orthanc'
    tags: tags
    subnetId: network.outputs.appsSubnetId
    logAnalyticsWorkspaceId: monitoring.outputs.id
    pullIdentityId: pullIdentity.id
    registryServer: registryServer
    image: '${registryServer}/${imageName}:${imageTag}'
    redisTlsImage: '${registryServer}/${redisTlsImageName}:${redisTlsImageTag}'
    keyVaultUri: vault.outputs.uri
    redisHostName: redis.outputs.hostName
    postgresqlHost: postgresql.outputs.fqdn
    dicomServiceUrl: dicomServiceUrl
    storageAccountName: storage.outputs.name
    auditShareName: auditShareName
    externalIngress: externalIngress
    minReplicas: minReplicas
    maxReplicas: maxReplicas
    concurrentRequests: concurrentRequests
    probePassword: probePassword
  }
}

// The environment is internal: its default domain resolves to its static IP inside the VNet.
module environmentZone 'modules/private-dns-zone.bicep' = {
  name: 'zone-environment'
  params: {
    name: app.outputs.environmentDefaultDomain
    vnetId: network.outputs.vnetId
    tags: tags
  }
}

module environmentRecords 'modules/environment-records.bicep' = {
  name: 'environment-records'
  dependsOn: [environmentZone]
  params: {
    zoneName: app.outputs.environmentDefaultDomain
    staticIp: app.outputs.environmentStaticIp
  }
}

module dicomRole 'modules/dicom-role.bicep' = {
  name: 'dicom-role'
  scope: resourceGroup(dicomResourceGroup)
  dependsOn: [dicom]
  params: {
    workspaceName: dicomWorkspaceName
    dicomServiceName: dicomServiceName
    principalId: app.outputs.principalId
  }
}

// What an operator needs next; no secret (the vault holds them, readable from inside the VNet).
output appFqdn string = app.outputs.appFqdn
output appPrincipalId string = app.outputs.principalId
output pullIdentityPrincipalId string = pullIdentity.properties.principalId
output registryLoginServer string = registry.outputs.loginServer
output keyVaultName string = vault.outputs.name
output dicomServiceUrl string = dicomServiceUrl
output postgresqlFqdn string = postgresql.outputs.fqdn
output redisHostName string = redis.outputs.hostName
output logAnalyticsWorkspaceName string = monitoring.outputs.name
output auditShare string = '${storage.outputs.name}/${auditShareName}'
