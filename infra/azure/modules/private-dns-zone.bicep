// A private DNS zone linked to the VNet, so that the service's public name resolves to its private
// endpoint (or, for PostgreSQL and the Container Apps environment, to their private addresses).
param name string
param vnetId string
param tags object

resource zone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: name
  location: 'global'
  tags: tags
}

resource link 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: zone
  name: 'vnet-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: { id: vnetId }
  }
}

output id string = zone.id
