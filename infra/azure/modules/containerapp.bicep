// The Container Apps environment (workload profiles, internal, in the VNet's delegated subnet) and
// the Orthanc + gateway app:
// - identities: system-assigned = the gateway's identity towards the DICOM service (the
//   `azuremanagedidentity` provider asks IDENTITY_ENDPOINT for it, no client id, no secret);
//   user-assigned `pull` = the platform's identity for the image pull (AcrPull) and the Key Vault
//   references (Key Vault Secrets User), which must work before the first container starts, i.e.
//   before a system-assigned identity could have been granted anything.
// - secrets: Key Vault references only; Orthanc's configuration files travel as Container Apps
//   secrets mounted at /etc/orthanc (they hold ${VAR} placeholders, no secret).
// - probes: the gateway's health routes, authenticated as the probe user that
//   DicomWebOAuth.Health.ProbeUser confines to them.
// - two containers: Orthanc + gateway, and the TLS relay to Azure Cache for Redis on 127.0.0.1.
param location string
param environmentName string
param appName string
param tags object
param subnetId string
param logAnalyticsWorkspaceId string
param pullIdentityId string
param registryServer string
param image string
param redisTlsImage string
param keyVaultUri string
param redisHostName string
param postgresqlHost string
param dicomServiceUrl string
param storageAccountName string
param auditShareName string
param externalIngress bool
param minReplicas int
param maxReplicas int
param concurrentRequests int
@secure()
param probePassword string

var probeUser = 'probe'
var probeAuthorization = 'Basic ${base64('${probeUser}:${probePassword}')}'
var httpPort = 8042

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: environmentName
  location: location
  tags: tags
  properties: {
    vnetConfiguration: {
      infrastructureSubnetId: subnetId
      internal: true
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    // Logs go to Azure Monitor; the diagnostic setting below routes them to Log Analytics
    // (no workspace key in the environment).
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    zoneRedundant: true
    peerTrafficConfiguration: {
      encryption: { enabled: true }
    }
  }
}

resource environmentLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: environment
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

resource auditStorage 'Microsoft.App/managedEnvironments/storages@2024-03-01' = {
  parent: environment
  name: 'audit'
  properties: {
    azureFile: {
      accountName: storageAccount.name
      accountKey: storageAccount.listKeys().keys[0].value
      shareName: auditShareName
      accessMode: 'ReadWrite'
    }
  }
}

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: appName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned,UserAssigned'
    userAssignedIdentities: {
      '${pullIdentityId}': {}
    }
  }
  dependsOn: [auditStorage]
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: externalIngress
        targetPort: httpPort
        transport: 'http'
        allowInsecure: false
        // DICOM (C-STORE, C-FIND, C-MOVE) on 4242, inside the VNet only.
        additionalPortMappings: [
          {
            external: false
            targetPort: 4242
            exposedPort: 4242
          }
        ]
      }
      registries: [
        {
          server: registryServer
          identity: pullIdentityId
        }
      ]
      secrets: [
        { name: 'orthanc-admin-password', keyVaultUrl: '${keyVaultUri}secrets/orthanc-admin-password', identity: pullIdentityId }
        { name: 'probe-password', keyVaultUrl: '${keyVaultUri}secrets/probe-password', identity: pullIdentityId }
        { name: 'postgresql-password', keyVaultUrl: '${keyVaultUri}secrets/postgresql-password', identity: pullIdentityId }
        { name: 'redis-password', keyVaultUrl: '${keyVaultUri}secrets/redis-password', identity: pullIdentityId }
        { name: 'redis-encryption-key', keyVaultUrl: '${keyVaultUri}secrets/redis-encryption-key', identity: pullIdentityId }
        { name: 'audit-hash-key', keyVaultUrl: '${keyVaultUri}secrets/audit-hash-key', identity: pullIdentityId }
        { name: 'audit-chain-key', keyVaultUrl: '${keyVaultUri}secrets/audit-chain-key', identity: pullIdentityId }
        // Configuration files (no secret inside: placeholders resolved by Orthanc from the env).
        { name: 'cfg-orthanc', value: loadTextContent('../../k8s/base/config/orthanc.json') }
        { name: 'cfg-dicomweb', value: loadTextContent('../../k8s/base/config/dicomweb.json') }
        { name: 'cfg-postgresql', value: loadTextContent('../../k8s/base/config/postgresql.json') }
        { name: 'cfg-dicomweb-oauth', value: loadTextContent('../config/dicomweb-oauth.json') }
      ]
    }
    template: {
      containers: [
        {
          name: 'orthanc'
          image: image
          args: ['/etc/orthanc/']
          resources: {
            cpu: json('1.0')
            memory: '2Gi'
          }
          env: [
            { name: 'ORTHANC_ADMIN_PASSWORD', secretRef: 'orthanc-admin-password' }
            { name: 'ORTHANC_HEALTHCHECK_USER', value: probeUser }
            { name: 'ORTHANC_HEALTHCHECK_PASSWORD', secretRef: 'probe-password' }
            { name: 'ORTHANC_POSTGRESQL_HOST', value: postgresqlHost }
            { name: 'ORTHANC_POSTGRESQL_PASSWORD', secretRef: 'postgresql-password' }
            { name: 'ORTHANC_POSTGRESQL_SSL', value: 'true' }
            { name: 'DICOMWEB_OAUTH_REDIS_KEY', secretRef: 'redis-encryption-key' }
            { name: 'REDIS_PASSWORD', secretRef: 'redis-password' }
            { name: 'AZURE_DICOM_URL', value: '${dicomServiceUrl}/v2/' }
            { name: 'DICOMWEB_OAUTH_AUDIT_KEY', secretRef: 'audit-hash-key' }
            { name: 'DICOMWEB_OAUTH_AUDIT_CHAIN_KEY', secretRef: 'audit-chain-key' }
          ]
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/dicomweb-oauth/health/startup'
                port: httpPort
                httpHeaders: [{ name: 'Authorization', value: probeAuthorization }]
              }
              initialDelaySeconds: 5
              periodSeconds: 10
              timeoutSeconds: 5
              failureThreshold: 10
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/dicomweb-oauth/health/live'
                port: httpPort
                httpHeaders: [{ name: 'Authorization', value: probeAuthorization }]
              }
              periodSeconds: 10
              timeoutSeconds: 5
              failureThreshold: 3
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/dicomweb-oauth/health/ready'
                port: httpPort
                httpHeaders: [{ name: 'Authorization', value: probeAuthorization }]
              }
              periodSeconds: 5
              timeoutSeconds: 5
              failureThreshold: 2
            }
          ]
          volumeMounts: [
            { volumeName: 'config', mountPath: '/etc/orthanc' }
            { volumeName: 'audit', mountPath: '/var/lib/orthanc/audit' }
            { volumeName: 'tmp', mountPath: '/tmp' }
          ]
        }
        {
          // hiredis 0.14 (Debian 12) has no TLS: this relay accepts on 127.0.0.1:6380 and connects
          // to the cache over TLS, checking its certificate chain and host name (redis-tls/).
          name: 'redis-tls'
          image: redisTlsImage
          resources: {
            cpu: json('0.25')
            memory: '0.5Gi'
          }
          env: [
            { name: 'REDIS_HOST', value: redisHostName }
            { name: 'REDIS_TLS_PORT', value: '6380' }
            { name: 'LISTEN_PORT', value: '6380' }
          ]
          probes: [
            {
              type: 'Liveness'
              tcpSocket: { port: 6380 }
              periodSeconds: 10
              failureThreshold: 3
            }
          ]
        }
      ]
      volumes: [
        {
          name: 'config'
          storageType: 'Secret'
          secrets: [
            { secretRef: 'cfg-orthanc', path: 'orthanc.json' }
            { secretRef: 'cfg-dicomweb', path: 'dicomweb.json' }
            { secretRef: 'cfg-postgresql', path: 'postgresql.json' }
            { secretRef: 'cfg-dicomweb-oauth', path: 'dicomweb-oauth.json' }
          ]
        }
        {
          name: 'audit'
          storageType: 'AzureFile'
          storageName: auditStorage.name
          // uid/gid of the image's `orthanc` user; the audit file stays private to it.
          mountOptions: 'uid=101,gid=102,dir_mode=0700,file_mode=0600'
        }
        {
          name: 'tmp'
          storageType: 'EmptyDir'
        }
      ]
      scale: {
        // At least two replicas: the shared Redis cache makes the fleet one token client.
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'http-concurrency'
            http: {
              metadata: {
                concurrentRequests: string(concurrentRequests)
              }
            }
          }
        ]
      }
    }
  }
}

output environmentId string = environment.id
output environmentDefaultDomain string = environment.properties.defaultDomain
output environmentStaticIp string = environment.properties.staticIp
output appName string = app.name
output appFqdn string = app.properties.configuration.ingress.fqdn
output principalId string = app.identity.principalId
