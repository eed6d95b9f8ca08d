// The operator page of the DICOMweb OAuth gateway. Reads the gateway's JSON routes and posts to
// its test, dry-run and reload routes; renders with textContent only (never HTML from an answer).
(function () {
  'use strict';

  // /<prefix>/dicomweb-oauth/ui or .../ui/ -> /<prefix>/dicomweb-oauth/ (Orthanc serves both
  // spellings; a reverse proxy may add a prefix).
  var base = location.pathname.replace(/\/ui\/?(index\.html)?$/, '/');
  var orthancRoot = base.replace(/dicomweb-oauth\/$/, '');
  // Every POST carries this header: the gateway refuses browser POSTs without it, which a form on
  // another site cannot send (docs/security.md, "Cross-site requests").
  var POST_HEADERS = { 'X-Requested-By': 'dicomweb-oauth-ui', 'Content-Type': 'application/json' };

  // What to do about an error code: exact codes first, then the family.
  var ADVICE = {
    'TOK-001': 'The token expired and could not be renewed: check the identity provider (see the cause), then press Test.',
    'TOK-002': 'No token could be acquired: check TokenEndpoint, ClientId and the client secret or key, then press Test.',
    'TOK-003': 'The circuit breaker is open after repeated failures: the identity provider is left alone until it closes; fix the cause, then press Test.',
    'TOK-004': 'The identity provider answered without a usable token: check the scope/resource and the provider type.',
    'TOK-005': 'The token failed validation: check JWTPublicKey, JWTAudience, JWTIssuer and JWTAlgorithms.',
    'TOK-006': 'Unknown server: check DicomWebOAuth.Servers.',
    'TOK-007': 'Waiting for a token took the whole time budget: the identity provider is slow or unreachable.',
    'AUTH-001': 'The identity provider refused the credentials: check ClientId and the secret or key (expired or rotated?).',
    'AUTH-005': 'The identity provider is overloaded or failing (429/5xx): retries continue with back-off; check its status.',
    'NET-001': 'Cannot connect: check DNS, routes, firewalls and proxies from this Orthanc to the identity provider or upstream.',
    'NET-002': 'Timed out: the identity provider or upstream is slow or unreachable.',
    'NET-003': 'TLS failed: check certificates, CA bundle and VerifySSL.',
    'NET-004': 'Invalid request: check the configured URL.',
    'LUA-001': 'A script does not compile: fix the file and line shown, then reload (the previous scripts keep serving).',
    'LUA-003': 'A script\'s contract table is invalid: see docs/lua-api.md.',
    'LUA-011': 'A script\'s self_test failed: fix the script or its test, then reload (the previous scripts keep serving).',
    'CFG-002': 'The new scripts lack a script the configuration names: restore it, or change the configuration first.',
    'GW-429': 'Too many fresh tests for this server in the last minute: wait and try again.',
    'GW-403': 'Cross-site request refused: use this page or a client that is not a browser.'
  };
  var FAMILY_ADVICE = {
    TOK: 'Token problem: press Test for a fresh acquisition and read the cause.',
    AUTH: 'The identity provider refused: check the client credentials and their expiry.',
    NET: 'Network problem between Orthanc and the identity provider or upstream.',
    LUA: 'Script problem: fix the script named, then dry-run and reload.',
    POL: 'A routing policy refused or failed: see docs/policies.md and the Orthanc log.',
    AUD: 'Audit trail problem: check the audit file, its disk and its key (docs/audit.md).',
    PRX: 'Proxy problem: see docs/proxy-mode.md.',
    CFG: 'Configuration problem: run dicomweb-oauth check-config.',
    GW: 'Gateway problem: see the Orthanc log.'
  };

  function advice(code) {
    if (!code) return '';
    if (ADVICE[code]) return ADVICE[code];
    var family = String(code).split('-')[0];
    return FAMILY_ADVICE[family] || 'See the Orthanc log.';
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === 'text') node.textContent = attrs[k];
        else if (k === 'className') node.className = attrs[k];
        else node.setAttribute(k, attrs[k]);
      });
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  function badge(state) {
    var s = String(state || 'unknown');
    return el('span', { className: 'badge ' + s.replace(/[^a-z-]/gi, ''), text: s });
  }
  function $(id) { return document.getElementById(id); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function when(ms) { return ms ? new Date(ms).toLocaleString() : 'never'; }
  function duration(seconds) {
    if (seconds === undefined || seconds === null) return '';
    if (seconds <= 0) return 'expired';
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    return (h ? h + ' h ' : '') + (h || m ? m + ' min ' : '') + s + ' s';
  }
  function errorBlock(err) {
    if (!err || !err.code) return null;
    return el('div', null, [
      el('span', { className: 'code', text: err.code }),
      el('span', { text: ' ' + (err.message || '') }),
      el('div', { className: 'advice', text: advice(err.code) })
    ]);
  }

  function getJson(path) {
    return fetch(base + path, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) {
        return r.text().then(function (t) {
          var body = null;
          try { body = t ? JSON.parse(t) : null; } catch (e) { body = null; }
          return { status: r.status, body: body };
        });
      });
  }
  function postJson(path, body) {
    return fetch(base + path, {
      method: 'POST', credentials: 'same-origin', headers: POST_HEADERS,
      body: body === undefined ? '' : JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (t) {
        var parsed = null;
        try { parsed = t ? JSON.parse(t) : null; } catch (e) { parsed = null; }
        return { status: r.status, body: parsed };
      });
    });
  }

  function renderHealth(results) {
    var box = $('health');
    clear(box);
    ['live', 'ready', 'startup'].forEach(function (probe, i) {
      var r = results[i];
      var status = r.body && r.body.status ? r.body.status : 'HTTP ' + r.status;
      box.appendChild(el('div', { className: 'card', id: 'health-' + probe }, [
        el('div', { text: probe + ' ' }, [badge(status)]),
        el('div', { className: 'muted', text: 'HTTP ' + r.status })
      ]));
    });
  }

  function renderServers(status, servers) {
    var body = $('servers').querySelector('tbody');
    clear(body);
    var list = servers && servers.servers ? servers.servers : [];
    if (!list.length) {
      body.appendChild(el('tr', null, [el('td', { colspan: '7', className: 'muted', text: 'No server configured.' })]));
    }
    list.forEach(function (s) {
      var token = s.token || {};
      var targets = el('ul', { className: 'targets' });
      (s.targets || []).forEach(function (t) {
        var health = t.healthy === undefined ? null : badge(t.healthy ? 'healthy' : 'unhealthy');
        var failures = t.failures ? el('span', { className: 'muted', text: ' ' + t.failures + ' failure(s)' }) : null;
        targets.appendChild(el('li', null, [el('span', { text: t.name + ' ' }), health, failures,
          el('div', { className: 'mono muted', text: t.url })]));
      });
      var button = el('button', { type: 'button', className: 'test-server', 'data-server': s.name, text: 'Test' });
      button.addEventListener('click', function () { testServer(s.name, button); });
      var fetches = el('div', { className: 'muted',
        text: (token.fetchSuccesses || 0) + ' ok / ' + (token.fetchFailures || 0) + ' failed' });
      body.appendChild(el('tr', { 'data-server': s.name }, [
        el('td', null, [el('strong', { text: s.name }), el('div', { className: 'mono muted', text: s.url })]),
        el('td', null, [el('div', { text: s.provider + (s.providerType ? ' (' + s.providerType + ')' : '') }),
          el('div', { className: 'muted', text: s.mode + ' mode' + (s.policies && s.policies.length ? ', policies: ' + s.policies.join(', ') : '') })]),
        el('td', { className: 'token-state' }, [badge(token.state), fetches]),
        el('td', { className: 'expires-in', text: duration(token.expiresInSeconds) },
          token.refreshAt ? [el('div', { className: 'muted', text: 'refresh ' + new Date(token.refreshAt).toLocaleTimeString() })] : []),
        el('td', null, [targets]),
        el('td', { className: 'last-error' }, [errorBlock(token.lastError) || el('span', { className: 'muted', text: 'none' })]),
        el('td', null, [button])
      ]));
    });
  }

  function renderScripts(status) {
    var lua = status.lua || {};
    var snap = lua.snapshot || {};
    var reload = lua.lastReload || {};
    $('snapshot-version').textContent = snap.version === undefined ? '' : String(snap.version);
    $('snapshot-digest').textContent = snap.digest || '';
    $('snapshot-published').textContent = when(snap.publishedAtUnixMs);
    $('watching').textContent = lua.watching ? 'on (changes are published by themselves)' : 'off (reload by hand)';
    var last = $('last-reload');
    clear(last);
    last.appendChild(badge(reload.ok ? 'ok' : 'error'));
    last.appendChild(el('span', { text: ' ' + (reload.trigger || '') + ', ' + when(reload.atUnixMs) +
      (reload.failures ? ', ' + reload.failures + ' refused since start' : '') }));
    if (!reload.ok) last.appendChild(errorBlock(reload.error));
    var rows = $('scripts').querySelector('tbody');
    clear(rows);
    (snap.scripts || []).forEach(function (s) {
      rows.appendChild(el('tr', null, [el('td', { text: s.name }), el('td', { text: s.kind }),
        el('td', { text: s.version }), el('td', { className: 'mono', text: s.file })]));
    });
    $('scripts-summary').textContent = (snap.scripts || []).length + ' script(s) in the serving snapshot';
  }

  function renderAudit(status) {
    var a = status.audit || {};
    var box = $('audit');
    clear(box);
    function fact(name, value, node) {
      box.appendChild(el('dt', { text: name }));
      box.appendChild(node ? el('dd', null, [node]) : el('dd', { text: String(value) }));
    }
    if (!a.enabled) {
      fact('State', null, badge('none'));
      box.appendChild(el('dd', { className: 'muted', text: 'No audit trail (DicomWebOAuth.Audit is not configured).' }));
      return;
    }
    fact('State', null, badge(a.accepting === false ? 'error' : 'ok'));
    fact('File', a.file);
    fact('Chain', a.keyed ? 'keyed (HMAC)' : 'UNKEYED: set Audit.ChainKey');
    fact('Fail closed', a.failClosed ? 'yes' : 'no');
    fact('Rules', (a.rules || []).join(', ') || 'none');
    fact('Records', a.records);
    fact('Dropped', (a.droppedByRule || 0) + ' by rules, ' + (a.droppedQueueFull || 0) + ' for a full queue');
    fact('Write errors', a.writeErrors);
    fact('Rule failures', a.ruleFailures);
  }

  function showResult(box, ok, nodes) {
    box.hidden = false;
    box.className = 'result ' + (ok ? 'ok' : 'bad');
    clear(box);
    nodes.forEach(function (n) { if (n) box.appendChild(n); });
  }

  function errorOf(body, status) {
    if (body && body.error && body.error.code) return body.error;
    return { code: 'HTTP-' + status, message: 'unexpected answer' };
  }

  function testServer(name, button) {
    button.disabled = true;
    var box = $('test-result');
    postJson('servers/' + encodeURIComponent(name) + '/test', { Fresh: true }).then(function (r) {
      if (r.status === 200) {
        var b = r.body || {};
        var expires = b.expiresInSeconds !== undefined ? b.expiresInSeconds : (b.token && b.token.expiresInSeconds);
        showResult(box, true, [el('span', { text: 'Test of ' + name + ' passed: a fresh credential was acquired' +
          (expires !== undefined ? ', valid for ' + duration(expires) : '') + '.' })]);
      } else {
        showResult(box, false, [el('span', { text: 'Test of ' + name + ' failed (HTTP ' + r.status + '): ' }),
          errorBlock(errorOf(r.body, r.status))]);
      }
    }).catch(function (e) {
      showResult(box, false, [el('span', { text: 'Test of ' + name + ' could not be sent: ' + e })]);
    }).then(function () { button.disabled = false; refresh(); });
  }

  function changesList(changes) {
    var ul = el('ul', { id: 'script-changes' });
    (changes || []).forEach(function (c) {
      ul.appendChild(el('li', { text: c.change + ': ' + c.name + ' (' + c.kind + ')' +
        (c.before ? ' ' + c.before : '') + (c.before && c.after ? ' -> ' : ' ') + (c.after || '') }));
    });
    if (!(changes || []).length) ul.appendChild(el('li', { text: 'no script changed' }));
    return ul;
  }

  function dryRun() {
    var button = $('dry-run');
    button.disabled = true;
    postJson('reload/dry-run').then(function (r) {
      var b = r.body || {};
      if (r.status === 200 && b.ok) {
        showResult($('script-result'), true, [
          el('div', { text: 'Dry run passed: a reload would publish ' + (b.candidate.scripts || []).length +
            ' script(s)' + (b.changed ? '' : ' (identical to the serving snapshot)') + '. Nothing was published.' }),
          changesList(b.changes)]);
      } else {
        showResult($('script-result'), false, [el('div', { text: 'Dry run: a reload would be refused (HTTP ' +
          r.status + '); snapshot ' + ((b.serving || {}).version || '?') + ' keeps serving.' }), errorBlock(errorOf(b, r.status))]);
      }
    }).catch(function (e) {
      showResult($('script-result'), false, [el('span', { text: 'Dry run could not be sent: ' + e })]);
    }).then(function () { button.disabled = false; });
  }

  function reload() {
    var button = $('reload');
    button.disabled = true;
    postJson('reload').then(function (r) {
      var b = r.body || {};
      if (r.status === 200 && b.ok) {
        showResult($('script-result'), true, [el('div', { id: 'reload-outcome',
          text: 'Reload published snapshot version ' + b.snapshot.version + '.' })]);
      } else {
        showResult($('script-result'), false, [el('div', { id: 'reload-outcome', text: 'Reload refused (HTTP ' + r.status +
          '); snapshot ' + ((b.serving || {}).version || '?') + ' keeps serving.' }), errorBlock(errorOf(b, r.status))]);
      }
    }).catch(function (e) {
      showResult($('script-result'), false, [el('span', { text: 'Reload could not be sent: ' + e })]);
    }).then(function () { button.disabled = false; refresh(); });
  }

  var refreshing = false;
  function refresh() {
    if (refreshing) return;
    refreshing = true;
    Promise.all([getJson('status'), getJson('servers'), getJson('health/live'), getJson('health/ready'),
      getJson('health/startup')]).then(function (r) {
      var status = r[0].body || {};
      $('load-error').hidden = true;
      $('overall').textContent = status.status || ('HTTP ' + r[0].status);
      $('overall').className = 'badge ' + (status.status || 'error');
      $('plugin-version').textContent = status.plugin ? status.plugin.name + ' ' + status.plugin.version : '';
      if (status.status === 'disabled') {
        $('disabled').hidden = false;
        $('disabled').textContent = 'The gateway is disabled: ' + (status.reason || '');
        ['servers-section', 'scripts-section', 'audit-section'].forEach(function (id) { $(id).hidden = true; });
      } else {
        renderServers(status, r[1].body);
        renderScripts(status);
        renderAudit(status);
      }
      renderHealth(r.slice(2));
      document.body.setAttribute('data-loaded', String(Date.now()));
    }).catch(function (e) {
      $('load-error').hidden = false;
      $('load-error').textContent = 'Cannot read the gateway status: ' + e;
    }).then(function () { refreshing = false; });
  }

  $('refresh').addEventListener('click', refresh);
  $('dry-run').addEventListener('click', dryRun);
  $('reload').addEventListener('click', reload);
  $('explorer-link').setAttribute('href', orthancRoot + 'app/explorer.html');
  $('status-link').setAttribute('href', base + 'status');
  $('servers-link').setAttribute('href', base + 'servers');
  $('metrics-link').setAttribute('href', base + 'metrics');
  setInterval(function () { if ($('auto-refresh').checked) refresh(); }, 5000);
  refresh();
})();
