// Log Analytics: the Container Apps environment's logs, so Orthanc's log, the gateway's audit
// checkpoints (and, with Audit.OrthancLog, a copy of every audit line) leave the replicas.
param location string
param name string
param retentionInDays int
param tags object

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: retentionInDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
    // Private ingestion and query need an Azure Monitor Private Link Scope shared by the whole
    // network (docs/deploy/azure.md); the platform ships the environment's logs. Access is by
    // Entra ID and Azure RBAC only (no shared keys are used by this deployment).
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

output id string = workspace.id
output customerId string = workspace.properties.customerId
output name string = workspace.name
