// A private endpoint for one sub-resource (groupId) of a PaaS resource, registered in its private
// DNS zones through a zone group (Azure keeps the A records in step with the endpoint's addresses).
param location string
param name string
param subnetId string
param serviceId string
param groupId string
@description('Private DNS zones (names, in this resource group, linked to the VNet) the endpoint registers in.')
param dnsZoneNames array
param tags object

resource endpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: { id: subnetId }
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: serviceId
          groupIds: [groupId]
        }
      }
    ]
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [for (zoneName, i) in dnsZoneNames: {
      name: 'zone-${i}'
      properties: { privateDnsZoneId: resourceId('Microsoft.Network/privateDnsZones', zoneName) }
    }]
  }
}

output id string = endpoint.id
