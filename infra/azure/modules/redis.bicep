// Azure Cache for Redis: the fleet's shared token cache. TLS only (no port 6379), TLS 1.2, no public
// network. The gateway (hiredis 0.14, no TLS) reaches it through the relay container next to it
// (redis-tls/), which verifies the cache's certificate and name.
param location string
param name string
param skuName string
param capacity int
param tags object

resource redis 'Microsoft.Cache/redis@2024-03-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: skuName
      family: skuName == 'Premium' ? 'P' : 'C'
      capacity: capacity
    }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Disabled'
    redisVersion: '6'
    redisConfiguration: {
      // Tokens are cached with their lifetime; nothing here needs persistence.
      'maxmemory-policy': 'volatile-lru'
    }
  }
}

output id string = redis.id
output name string = redis.name
output hostName string = redis.properties.hostName
output sslPort int = redis.properties.sslPort
