// Azure Container Registry for the gateway's image (and the Redis TLS relay's). Premium: the only
// tier with private endpoints. No admin user, no anonymous pull, no public network: the app's
// pull identity (AcrPull) pulls through the private endpoint.
param location string
param name string
param tags object

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Premium' }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Disabled'
    networkRuleBypassOptions: 'None'
    zoneRedundancy: 'Disabled'
  }
}

output id string = registry.id
output name string = registry.name
output loginServer string = registry.properties.loginServer
