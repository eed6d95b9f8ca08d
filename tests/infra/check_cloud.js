#!/usr/bin/env node
// Static checks of the cloud templates (issue 15): infra/azure (Bicep) and infra/terraform (HCL).
// No Bicep compiler and no provider registry are reachable here, so these checks parse the sources
// (tree-sitter-bicep, @cdktf/hcl2json) and assert what the templates promise over the syntax trees:
// existing resource types and API versions, identities, role ids and scopes, private endpoints and
// no public access, the Container App's probes and environment against what the gateway reads,
// no literal secret. They prove nothing about what Azure accepts: `az deployment group what-if`
// and `terraform plan` (docs/deploy/) do, with network access.
//
//   node tests/infra/check_cloud.js <source dir>              check the tree
//   node tests/infra/check_cloud.js --self-test <source dir>  plant defects in a copy; each must be caught
//
// Error codes: CLD-001 a file does not parse, CLD-002 a check failed, CLD-003 the checker cannot run
// (npm fixture missing), CLD-004 the self-test: a planted defect was not caught.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const fixture = path.join(__dirname, 'cloud-checks', 'node_modules');
let Parser, Bicep, hcl2json;
try {
  Parser = require(path.join(fixture, 'tree-sitter'));
  Bicep = require(path.join(fixture, 'tree-sitter-bicep'));
  hcl2json = require(path.join(fixture, '@cdktf', 'hcl2json'));
} catch (e) {
  console.error(`CLD-003: npm fixture missing (${e.message.split('\n')[0]}): ` +
                'npm ci in tests/infra/cloud-checks (scripts/test.sh does it)');
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Bicep: parse, and turn the syntax tree into plain values

const parser = new Parser();
parser.setLanguage(Bicep);

function parseErrors(tree, file) {
  const out = [];
  const walk = (n) => {
    if (n.type === 'ERROR' || n.isMissing) {
      const what = n.isMissing ? `missing ${n.type}` : `unexpected '${n.text.slice(0, 40)}'`;
      out.push(`CLD-001 ${file}:${n.startPosition.row + 1}:${n.startPosition.column + 1}: syntax error: ${what}`);
      return;
    }
    if (n.hasError) for (const c of n.namedChildren) walk(c);
  };
  walk(tree.rootNode);
  if (tree.rootNode.hasError && out.length === 0) out.push(`CLD-001 ${file}: syntax error`);
  return out;
}

// An expression that is not a literal keeps its source text.
class Expr {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

function unquote(node) {
  // A string without interpolation: its content; with one: an Expr.
  if (node.namedChildren.some((c) => c.type === 'interpolation')) return new Expr(node.text);
  let s = '';
  for (const c of node.namedChildren) {
    if (c.type === 'string_content') s += c.text;
    else if (c.type === 'escape_sequence') s += JSON.parse(`"${c.text.replace(/^\\'/, "'")}"`);
  }
  return s;
}

function value(node) {
  if (!node) return undefined;
  switch (node.type) {
    case 'object': {
      const o = {};
      for (const p of node.namedChildren) {
        if (p.type !== 'object_property') continue;
        const [k, v] = [p.namedChildren[0], p.namedChildren[p.namedChildren.length - 1]];
        const key = k.type === 'string' ? unquote(k) : k.text;
        o[String(key)] = value(v);
      }
      return o;
    }
    case 'array': return node.namedChildren.filter((c) => c.type !== 'comment').map(value);
    case 'string': return unquote(node);
    case 'multiline_string': return node.text.slice(3, -3);
    case 'number': return Number(node.text);
    case 'boolean': return node.text === 'true';
    case 'null': return null;
    case 'parenthesized_expression': return value(node.namedChildren[0]);
    default: return new Expr(node.text);
  }
}

function decoratorsOf(node) {
  const prev = node.previousNamedSibling;
  if (!prev || prev.type !== 'decorators') return [];
  return prev.namedChildren.map((d) => d.text.replace(/^@/, ''));
}

// The object a resource or module declares: plain, `if (cond) {...}` or `[for ...: {...}]`.
function bodyOf(node) {
  const last = node.namedChildren[node.namedChildren.length - 1];
  const find = (n) => {
    if (n.type === 'object') return n;
    for (const c of n.namedChildren) { const r = find(c); if (r) return r; }
    return null;
  };
  if (last.type === 'object') return { body: last, conditional: false, loop: false };
  return { body: find(last), conditional: last.type === 'if_statement', loop: last.type === 'for_statement' };
}

function parseBicep(file, rel) {
  const text = fs.readFileSync(file, 'utf8');
  const tree = parser.parse(text);
  const errors = parseErrors(tree, rel);
  const model = { file, rel, text, params: {}, vars: {}, resources: [], modules: [], outputs: {}, strings: [] };
  const walkStrings = (n) => {
    if (n.type === 'string') model.strings.push({ node: n, value: unquote(n) });
    for (const c of n.namedChildren) walkStrings(c);
  };
  walkStrings(tree.rootNode);
  for (const n of tree.rootNode.namedChildren) {
    const id = n.namedChildren[0] && n.namedChildren[0].text;
    const line = n.startPosition.row + 1;
    if (n.type === 'parameter_declaration') {
      const def = n.namedChildren.length > 2 ? n.namedChildren[n.namedChildren.length - 1] : null;
      model.params[id] = { decorators: decoratorsOf(n), default: def ? value(def) : undefined, hasDefault: !!def, line };
    } else if (n.type === 'variable_declaration') {
      model.vars[id] = { value: value(n.namedChildren[n.namedChildren.length - 1]), line };
    } else if (n.type === 'resource_declaration') {
      const typeNode = n.namedChildren[1];
      const [type, api] = String(unquote(typeNode)).split('@');
      // `existing` is an anonymous keyword token between the type string and `=`.
      const existing = n.children.some((c) => c.type === 'existing');
      const b = bodyOf(n);
      model.resources.push({ symbol: id, type, api, existing, line, body: value(b.body), conditional: b.conditional });
    } else if (n.type === 'module_declaration') {
      const b = bodyOf(n);
      model.modules.push({ symbol: id, path: String(unquote(n.namedChildren[1])), line, body: value(b.body), loop: b.loop, conditional: b.conditional });
    } else if (n.type === 'output_declaration') {
      model.outputs[id] = { text: n.namedChildren[n.namedChildren.length - 1].text, line };
    }
  }
  return { model, errors };
}

// ---------------------------------------------------------------------------------------------
// helpers

function listFiles(dir, ext) {
  const out = [];
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p, ext));
    else if (p.endsWith(ext)) out.push(p);
  }
  return out.sort();
}

// JSON with /* */ and // comments, as Orthanc reads it.
function readCommentedJson(file) {
  const s = fs.readFileSync(file, 'utf8');
  let out = '', i = 0, inStr = false;
  while (i < s.length) {
    const c = s[i];
    if (inStr) {
      out += c;
      if (c === '\\') { out += s[i + 1]; i += 2; continue; }
      if (c === '"') inStr = false;
      i++;
    } else if (c === '"') { inStr = true; out += c; i++; }
    else if (s.startsWith('/*', i)) { i = s.indexOf('*/', i + 2) + 2; }
    else if (s.startsWith('//', i)) { while (i < s.length && s[i] !== '\n') i++; }
    else { out += c; i++; }
  }
  // ${VAR} placeholders outside strings (numbers, booleans) become a number for the parser.
  return { text: s, stripped: out, json: JSON.parse(out.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}/g, (m, d, off, all) => {
    const before = all.slice(0, off).split('"').length % 2 === 0;
    return before ? m : '0';
  })) };
}

// Every ${VAR} (required: no default) and ${VAR:-default} of a configuration file.
function placeholders(text) {
  const required = new Set(), optional = new Set();
  for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)) (m[2] ? optional : required).add(m[1]);
  return { required, optional };
}

function get(o, ...keys) {
  for (const k of keys) { if (o == null || typeof o !== 'object') return undefined; o = o[k]; }
  return o;
}

const secretName = /(password|secret|passwd|token|accountkey|access_key|privatekey|hashkey|chainkey|encryptionkey)$/i;
const secretLooking = [/^[0-9a-f]{32,}$/i, /^[A-Za-z0-9+/]{40,}={0,2}$/, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, /^ey[A-Za-z0-9_-]{20,}\./];

// ---------------------------------------------------------------------------------------------
// The Bicep checks

function checkAzure(root, facts, fail) {
  const dir = path.join(root, 'infra', 'azure');
  const files = listFiles(dir, '.bicep');
  if (files.length === 0) { fail(`infra/azure: no Bicep file`); return; }
  const models = {};
  for (const f of files) {
    const rel = path.relative(root, f);
    const { model, errors } = parseBicep(f, rel);
    errors.forEach((e) => fail(e, true));
    models[path.relative(dir, f)] = model;
  }
  const main = models['main.bicep'];
  if (!main) { fail('infra/azure/main.bicep missing'); return; }
  const where = (m, line) => `${m.rel}:${line}`;

  // 1. Resource types and API versions that exist.
  for (const m of Object.values(models)) {
    for (const r of m.resources) {
      if (!facts.resources[`${r.type}@${r.api}`]) {
        fail(`${where(m, r.line)}: ${r.type}@${r.api} is not in tests/infra/cloud-api-versions.json (a type and version with a reference page)`);
      }
    }
  }

  // Modules: path and params known to the module.
  const moduleModel = (mod, from) => models[path.normalize(path.join(path.dirname(path.relative(dir, from.file)), mod.path))];
  for (const m of Object.values(models)) {
    for (const mod of m.modules) {
      const target = moduleModel(mod, m);
      if (!target) { fail(`${where(m, mod.line)}: module ${mod.path} not found`); continue; }
      const given = Object.keys(get(mod.body, 'params') || {});
      for (const p of given) if (!target.params[p]) fail(`${where(m, mod.line)}: module ${mod.symbol} passes ${p}, which ${mod.path} does not declare`);
      for (const [p, d] of Object.entries(target.params)) {
        if (!d.hasDefault && !given.includes(p)) fail(`${where(m, mod.line)}: module ${mod.symbol} does not pass the required ${p} of ${mod.path}`);
      }
    }
  }

  // 2. Public network access off, wherever the service has the switch.
  const publicSwitch = {
    'Microsoft.ContainerRegistry/registries': ['properties', 'publicNetworkAccess'],
    'Microsoft.KeyVault/vaults': ['properties', 'publicNetworkAccess'],
    'Microsoft.Cache/redis': ['properties', 'publicNetworkAccess'],
    'Microsoft.Storage/storageAccounts': ['properties', 'publicNetworkAccess'],
    'Microsoft.HealthcareApis/workspaces': ['properties', 'publicNetworkAccess'],
    'Microsoft.HealthcareApis/workspaces/dicomservices': ['properties', 'publicNetworkAccess'],
    'Microsoft.DBforPostgreSQL/flexibleServers': ['properties', 'network', 'publicNetworkAccess'],
  };
  const paas = [];
  for (const [rel, m] of Object.entries(models)) {
    for (const r of m.resources) {
      if (r.existing || !publicSwitch[r.type]) continue;
      paas.push({ rel, m, r });
      const v = get(r.body, ...publicSwitch[r.type]);
      if (v !== 'Disabled') fail(`${where(m, r.line)}: ${r.type} ${r.symbol}: ${publicSwitch[r.type].join('.')} is ${JSON.stringify(String(v))}, not 'Disabled'`);
    }
  }
  const registry = paas.find((p) => p.r.type === 'Microsoft.ContainerRegistry/registries');
  if (registry) {
    if (get(registry.r.body, 'properties', 'adminUserEnabled') !== false) fail(`${where(registry.m, registry.r.line)}: the registry's admin user is not off`);
    if (get(registry.r.body, 'sku', 'name') !== 'Premium') fail(`${where(registry.m, registry.r.line)}: private endpoints need the Premium registry tier`);
  }
  for (const p of paas.filter((x) => x.r.type === 'Microsoft.KeyVault/vaults')) {
    const props = get(p.r.body, 'properties') || {};
    if (props.enableRbacAuthorization !== true) fail(`${where(p.m, p.r.line)}: Key Vault without RBAC authorization`);
    if (props.enablePurgeProtection !== true) fail(`${where(p.m, p.r.line)}: Key Vault without purge protection`);
  }
  for (const p of paas.filter((x) => x.r.type === 'Microsoft.Cache/redis')) {
    const props = get(p.r.body, 'properties') || {};
    if (props.enableNonSslPort !== false) fail(`${where(p.m, p.r.line)}: Redis: the non-TLS port is not off`);
    if (props.minimumTlsVersion !== '1.2') fail(`${where(p.m, p.r.line)}: Redis: minimumTlsVersion is not 1.2`);
  }
  for (const p of paas.filter((x) => x.r.type === 'Microsoft.Storage/storageAccounts')) {
    const props = get(p.r.body, 'properties') || {};
    if (props.supportsHttpsTrafficOnly !== true || props.minimumTlsVersion !== 'TLS1_2') fail(`${where(p.m, p.r.line)}: storage: not HTTPS-only with TLS 1.2`);
    if (props.allowBlobPublicAccess !== false) fail(`${where(p.m, p.r.line)}: storage: public blob access is not off`);
  }
  for (const p of paas.filter((x) => x.r.type === 'Microsoft.DBforPostgreSQL/flexibleServers')) {
    if (!get(p.r.body, 'properties', 'network', 'delegatedSubnetResourceId') || !get(p.r.body, 'properties', 'network', 'privateDnsZoneArmResourceId')) {
      fail(`${where(p.m, p.r.line)}: PostgreSQL is not in a delegated subnet with a private DNS zone (private access)`);
    }
  }

  // 3. Every PaaS (but PostgreSQL, which has private access) has a private endpoint of the right
  //    group in the right private DNS zones; each zone is linked to the VNet.
  const zoneList = get(main.vars, 'endpointZones', 'value');
  const zonesModule = main.modules.find((mod) => mod.symbol === 'zones');
  const peModules = main.modules.filter((mod) => mod.path === 'modules/private-endpoint.bicep');
  const zoneModel = models[path.join('modules', 'private-dns-zone.bicep')];
  if (!zoneModel || !zoneModel.resources.some((r) => r.type === 'Microsoft.Network/privateDnsZones/virtualNetworkLinks')) {
    fail('infra/azure/modules/private-dns-zone.bicep: the zones are not linked to the VNet');
  }
  if (!Array.isArray(zoneList) || !zonesModule || !zonesModule.loop) fail('infra/azure/main.bicep: endpointZones and the zones module loop over it are expected');
  const mainModuleOf = (rel) => main.modules.find((mod) => path.normalize(mod.path) === path.normalize(rel));
  for (const p of paas) {
    const spec = facts.privateLink[p.r.type];
    if (!spec) continue;
    const mod = mainModuleOf(p.rel);
    if (!mod) { fail(`${p.m.rel}: ${p.r.type} is not deployed by main.bicep`); continue; }
    const outputs = Object.entries(p.m.outputs).filter(([, o]) => o.text === `${p.r.symbol}.id`).map(([k]) => `${mod.symbol}.outputs.${k}`);
    const pe = peModules.find((x) => outputs.includes(String(get(x.body, 'params', 'serviceId'))));
    if (!pe) { fail(`${where(main, mod.line)}: ${p.r.type} (${mod.symbol}) has no private endpoint`); continue; }
    const params = get(pe.body, 'params');
    if (params.groupId !== spec.groupId) fail(`${where(main, pe.line)}: private endpoint ${pe.symbol}: groupId ${params.groupId}, expected ${spec.groupId}`);
    const zones = (params.dnsZoneNames || []).map(String);
    for (const z of zones) if (!Array.isArray(zoneList) || !zoneList.includes(z)) fail(`${where(main, pe.line)}: private endpoint ${pe.symbol}: zone ${z} is not one of endpointZones (created and linked to the VNet)`);
    if (JSON.stringify(zones.slice().sort()) !== JSON.stringify(spec.zones.slice().sort())) {
      fail(`${where(main, pe.line)}: private endpoint ${pe.symbol}: DNS zones ${JSON.stringify(zones)}, expected ${JSON.stringify(spec.zones)}`);
    }
    if (pe.conditional && !mod.conditional) fail(`${where(main, pe.line)}: private endpoint ${pe.symbol} is conditional, ${mod.symbol} is not: the service could exist without it`);
    if (p.r.type === 'Microsoft.HealthcareApis/workspaces' && !pe.conditional) fail(`${where(main, pe.line)}: the DICOM endpoint must exist only when the template creates the workspace`);
  }

  // 4. Identities and role assignments.
  const appFile = path.join('modules', 'containerapp.bicep');
  const appModel = models[appFile];
  const app = appModel && appModel.resources.find((r) => r.type === 'Microsoft.App/containerApps');
  if (!app) { fail('infra/azure: no Microsoft.App/containerApps resource in modules/containerapp.bicep'); return; }
  const idType = String(get(app.body, 'identity', 'type') || '');
  if (!idType.split(',').includes('SystemAssigned')) fail(`${where(appModel, app.line)}: the Container App has no system-assigned identity (identity.type ${JSON.stringify(idType)})`);
  const appOutPrincipal = Object.entries(appModel.outputs).find(([, o]) => o.text === `${app.symbol}.identity.principalId`);
  const cfg = get(app.body, 'properties', 'configuration') || {};
  const registries = cfg.registries || [];
  if (registries.length === 0 || registries.some((r) => !r.identity || r.passwordSecretRef || r.username)) fail(`${where(appModel, app.line)}: the image must be pulled with a managed identity (registries[].identity), no password`);
  const ingress = cfg.ingress || {};
  if (!(ingress.external === false || String(ingress.external) === 'externalIngress')) fail(`${where(appModel, app.line)}: ingress.external must be false or the externalIngress parameter`);
  if (main.params.externalIngress && main.params.externalIngress.default !== false) fail(`${where(main, main.params.externalIngress.line)}: ingress must be internal by default`);
  if (ingress.allowInsecure !== false) fail(`${where(appModel, app.line)}: ingress.allowInsecure must be false`);

  const roleAssignments = [];
  for (const m of Object.values(models)) for (const r of m.resources) if (r.type === 'Microsoft.Authorization/roleAssignments') roleAssignments.push({ m, r });
  const resolveVar = (m, text) => { const v = m.vars[text]; return v ? v.value : undefined; };
  const seenRoles = new Set();
  for (const { m, r } of roleAssignments) {
    const def = String(get(r.body, 'properties', 'roleDefinitionId'));
    const mm = /^subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', *([A-Za-z0-9_]+|'[0-9a-f-]{36}')\)$/.exec(def);
    if (!mm) { fail(`${where(m, r.line)}: roleDefinitionId must be subscriptionResourceId('Microsoft.Authorization/roleDefinitions', <fixed id>), got ${def}`); continue; }
    const id = mm[1].startsWith("'") ? mm[1].slice(1, -1) : resolveVar(m, mm[1]);
    const role = facts.roles[id];
    if (!role) { fail(`${where(m, r.line)}: role definition ${id} is not a known built-in role`); continue; }
    seenRoles.add(role.name);
    const scopeSym = String(r.body.scope);
    const scopeRes = m.resources.find((x) => x.symbol === scopeSym);
    if (!scopeRes || scopeRes.type !== role.scope) fail(`${where(m, r.line)}: ${role.name} must be scoped to a ${role.scope}, is scoped to ${scopeRes ? scopeRes.type : scopeSym}`);
    if (get(r.body, 'properties', 'principalType') !== 'ServicePrincipal') fail(`${where(m, r.line)}: principalType must be ServicePrincipal (managed identity)`);
    const nameExpr = String(r.body.name);
    if (!/^guid\(/.test(nameExpr)) fail(`${where(m, r.line)}: role assignment name must be a deterministic guid(...)`);
  }
  for (const needed of ['AcrPull', 'Key Vault Secrets User', 'DICOM Data Owner']) if (!seenRoles.has(needed)) fail(`infra/azure: no ${needed} role assignment`);
  // DICOM Data Owner goes to the app's system-assigned identity.
  const dicomRoleModule = main.modules.find((mod) => mod.path === 'modules/dicom-role.bicep');
  const appModule = main.modules.find((mod) => mod.path === 'modules/containerapp.bicep');
  if (!dicomRoleModule || !appModule || !appOutPrincipal || String(get(dicomRoleModule.body, 'params', 'principalId')) !== `${appModule.symbol}.outputs.${appOutPrincipal[0]}`) {
    fail('infra/azure/main.bicep: DICOM Data Owner must be granted to the Container App\'s system-assigned identity (app.outputs.principalId)');
  }

  // 5. The Container App against what the gateway reads.
  const containers = get(app.body, 'properties', 'template', 'containers') || [];
  const orthanc = containers.find((c) => c.name === 'orthanc');
  if (!orthanc) { fail(`${where(appModel, app.line)}: no container named orthanc`); return; }
  const secrets = cfg.secrets || [];
  const configFiles = {};
  for (const s of secrets) {
    if (s.keyVaultUrl !== undefined) {
      if (!s.identity) fail(`${where(appModel, app.line)}: secret ${s.name}: Key Vault reference without an identity`);
      continue;
    }
    const load = /^loadTextContent\('([^']+)'\)$/.exec(String(s.value));
    if (!load) { fail(`${where(appModel, app.line)}: secret ${s.name} has a value in the template: secrets must be Key Vault references`); continue; }
    configFiles[s.name] = path.resolve(path.dirname(appModel.file), load[1]);
  }
  const volumes = get(app.body, 'properties', 'template', 'volumes') || [];
  const cfgVolume = volumes.find((v) => v.storageType === 'Secret');
  const mountedConfig = {};
  for (const s of (cfgVolume && cfgVolume.secrets) || []) {
    if (!configFiles[s.secretRef]) fail(`${where(appModel, app.line)}: volume file ${s.path}: secret ${s.secretRef} is not a configuration file`);
    else mountedConfig[s.path] = configFiles[s.secretRef];
  }
  const mount = (orthanc.volumeMounts || []).find((v) => cfgVolume && v.volumeName === cfgVolume.name);
  if (!mount || mount.mountPath !== '/etc/orthanc' || JSON.stringify(orthanc.args) !== JSON.stringify(['/etc/orthanc/'])) {
    fail(`${where(appModel, app.line)}: Orthanc must read the mounted configuration (/etc/orthanc, args ['/etc/orthanc/'])`);
  }
  const gatewayFile = mountedConfig['dicomweb-oauth.json'];
  const orthancFile = mountedConfig['orthanc.json'];
  if (!gatewayFile || !orthancFile) { fail(`${where(appModel, app.line)}: orthanc.json and dicomweb-oauth.json must be mounted`); return; }
  const parsed = {};
  for (const [name, f] of Object.entries(mountedConfig)) {
    try { parsed[name] = readCommentedJson(f); } catch (e) { fail(`${path.relative(root, f)}: not JSON: ${e.message}`); return; }
  }
  const gw = parsed['dicomweb-oauth.json'].json.DicomWebOAuth;
  const oc = parsed['orthanc.json'].json;
  // Keys the gateway knows: the parser's key tables (core/src/config/ConfigKeys.cpp), one function per object.
  const keysSrc = fs.readFileSync(path.join(root, 'core', 'src', 'config', 'ConfigKeys.cpp'), 'utf8');
  const keyTable = (fn) => {
    const m = new RegExp(`${fn}\\(\\) \\{([\\s\\S]*?)return kKeys;`).exec(keysSrc);
    return m ? [...m[1].matchAll(/\(\s*"([A-Z][A-Za-z0-9]*)"/g)].map((x) => x[1]) : [];
  };
  const typesList = /kTypes = \{([^}]*)\}/.exec(keysSrc);
  // Server keys: the gateway's own (ServerKeys) and each shipped provider's schema keys.
  const gatewayServer = keyTable('ServerKeys');
  const providerDir = path.join(root, 'lua', 'providers');
  const schemaKeys = fs.readdirSync(providerDir).filter((f) => f.endsWith('.lua'))
    .flatMap((f) => [...fs.readFileSync(path.join(providerDir, f), 'utf8').matchAll(/\b([A-Z][A-Za-z0-9]+)\s*=\s*\{/g)].map((x) => x[1]));
  const serverKeys = gatewayServer.length ? gatewayServer.concat(schemaKeys) : [];
  const globalKeys = keyTable('SectionKeys');
  const providerTypes = typesList ? [...typesList[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]) : [];
  if (globalKeys.length === 0 || serverKeys.length === 0 || providerTypes.length === 0) fail('core/src/config/ConfigKeys.cpp: the key tables were not found (SectionKeys, ServerKeys, ProviderTypes)');
  for (const k of Object.keys(gw || {})) if (!globalKeys.includes(k)) fail(`${path.relative(root, gatewayFile)}: DicomWebOAuth.${k} is not a key the gateway reads`);
  for (const [name, srv] of Object.entries(gw.Servers || {})) {
    for (const k of Object.keys(srv)) if (!serverKeys.includes(k)) fail(`${path.relative(root, gatewayFile)}: Servers.${name}.${k} is not a key the gateway reads`);
    if (!providerTypes.includes(String(srv.ProviderType).toLowerCase())) fail(`${path.relative(root, gatewayFile)}: Servers.${name}.ProviderType ${srv.ProviderType} unknown`);
    if (String(srv.ProviderType).toLowerCase() !== 'azuremanagedidentity') fail(`${path.relative(root, gatewayFile)}: Servers.${name} must use the managed-identity provider (azuremanagedidentity)`);
    for (const k of ['ClientSecret', 'ClientId', 'TokenEndpoint', 'Password', 'Token']) if (srv[k] !== undefined) fail(`${path.relative(root, gatewayFile)}: Servers.${name}.${k}: no client credential with a managed identity`);
  }
  if (gw.CacheType !== 'redis') fail(`${path.relative(root, gatewayFile)}: CacheType must be redis (the replicas share one token cache)`);
  const env = {};
  for (const e of orthanc.env || []) env[e.name] = e;
  for (const e of orthanc.env || []) {
    if (e.secretRef !== undefined) {
      const s = secrets.find((x) => x.name === e.secretRef);
      if (!s) fail(`${where(appModel, app.line)}: env ${e.name}: secret ${e.secretRef} not defined`);
      else if (s.keyVaultUrl === undefined) fail(`${where(appModel, app.line)}: env ${e.name}: secret ${e.secretRef} is not a Key Vault reference`);
    } else if (secretName.test(e.name) && !/_USER$/.test(e.name)) {
      fail(`${where(appModel, app.line)}: env ${e.name} looks like a secret but is a plain value`);
    }
  }
  // Every ${VAR} a mounted file needs is set; every variable set is read by something.
  const read = new Set();
  for (const [name, p] of Object.entries(parsed)) {
    const ph = placeholders(p.stripped);
    for (const v of ph.required) {
      read.add(v);
      if (!env[v] && v !== 'HOSTNAME') fail(`${where(appModel, app.line)}: ${name} needs \${${v}}, which the orthanc container does not set`);
    }
    for (const v of ph.optional) read.add(v);
  }
  for (const m of parsed['dicomweb-oauth.json'].stripped.matchAll(/"env:([A-Za-z_][A-Za-z0-9_]*)"/g)) {
    read.add(m[1]);
    if (!env[m[1]]) fail(`${where(appModel, app.line)}: dicomweb-oauth.json references env:${m[1]}, which the orthanc container does not set`);
  }
  const healthcheck = fs.readFileSync(path.join(root, 'infra', 'config', 'healthcheck.sh'), 'utf8');
  for (const m of healthcheck.matchAll(/\$\{([A-Z_]+)/g)) read.add(m[1]);
  const parserSrc = fs.readFileSync(path.join(root, 'core', 'src', 'config', 'ConfigParser.cpp'), 'utf8');
  for (const m of parserSrc.matchAll(/kRedisKeyEnvironmentVariable = "([A-Z_]+)"/g)) read.add(m[1]);
  if (!gw.RedisEncryptionKey && !env.DICOMWEB_OAUTH_REDIS_KEY) fail(`${where(appModel, app.line)}: no RedisEncryptionKey and no DICOMWEB_OAUTH_REDIS_KEY: the gateway would not start`);
  for (const name of Object.keys(env)) if (!read.has(name)) fail(`${where(appModel, app.line)}: env ${name} is set but nothing reads it (configuration, env: references, the image's health check, the gateway)`);

  // Probes: the gateway's three health routes, on Orthanc's port, as the confined probe user.
  const probes = orthanc.probes || [];
  const httpPort = Number(get(appModel.vars, 'httpPort', 'value'));
  if (oc.HttpPort !== httpPort) fail(`${path.relative(root, orthancFile)}: HttpPort differs from the probes' port ${httpPort}`);
  if (String(ingress.targetPort) !== 'httpPort') fail(`${where(appModel, app.line)}: ingress.targetPort must be httpPort`);
  const probeUser = get(appModel.vars, 'probeUser', 'value');
  const healthSrc = fs.readFileSync(path.join(root, 'core', 'src', 'service', 'Health.cpp'), 'utf8');
  const healthPrefix = (/kPrefix = "([^"]+)"/.exec(healthSrc) || [])[1];
  const authExpr = String(get(appModel.vars, 'probeAuthorization', 'value'));
  for (const [type, route] of [['Startup', 'startup'], ['Liveness', 'live'], ['Readiness', 'ready']]) {
    const p = probes.find((x) => x.type === type);
    if (!p) { fail(`${where(appModel, app.line)}: no ${type} probe`); continue; }
    const g = p.httpGet || {};
    if (g.path !== `${healthPrefix}${route}`) fail(`${where(appModel, app.line)}: ${type} probe path ${g.path}, expected ${healthPrefix}${route} (core/src/service/Health.cpp)`);
    if (String(g.port) !== 'httpPort') fail(`${where(appModel, app.line)}: ${type} probe port must be httpPort`);
    const auth = (g.httpHeaders || []).find((h) => h.name === 'Authorization');
    if (!auth || String(auth.value) !== 'probeAuthorization') fail(`${where(appModel, app.line)}: ${type} probe must send the probe user's Authorization header`);
    const limits = { failureThreshold: [1, 10], periodSeconds: [1, 240], timeoutSeconds: [1, 240], initialDelaySeconds: [0, 60] };
    for (const [k, [lo, hi]] of Object.entries(limits)) if (p[k] !== undefined && (p[k] < lo || p[k] > hi)) fail(`${where(appModel, app.line)}: ${type} probe ${k} ${p[k]} outside Container Apps' ${lo}..${hi}`);
  }
  if (!/^'Basic \$\{base64\('\$\{probeUser\}:\$\{probePassword\}'\)\}'$/.test(authExpr)) fail(`${where(appModel, app.line)}: probeAuthorization must be Basic base64(probeUser:probePassword)`);
  if (get(gw, 'Health', 'ProbeUser') !== probeUser) fail(`${path.relative(root, gatewayFile)}: Health.ProbeUser ${get(gw, 'Health', 'ProbeUser')} is not the probes' user ${probeUser}`);
  if (!get(oc, 'RegisteredUsers') || get(oc, 'RegisteredUsers', probeUser) === undefined) fail(`${path.relative(root, orthancFile)}: RegisteredUsers has no ${probeUser} user for the probes`);
  if (!main.params.probePassword || !main.params.probePassword.decorators.includes('secure()')) fail('infra/azure/main.bicep: probePassword must be @secure()');
  // Replicas and the shared cache through the TLS relay.
  const scale = get(app.body, 'properties', 'template', 'scale') || {};
  const minRep = main.params.minReplicas;
  if (String(scale.minReplicas) !== 'minReplicas' || !minRep || !minRep.decorators.some((d) => /^minValue\(([2-9]|\d\d+)\)$/.test(d))) fail('infra/azure: minReplicas must be a parameter with @minValue(2) or more');
  if (!(scale.rules || []).length) fail(`${where(appModel, app.line)}: no scale rule`);
  const relay = containers.find((c) => c.name === 'redis-tls');
  const redisUrl = String(gw.RedisUrl || '');
  const relayEnv = Object.fromEntries(((relay && relay.env) || []).map((e) => [e.name, e.value]));
  const urlPort = (/@127\.0\.0\.1:(\d+)$/.exec(redisUrl) || [])[1];
  if (!relay || !urlPort || relayEnv.LISTEN_PORT !== urlPort) fail(`${where(appModel, app.line)}: RedisUrl ${redisUrl} must point at the TLS relay container on 127.0.0.1:<its LISTEN_PORT>`);
  if (relay && relayEnv.REDIS_TLS_PORT !== '6380') fail(`${where(appModel, app.line)}: the relay must reach Redis on its TLS port 6380`);
  const entry = path.join(dir, 'redis-tls', 'entrypoint.sh');
  if (!fs.existsSync(entry) || !/verifyChain = yes/.test(fs.readFileSync(entry, 'utf8')) || !/checkHost = /.test(fs.readFileSync(entry, 'utf8'))) fail('infra/azure/redis-tls/entrypoint.sh: the relay must verify the certificate chain and host name');

  // 6. No literal secret; no secret in outputs; the parameters file.
  for (const m of Object.values(models)) {
    for (const [name, p] of Object.entries(m.params)) {
      const secure = p.decorators.includes('secure()');
      if (secretName.test(name) && !secure) fail(`${where(m, p.line)}: parameter ${name} looks like a secret but is not @secure()`);
      if (secure && p.hasDefault && p.default !== '') fail(`${where(m, p.line)}: @secure() parameter ${name} has a default value`);
    }
    for (const s of m.strings) {
      if (typeof s.value !== 'string') continue;
      if (secretLooking.some((re) => re.test(s.value))) fail(`${m.rel}:${s.node.startPosition.row + 1}:${s.node.startPosition.column + 1}: a literal that looks like a secret`);
    }
    const objects = [];
    const collect = (o) => { if (o && typeof o === 'object' && !(o instanceof Expr)) { objects.push(o); Object.values(o).forEach(collect); } };
    m.resources.forEach((r) => collect(r.body));
    m.modules.forEach((x) => collect(x.body));
    for (const o of objects) for (const [k, v] of Object.entries(o)) {
      if (secretName.test(k) && typeof v === 'string' && v !== '') fail(`${m.rel}: ${k}: a literal secret value`);
    }
    for (const [name, o] of Object.entries(m.outputs)) {
      const secureParams = Object.entries(m.params).filter(([, p]) => p.decorators.includes('secure()')).map(([n]) => n);
      if (/listKeys\(|listCredentials\(|getSecret\(/.test(o.text) || secureParams.some((n) => new RegExp(`\\b${n}\\b`).test(o.text)) || secretName.test(name)) {
        fail(`${where(m, o.line)}: output ${name} would expose a secret`);
      }
    }
  }
  const paramFile = path.join(dir, 'main.parameters.json');
  const pf = JSON.parse(fs.readFileSync(paramFile, 'utf8')).parameters || {};
  for (const [name, v] of Object.entries(pf)) {
    if (!main.params[name]) fail(`infra/azure/main.parameters.json: ${name} is not a parameter of main.bicep`);
    else if (main.params[name].decorators.includes('secure()')) fail(`infra/azure/main.parameters.json: ${name} is @secure(): never in the parameters file`);
    if (typeof v.value === 'string' && secretLooking.some((re) => re.test(v.value))) fail(`infra/azure/main.parameters.json: ${name}: a literal that looks like a secret`);
  }
  for (const [name, p] of Object.entries(main.params)) {
    if (!p.hasDefault && !p.decorators.includes('secure()') && !(name in pf)) fail(`infra/azure/main.parameters.json: the required parameter ${name} is missing`);
  }
  for (const needed of ['imageRegistry', 'imageName', 'imageTag']) if (!main.params[needed]) fail(`infra/azure/main.bicep: parameter ${needed} missing (the image is referenced by registry, name, tag)`);
  const deploy = fs.readFileSync(path.join(dir, 'deploy.sh'), 'utf8');
  const whatIf = deploy.indexOf('az deployment group what-if'), create = deploy.indexOf('az deployment group create');
  if (whatIf < 0 || create < 0 || whatIf > create) fail('infra/azure/deploy.sh: what-if must run before create');
}

// ---------------------------------------------------------------------------------------------
// The Terraform checks

// hcl2json runs Go compiled to WebAssembly: about half a second per file on a loaded machine. The
// self-test re-checks copies in which one file changed: parse each distinct content once.
const hclCache = new Map();
async function parseHcl(file, text) {
  const key = `${path.basename(file)}\0${text}`;
  if (!hclCache.has(key)) hclCache.set(key, await hcl2json.parse(path.basename(file), text));
  return JSON.parse(JSON.stringify(hclCache.get(key)));
}

async function checkTerraform(root, facts, fail) {
  const dir = path.join(root, 'infra', 'terraform');
  const files = listFiles(dir, '.tf').filter((f) => path.dirname(f) === dir);
  if (files.length === 0) { fail('infra/terraform: no .tf file'); return; }
  const tf = { resource: {}, variable: {}, output: {}, terraform: [], locals: {} };
  const texts = {};
  for (const f of files) {
    const rel = path.relative(root, f);
    texts[rel] = fs.readFileSync(f, 'utf8');
    let j;
    try { j = await parseHcl(f, texts[rel]); } catch (e) {
      fail(`CLD-001 ${rel}: ${String(e.message || e).split('\n')[0]}`, true);
      continue;
    }
    for (const [type, byName] of Object.entries(j.resource || {})) {
      tf.resource[type] = Object.assign(tf.resource[type] || {}, byName);
    }
    Object.assign(tf.variable, j.variable || {});
    Object.assign(tf.output, j.output || {});
    for (const l of j.locals || []) Object.assign(tf.locals, l);
    tf.terraform.push(...(j.terraform || []));
  }
  const one = (type, name) => { const r = get(tf.resource, type, name); return Array.isArray(r) ? r[0] : r; };
  const all = (type) => Object.entries(tf.resource[type] || {}).map(([n, v]) => [n, Array.isArray(v) ? v[0] : v]);

  // Pinned providers.
  const req = {};
  for (const t of tf.terraform) for (const rp of t.required_providers || []) Object.assign(req, rp);
  for (const p of ['azurerm', 'random']) {
    const v = get(req, p, 'version');
    if (!v || !/^=?\s*\d+\.\d+\.\d+$/.test(v)) fail(`infra/terraform: provider ${p} is not pinned to one version (${v})`);
  }
  if (!fs.existsSync(path.join(dir, 'backend.tf.example')) || !/backend "azurerm"/.test(fs.readFileSync(path.join(dir, 'backend.tf.example'), 'utf8'))) fail('infra/terraform: no remote-state example (backend.tf.example)');

  // Variables: a description each; a validation for every string or number without a safe default.
  const noValidationNeeded = new Set(['location', 'kubernetes_version', 'node_vm_size', 'kubernetes_service_account', 'private_cluster', 'tags']);
  for (const [name, defs] of Object.entries(tf.variable)) {
    const v = defs[0];
    if (!v.description) fail(`infra/terraform: variable ${name} has no description`);
    if (!v.validation && !noValidationNeeded.has(name)) fail(`infra/terraform: variable ${name} has no validation`);
  }

  // AKS: OIDC issuer and workload identity; the federated credential names infra/k8s' service account.
  const aks = all('azurerm_kubernetes_cluster')[0];
  if (!aks || aks[1].oidc_issuer_enabled !== true || aks[1].workload_identity_enabled !== true) fail('infra/terraform: the AKS cluster needs oidc_issuer_enabled and workload_identity_enabled');
  if (aks && aks[1].local_account_disabled !== true) fail('infra/terraform: AKS local accounts must be disabled (Entra ID only)');
  const fed = all('azurerm_federated_identity_credential')[0];
  const k8sBase = fs.readFileSync(path.join(root, 'infra', 'k8s', 'base', 'orthanc.yaml'), 'utf8');
  const saName = (/kind: ServiceAccount\nmetadata:\n  name: ([a-z0-9-]+)/.exec(k8sBase) || [])[1];
  const saDefault = get(tf.variable, 'kubernetes_service_account', 0, 'default');
  if (!fed) fail('infra/terraform: no federated identity credential');
  else {
    if (fed[1].subject !== 'system:serviceaccount:${var.kubernetes_namespace}:${var.kubernetes_service_account}') fail(`infra/terraform: federated subject ${fed[1].subject} is not the gateway's service account`);
    if (saDefault !== saName) fail(`infra/terraform: kubernetes_service_account defaults to ${saDefault}, infra/k8s names the service account ${saName}`);
    const overlay = fs.readFileSync(path.join(root, 'infra', 'k8s', 'overlays', 'aks', 'workload-identity.yaml'), 'utf8');
    const aud = (/audience: (\S+)/.exec(overlay) || [])[1];
    if (JSON.stringify(fed[1].audience) !== JSON.stringify([aud])) fail(`infra/terraform: federated audience ${JSON.stringify(fed[1].audience)}, the aks overlay's token has ${aud}`);
    if (!/azurerm_kubernetes_cluster\.main\.oidc_issuer_url/.test(fed[1].issuer)) fail('infra/terraform: the federated credential must trust the cluster\'s OIDC issuer');
  }

  // Roles: fixed ids, right scopes, the gateway identity for DICOM.
  const roleScopes = { 'Microsoft.HealthcareApis/workspaces/dicomservices': /local\.dicom_id/, 'Microsoft.KeyVault/vaults': /azurerm_key_vault\.main\.id/ };
  const seen = new Set();
  for (const [name, ra] of all('azurerm_role_assignment')) {
    if (ra.role_definition_name) { fail(`infra/terraform: role assignment ${name} uses a role name, not a fixed id`); continue; }
    const m = /roleDefinitions\/\$\{local\.([a-z_]+)\}$/.exec(ra.role_definition_id || '');
    const id = m && tf.locals[m[1]];
    const role = id && facts.roles[id];
    if (!role) { fail(`infra/terraform: role assignment ${name}: ${ra.role_definition_id} is not a known built-in role id`); continue; }
    seen.add(role.name);
    if (!roleScopes[role.scope] || !roleScopes[role.scope].test(ra.scope)) fail(`infra/terraform: ${role.name} (${name}) must be scoped to its ${role.scope}, is ${ra.scope}`);
    if (role.name === 'DICOM Data Owner' && !/azurerm_user_assigned_identity\.gateway\.principal_id/.test(ra.principal_id)) fail('infra/terraform: DICOM Data Owner must go to the gateway\'s identity');
  }
  for (const needed of ['DICOM Data Owner', 'Key Vault Secrets User']) if (!seen.has(needed)) fail(`infra/terraform: no ${needed} role assignment`);

  // Public access off, TLS, private endpoints.
  const offs = [
    ['azurerm_key_vault', 'public_network_access_enabled'], ['azurerm_redis_cache', 'public_network_access_enabled'],
    ['azurerm_postgresql_flexible_server', 'public_network_access_enabled'],
    // azurerm 4.14 has no switch on the healthcare workspace; the DICOM service's governs its data plane.
    ['azurerm_healthcare_dicom_service', 'public_network_access_enabled'],
  ];
  for (const [type, key] of offs) {
    const rs = all(type);
    if (rs.length === 0) fail(`infra/terraform: no ${type}`);
    for (const [name, r] of rs) if (r[key] !== false) fail(`infra/terraform: ${type}.${name}: ${key} is not false`);
  }
  for (const [name, kv] of all('azurerm_key_vault')) {
    if (kv.enable_rbac_authorization !== true || kv.purge_protection_enabled !== true) fail(`infra/terraform: azurerm_key_vault.${name}: RBAC and purge protection required`);
  }
  for (const [name, r] of all('azurerm_redis_cache')) {
    if (r.non_ssl_port_enabled !== false || r.minimum_tls_version !== '1.2') fail(`infra/terraform: azurerm_redis_cache.${name}: TLS only, 1.2`);
  }
  for (const [name, pg] of all('azurerm_postgresql_flexible_server')) {
    if (!pg.delegated_subnet_id || !pg.private_dns_zone_id) fail(`infra/terraform: azurerm_postgresql_flexible_server.${name}: private access (delegated subnet, private DNS zone) required`);
  }
  const endpoints = all('azurerm_private_endpoint');
  const expectPe = [['azurerm_key_vault', 'Microsoft.KeyVault/vaults'], ['azurerm_redis_cache', 'Microsoft.Cache/redis'], ['azurerm_healthcare_workspace', 'Microsoft.HealthcareApis/workspaces']];
  for (const [type, armType] of expectPe) {
    for (const [name] of all(type)) {
      const pe = endpoints.find(([, e]) => new RegExp(`${type}\\.${name}(\\[0\\])?\\.id`).test(get(e, 'private_service_connection', 0, 'private_connection_resource_id') || ''));
      if (!pe) { fail(`infra/terraform: ${type}.${name} has no private endpoint`); continue; }
      const conn = pe[1].private_service_connection[0];
      if (JSON.stringify(conn.subresource_names) !== JSON.stringify([facts.privateLink[armType].groupId])) fail(`infra/terraform: private endpoint ${pe[0]}: subresource ${JSON.stringify(conn.subresource_names)}, expected ${facts.privateLink[armType].groupId}`);
      const zoneIds = get(pe[1], 'private_dns_zone_group', 0, 'private_dns_zone_ids') || [];
      const zones = zoneIds.map((z) => { const k = /endpoints\["([a-z]+)"\]/.exec(z); return k ? get(tf.locals, 'private_dns_zones', k[1]) : z; });
      if (JSON.stringify(zones.slice().sort()) !== JSON.stringify(facts.privateLink[armType].zones.slice().sort())) fail(`infra/terraform: private endpoint ${pe[0]}: DNS zones ${JSON.stringify(zones)}, expected ${JSON.stringify(facts.privateLink[armType].zones)}`);
    }
  }
  if (all('azurerm_private_dns_zone_virtual_network_link').length < 2) fail('infra/terraform: the private DNS zones are not linked to the VNet');

  // No secret in outputs, no literal secret.
  for (const [name, defs] of Object.entries(tf.output)) {
    const v = String(defs[0].value);
    if (/random_(password|bytes)|access_key|_password|connection_string|kube_config|client_secret/.test(v) || defs[0].sensitive) fail(`infra/terraform: output ${name} would expose a secret`);
  }
  checkTerraformOverlay(root, { serviceAccount: saName, vaultSecrets: Object.keys(tf.locals.vault_secrets || {}) }, fail);
  for (const [rel, text] of Object.entries(texts)) {
    for (const m of text.matchAll(/"([^"\n]*)"/g)) {
      if (secretLooking.some((re) => re.test(m[1]))) fail(`${rel}: a literal that looks like a secret`);
    }
    for (const m of text.matchAll(/^\s*([a-z_]*(password|secret|access_key))\s*=\s*"([^"$]+)"/gm)) fail(`${rel}: ${m[1]} has a literal value`);
  }
}

// The AKS workload: infra/terraform/k8s rendered with kubectl's kustomize (>= 4: replacements),
// with deployment.env.example standing for `terraform output`.
// The self-test renders copies whose overlay inputs mostly did not change: render each distinct
// input once (kubectl kustomize takes about a second).
const renderCache = new Map();
function overlayInputsKey(root) {
  const h = require('crypto').createHash('sha256');
  for (const rel of ['infra/k8s', 'infra/terraform/k8s']) {
    for (const f of listFiles(path.join(root, rel), '')) {
      if (path.basename(f) === 'deployment.env') continue;
      h.update(path.relative(root, f)).update('\0').update(fs.readFileSync(f)).update('\0');
    }
  }
  return h.digest('hex');
}

function checkTerraformOverlay(root, tfFacts, fail) {
  const key = overlayInputsKey(root);
  if (!renderCache.has(key)) renderCache.set(key, renderOverlay(root));
  const r = renderCache.get(key);
  if (r.error) { fail(r.error); return; }
  checkRenderedOverlay(r.stdout, tfFacts, fail);
}

function renderOverlay(root) {
  const { spawnSync } = require('child_process');
  const dir = path.join(root, 'infra', 'terraform', 'k8s');
  const kubectl = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((k) => fs.existsSync(k));
  if (!kubectl) return { error: 'infra/terraform/k8s: kubectl not found (needed to render the overlay)' };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-k8s-'));
  try {
    for (const rel of ['infra/k8s', 'infra/terraform/k8s']) fs.cpSync(path.join(root, rel), path.join(tmp, rel), { recursive: true });
    fs.copyFileSync(path.join(dir, 'deployment.env.example'), path.join(tmp, 'infra/terraform/k8s/deployment.env'));
    const r = spawnSync(kubectl, ['kustomize', path.join(tmp, 'infra/terraform/k8s')], { encoding: 'utf8', timeout: 60000 });
    if (r.status !== 0) return { error: `infra/terraform/k8s: kubectl kustomize failed: ${(r.stderr || r.error || '').toString().split('\n').filter((l) => !/Warning/.test(l)).join(' ').slice(0, 400)}` };
    return { stdout: r.stdout };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function checkRenderedOverlay(stdout, tfFacts, fail) {
  const docs = stdout.split(/^---$/m);
  const objs = docs.map((d) => ({ kind: (/^kind: (\S+)/m.exec(d) || [])[1], name: (/^metadata:\n(?:  .*\n)*?  name: (\S+)/m.exec(d) || [])[1], text: d }));
  if (/set-by-replacement/.test(stdout)) fail('infra/terraform/k8s: a value was not replaced from deployment.env');
  for (const gone of ['redis', 'postgresql']) if (objs.some((o) => o.kind === 'Deployment' && o.name === gone)) fail(`infra/terraform/k8s: the in-cluster ${gone} is still deployed`);
  if (objs.some((o) => o.name === 'terraform-outputs')) fail('infra/terraform/k8s: the terraform-outputs ConfigMap must stay local');
  const dep = objs.find((o) => o.kind === 'Deployment' && o.name === 'orthanc');
  if (!dep || !/name: redis-tls\n/.test(dep.text)) { fail('infra/terraform/k8s: no redis-tls sidecar in the orthanc Deployment'); return; }
  const listen = (/name: LISTEN_PORT\n\s+value: "(\d+)"/.exec(dep.text) || [])[1];
  const cfg = objs.find((o) => o.kind === 'ConfigMap' && /dicomweb-oauth\.json: \|/.test(o.text));
  const url = cfg && (/"RedisUrl": "([^"]+)"/.exec(cfg.text) || [])[1];
  if (!url || url !== `redis://:\${REDIS_PASSWORD}@127.0.0.1:${listen}`) fail(`infra/terraform/k8s: RedisUrl ${url} must point at the relay on 127.0.0.1:${listen}`);
  if (!/name: REDIS_PASSWORD\n\s+valueFrom:\n\s+secretKeyRef:\n\s+key: redis-password/.test(dep.text)) fail('infra/terraform/k8s: REDIS_PASSWORD must come from the Secret');
  if (!/name: ORTHANC_POSTGRESQL_SSL\n\s+value: "true"/.test(dep.text)) fail('infra/terraform/k8s: PostgreSQL must be reached with TLS');
  const sa = objs.find((o) => o.kind === 'ServiceAccount');
  if (!sa || sa.name !== tfFacts.serviceAccount || !/azure\.workload\.identity\/client-id: 0{8}-/.test(sa.text)) fail(`infra/terraform/k8s: the ServiceAccount ${sa && sa.name} must be ${tfFacts.serviceAccount}, annotated with the client id from deployment.env`);
  if (!/azure\.workload\.identity\/use: "true"/.test(dep.text)) fail('infra/terraform/k8s: the pods must use workload identity');
  const netpol = objs.find((o) => o.kind === 'NetworkPolicy' && o.name === 'orthanc-egress-azure');
  if (!netpol || !/cidr: 10\.42\.4\.0\/24/.test(netpol.text) || !/port: 6380/.test(netpol.text) || !/port: 5432/.test(netpol.text)) fail('infra/terraform/k8s: egress to the private endpoints (443, 6380) and PostgreSQL (5432) subnets is missing');
  for (const key of (dep.text.match(/key: ([a-z-]+)/g) || []).map((k) => k.slice(5))) {
    if (!tfFacts.vaultSecrets.includes(key) && key !== 'oauth-client-secret') fail(`infra/terraform/k8s: the Secret key ${key} is not one Terraform puts into Key Vault`);
  }
}

// ---------------------------------------------------------------------------------------------

async function check(root, only) {
  const facts = JSON.parse(fs.readFileSync(path.join(__dirname, 'cloud-api-versions.json'), 'utf8'));
  const problems = [];
  const fail = (msg, parse) => problems.push(parse ? msg : `CLD-002 ${msg}`);
  if (!only || only === 'azure') checkAzure(root, facts, fail);
  if (!only || only === 'terraform') await checkTerraform(root, facts, fail);
  return problems;
}

// The self-test: each defect planted in a copy of the sources must be reported.
const defects = [
  ['infra/azure/modules/registry.bicep', "publicNetworkAccess: 'Disabled'", "publicNetworkAccess: 'Enabled'", /registries registry: properties\.publicNetworkAccess is "Enabled"/],
  ['infra/azure/modules/keyvault.bicep', 'enablePurgeProtection: true', 'enablePurgeProtection: false', /Key Vault without purge protection/],
  ['infra/azure/main.bicep', "module redisEndpoint 'modules/private-endpoint.bicep' = {", "module redisEndpoint 'modules/private-endpoint.bicep' = if (false) {", /private endpoint redisEndpoint is conditional, redis is not/],
  ['infra/azure/main.bicep', 'serviceId: redis.outputs.id', 'serviceId: redis.outputs.name', /Microsoft\.Cache\/redis \(redis\) has no private endpoint/],
  ['infra/azure/main.bicep', "groupId: 'vault'", "groupId: 'vaults'", /groupId vaults, expected vault/],
  ['infra/azure/main.bicep', "dnsZoneNames: ['privatelink.redis.cache.windows.net']", "dnsZoneNames: ['privatelink.vaultcore.azure.net']", /redisEndpoint: DNS zones/],
  ['infra/azure/modules/dicom-role.bicep', "'58a3b984-7adf-4c20-983a-32417c86fbc8'", "'b24988ac-6180-42a0-ab88-20f7382dd24c'", /role definition b24988ac-6180-42a0-ab88-20f7382dd24c is not a known built-in role/],
  ['infra/azure/main.bicep', 'scope: vaultRef\n', 'scope: registryRef\n', /Key Vault Secrets User must be scoped to a Microsoft\.KeyVault\/vaults/],
  ['infra/azure/main.bicep', 'principalId: app.outputs.principalId', 'principalId: pullIdentity.properties.principalId', /DICOM Data Owner must be granted to the Container App's system-assigned identity/],
  ['infra/azure/modules/containerapp.bicep', "type: 'SystemAssigned,UserAssigned'", "type: 'UserAssigned'", /no system-assigned identity/],
  ['infra/azure/modules/containerapp.bicep', "path: '/dicomweb-oauth/health/ready'", "path: '/dicomweb-oauth/health/readyz'", /Readiness probe path \/dicomweb-oauth\/health\/readyz/],
  ['infra/azure/modules/containerapp.bicep', "{ name: 'REDIS_PASSWORD', secretRef: 'redis-password' }\n", '', /needs \$\{REDIS_PASSWORD\}, which the orthanc container does not set/],
  ['infra/azure/modules/containerapp.bicep', "{ name: 'ORTHANC_POSTGRESQL_SSL', value: 'true' }", "{ name: 'ORTHANC_POSTGRESQL_SSL', value: 'true' }\n            { name: 'ORTHANC_POSTGRES_SSL', value: 'true' }", /env ORTHANC_POSTGRES_SSL is set but nothing reads it/],
  ['infra/azure/modules/containerapp.bicep', "{ name: 'redis-password', keyVaultUrl: '${keyVaultUri}secrets/redis-password', identity: pullIdentityId }", "{ name: 'redis-password', value: 'hunter2-hunter2' }", /secret redis-password has a value in the template/],
  ['infra/azure/main.bicep', "param probePassword string\n", "param probePassword string = '0123456789abcdef0123456789abcdef'\n", /@secure\(\) parameter probePassword has a default value/],
  ['infra/azure/main.bicep', 'output redisHostName string = redis.outputs.hostName', 'output redisHostName string = redis.outputs.hostName\noutput leaked string = probePassword', /output leaked would expose a secret/],
  ['infra/azure/modules/redis.bicep', 'enableNonSslPort: false', 'enableNonSslPort: true', /Redis: the non-TLS port is not off/],
  ['infra/azure/modules/redis.bicep', "'Microsoft.Cache/redis@2024-03-01'", "'Microsoft.Cache/redis@2024-13-01'", /Microsoft\.Cache\/redis@2024-13-01 is not in tests\/infra\/cloud-api-versions\.json/],
  ['infra/azure/modules/monitoring.bicep', 'retentionInDays: retentionInDays\n', 'retentionInDays: retentionInDays,,\n', /CLD-001 infra\/azure\/modules\/monitoring\.bicep:\d+:\d+: syntax error/],
  ['infra/azure/config/dicomweb-oauth.json', '"ProviderType": "azuremanagedidentity",', '"ProviderType": "azure", "ClientSecret": "env:X",', /must use the managed-identity provider/],
  ['infra/azure/main.bicep', '@minValue(2)\nparam minReplicas', '@minValue(1)\nparam minReplicas', /minReplicas must be a parameter with @minValue\(2\)/],
  ['infra/terraform/main.tf', 'workload_identity_enabled         = true', 'workload_identity_enabled         = false', /needs oidc_issuer_enabled and workload_identity_enabled/],
  ['infra/terraform/main.tf', 'public_network_access_enabled = false\n  redis_version', 'public_network_access_enabled = true\n  redis_version', /azurerm_redis_cache\.main: public_network_access_enabled is not false/],
  ['infra/terraform/versions.tf', 'version = "4.14.0"', 'version = "~> 4.14"', /provider azurerm is not pinned/],
  ['infra/terraform/main.tf', '${var.kubernetes_namespace}:${var.kubernetes_service_account}"', '${var.kubernetes_namespace}:default"', /federated subject/],
  ['infra/terraform/main.tf', 'subresource_names              = ["redisCache"]', 'subresource_names              = ["redis"]', /subresource \["redis"\], expected redisCache/],
  ['infra/terraform/outputs.tf', 'output "tenant_id" {', 'output "pw" {\n  description = "x"\n  value       = random_password.postgresql.result\n}\n\noutput "tenant_id" {', /output pw would expose a secret/],
  ['infra/terraform/variables.tf', 'description = "Nodes of the system pool (2 replicas of the gateway spread over them)."\n', '', /variable node_count has no description/],
  ['infra/terraform/k8s/kustomization.yaml', '  - patch: |-\n      $patch: delete\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata: {name: redis}\n', '', /the in-cluster redis is still deployed/],
  ['infra/terraform/k8s/azure-services.yaml', 'key: redis-password}', 'key: redis-passwd}', /the Secret key redis-passwd is not one Terraform puts into Key Vault/],
  ['infra/terraform/k8s/deployment.env.example', 'REDIS_HOST=', 'REDIS_HOSTNAME=', /kubectl kustomize failed|was not replaced/],
  ['infra/terraform/main.tf', '  zone                          = "1"\n', '  zone                          = "1"\n  x = {\n', /CLD-001 infra\/terraform\/main\.tf/],
];

function copyTree(src, dst, rels) {
  for (const rel of rels) {
    const s = path.join(src, rel), d = path.join(dst, rel);
    fs.mkdirSync(path.dirname(d), { recursive: true });
    if (fs.statSync(s).isDirectory()) fs.cpSync(s, d, { recursive: true, filter: (p) => !p.includes('node_modules') });
    else fs.copyFileSync(s, d);
  }
}

async function selfTest(root) {
  const needed = ['infra/azure', 'infra/terraform', 'infra/config', 'infra/k8s', 'core/src/config/ConfigKeys.cpp', 'core/src/config/ConfigParser.cpp', 'lua/providers', 'core/src/service/Health.cpp'];
  let failed = 0;
  const base = await check(root);
  if (base.length) { console.error('CLD-004 self-test: the tree itself fails, fix it first:\n' + base.join('\n')); return 1; }
  for (const [rel, from, to, expect] of defects) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-check-'));
    try {
      copyTree(root, tmp, needed);
      const f = path.join(tmp, rel);
      const text = fs.readFileSync(f, 'utf8');
      if (!text.includes(from)) { console.error(`CLD-004 self-test: ${rel} no longer contains ${JSON.stringify(from)}: update the planted defect`); failed++; continue; }
      fs.writeFileSync(f, text.replace(from, to));
      const problems = await check(tmp, rel.startsWith('infra/terraform/') ? 'terraform' : 'azure');
      const re = expect;
      const hit = problems.find((p) => re.test(p));
      if (!hit) { console.error(`CLD-004 self-test: planting ${JSON.stringify(to.slice(0, 60))} in ${rel} was not caught (expected ${re}); got:\n  ${problems.join('\n  ') || '(nothing)'}`); failed++; }
      else console.log(`caught: ${rel}: ${hit}`);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  console.log(failed ? `self-test: ${failed} of ${defects.length} planted defects not caught` : `self-test: all ${defects.length} planted defects caught`);
  return failed ? 1 : 0;
}

(async () => {
  const args = process.argv.slice(2);
  const self = args[0] === '--self-test';
  const root = path.resolve(args[self ? 1 : 0] || path.join(__dirname, '..', '..'));
  const t0 = Date.now();
  if (self) process.exit(await selfTest(root));
  const problems = await check(root);
  for (const p of problems) console.error(p);
  const n = listFiles(path.join(root, 'infra', 'azure'), '.bicep').length;
  console.log(problems.length ? `${problems.length} problem(s)` : `infra/azure (${n} Bicep files) and infra/terraform: all checks passed in ${Date.now() - t0} ms`);
  process.exit(problems.length ? 1 : 0);
})().catch((e) => { console.error(`CLD-003: ${e.stack || e}`); process.exit(2); });
