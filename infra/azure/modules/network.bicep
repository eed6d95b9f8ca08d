// The VNet: one subnet for the Container Apps environment (delegated to Microsoft.App/environments,
// workload-profiles environment), one for private endpoints, one delegated to PostgreSQL flexible
// server. Each subnet has its NSG; private endpoints honour NSGs (privateEndpointNetworkPolicies).
param location string
param name string
param addressPrefix string
param appsSubnetPrefix string
param endpointsSubnetPrefix string
param postgresqlSubnetPrefix string
param tags object

resource appsNsg 'Microsoft.Network/networkSecurityGroups@2023-11-01' = {
  name: '${name}-apps-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        // The environment is internal: clients reach the app from inside the VNet (or peered
        // networks) only. Azure's default rules already refuse the Internet; this says so.
        name: 'deny-internet-inbound'
        properties: {
          priority: 4000
          direction: 'Inbound'
          access: 'Deny'
          protocol: '*'
          sourceAddressPrefix: 'Internet'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '*'
        }
      }
    ]
  }
}

resource endpointsNsg 'Microsoft.Network/networkSecurityGroups@2023-11-01' = {
  name: '${name}-endpoints-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        // Only the app's subnet talks to the private endpoints: HTTPS (registry, vault, DICOM),
        // Redis over TLS (6380), SMB (445, the audit share).
        name: 'allow-apps-to-endpoints'
        properties: {
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: appsSubnetPrefix
          sourcePortRange: '*'
          destinationAddressPrefix: endpointsSubnetPrefix
          destinationPortRanges: ['443', '445', '6380']
        }
      }
      {
        name: 'deny-vnet-inbound'
        properties: {
          priority: 4000
          direction: 'Inbound'
          access: 'Deny'
          protocol: '*'
          sourceAddressPrefix: 'VirtualNetwork'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '*'
        }
      }
    ]
  }
}

resource postgresqlNsg 'Microsoft.Network/networkSecurityGroups@2023-11-01' = {
  name: '${name}-postgresql-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        name: 'allow-apps-to-postgresql'
        properties: {
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: appsSubnetPrefix
          sourcePortRange: '*'
          destinationAddressPrefix: postgresqlSubnetPrefix
          destinationPortRange: '5432'
        }
      }
      {
        name: 'deny-vnet-inbound'
        properties: {
          priority: 4000
          direction: 'Inbound'
          access: 'Deny'
          protocol: '*'
          sourceAddressPrefix: 'VirtualNetwork'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '*'
        }
      }
    ]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [addressPrefix]
    }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: appsSubnetPrefix
          networkSecurityGroup: { id: appsNsg.id }
          delegations: [
            {
              name: 'container-apps'
              properties: { serviceName: 'Microsoft.App/environments' }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: endpointsSubnetPrefix
          networkSecurityGroup: { id: endpointsNsg.id }
          privateEndpointNetworkPolicies: 'Enabled'
        }
      }
      {
        name: 'postgresql'
        properties: {
          addressPrefix: postgresqlSubnetPrefix
          networkSecurityGroup: { id: postgresqlNsg.id }
          delegations: [
            {
              name: 'postgresql-flexible'
              properties: { serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers' }
            }
          ]
        }
      }
    ]
  }
}

output vnetId string = vnet.id
output appsSubnetId string = vnet.properties.subnets[0].id
output endpointsSubnetId string = vnet.properties.subnets[1].id
output postgresqlSubnetId string = vnet.properties.subnets[2].id
