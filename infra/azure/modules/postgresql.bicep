// PostgreSQL flexible server for Orthanc's index and storage (Debian's orthanc-postgresql), shared
// by every replica. Private access: the server lives in its delegated subnet, its name resolves in
// the private DNS zone; no public endpoint exists. TLS is required by the server (Orthanc connects
// with EnableSsl). The password is given once (first deployment) and kept in Key Vault.
param location string
param name string
param subnetId string
param privateDnsZoneId string
param administratorLogin string
@secure()
param administratorPassword string
param skuName string
param skuTier string
param storageSizeGB int
param highAvailability bool
param tags object

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: '15'
    administratorLogin: administratorLogin
    administratorLoginPassword: empty(administratorPassword) ? null : administratorPassword
    authConfig: {
      passwordAuth: 'Enabled'
      activeDirectoryAuth: 'Disabled'
    }
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: 35
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: highAvailability ? 'ZoneRedundant' : 'Disabled'
    }
    network: {
      delegatedSubnetResourceId: subnetId
      privateDnsZoneArmResourceId: privateDnsZoneId
      publicNetworkAccess: 'Disabled'
    }
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: 'orthanc'
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

output id string = server.id
output fqdn string = server.properties.fullyQualifiedDomainName
