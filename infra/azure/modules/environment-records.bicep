// The wildcard record of the internal Container Apps environment: <app>.<default domain> resolves
// to the environment's internal load balancer for every client in the VNet.
param zoneName string
param staticIp string

resource zone 'Microsoft.Network/privateDnsZones@2020-06-01' existing = {
  name: zoneName
}

resource wildcard 'Microsoft.Network/privateDnsZones/A@2020-06-01' = {
  parent: zone
  name: '*'
  properties: {
    ttl: 300
    aRecords: [{ ipv4Address: staticIp }]
  }
}
