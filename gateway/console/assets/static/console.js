// cairn's console: live refresh of the overview, and the actions (upload,
// unpin, connect), which go through the API with the token the person
// entered, kept in this tab's sessionStorage and sent as a bearer header.
'use strict';
(function () {
  const tokenKey = 'cairn-api-token';
  const refreshEvery = 5000;
  const $ = (sel, el) => (el || document).querySelector(sel);

  const token = () => sessionStorage.getItem(tokenKey) || '';

  function say(text, kind) {
    const m = $('#msg');
    m.textContent = text;
    m.className = kind || '';
    m.hidden = !text;
  }

  // The API's refusals, in words a person can act on.
  function refusal(status, body) {
    const why = body && body.error ? body.error : 'HTTP ' + status;
    if (status === 401) {
      return new Error('The API refused (401): ' + (token()
        ? 'the token entered is not this node\'s. '
        : 'no API token is entered. ') +
        'Actions need the contents of the repo\'s api-token file: paste it into the token box at the top.');
    }
    return new Error(why + ' (HTTP ' + status + ')');
  }

  function authHeaders() {
    return token() ? { Authorization: 'Bearer ' + token() } : {};
  }

  async function api(method, url) {
    const r = await fetch(url, { method, headers: authHeaders(), credentials: 'omit' });
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    if (!r.ok) throw refusal(r.status, body);
    return body;
  }

  function initToken() {
    const f = $('#token-form');
    const state = $('#token-state');
    const show = () => { state.textContent = token() ? 'set for this tab' : 'not set'; };
    f.hidden = false;
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      const v = f.elements.token.value.trim();
      f.elements.token.value = '';
      if (v) sessionStorage.setItem(tokenKey, v); else sessionStorage.removeItem(tokenKey);
      show();
      say(v ? 'Token saved for this tab only.' : 'Token cleared.');
    });
    show();
  }

  // The overview re-renders its main section from the server.
  function initRefresh() {
    const main = $('#main');
    let busy = false;
    setInterval(async () => {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const r = await fetch('/?part=main', { credentials: 'omit' });
        if (r.ok) main.innerHTML = await r.text();
      } catch (_) {
        // The daemon is restarting or gone: keep the last view.
      } finally {
        busy = false;
      }
    }, refreshEvery);
  }

  // Each pin's copies, from its status, a few at a time.
  function initCopies() {
    const cells = Array.from(document.querySelectorAll('[data-copies]')).slice(0, 100);
    let next = 0;
    async function worker() {
      while (next < cells.length) {
        const td = cells[next++];
        try {
          const st = await api('GET', '/api/v1/status/' + encodeURIComponent(td.dataset.copies));
          td.textContent = st.min_live + ' of ' + st.factor;
          td.classList.toggle('low', st.min_live < st.factor);
        } catch (_) {
          td.textContent = '?';
        }
      }
    }
    for (let i = 0; i < 4; i++) worker();
  }

  function initUnpin() {
    const b = $('[data-unpin]');
    if (!b) return;
    let armed = false;
    b.addEventListener('click', async () => {
      if (!armed) {
        armed = true;
        b.textContent = 'Click again to unpin';
        return;
      }
      b.disabled = true;
      try {
        await api('DELETE', '/api/v1/pins/' + encodeURIComponent(b.dataset.unpin));
        say('Unpinned from the cluster: its blocks are freed on every node once the unpin grace is over.');
        b.textContent = 'Unpinned';
      } catch (e) {
        say(e.message, 'error');
        b.disabled = false;
        armed = false;
        b.textContent = 'Unpin from the cluster';
      }
    });
  }

  function initConnect() {
    const f = $('#connect-form');
    if (!f) return;
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      const addr = f.elements.addr.value.trim();
      try {
        const p = await api('POST', '/api/v1/peers/connect?addr=' + encodeURIComponent(addr));
        say('Connected to ' + p.ID + '.');
      } catch (err) {
        say(err.message, 'error');
      }
    });
  }

  // Uploads. A file goes alone, as the body of /api/v1/add; a folder goes
  // as multipart parts whose filenames are its paths (each element
  // escaped, as kubo's clients do), sorted so each folder's entries come
  // together.
  function post(url, body, progress) {
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open('POST', url);
      const h = authHeaders();
      for (const k in h) x.setRequestHeader(k, h[k]);
      x.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = e.loaded / e.total; };
      x.onload = () => {
        let b = null;
        try { b = JSON.parse(x.responseText); } catch (_) { /* not JSON */ }
        if (x.status >= 200 && x.status < 300) resolve(b); else reject(refusal(x.status, b));
      };
      x.onerror = () => reject(new Error('the connection to the daemon failed'));
      x.send(body);
    });
  }

  function uploadRow(name, bytes) {
    const li = document.createElement('li');
    const label = document.createElement('span');
    label.textContent = name + ' (' + bytes + ' bytes)';
    const bar = document.createElement('progress');
    bar.max = 1;
    bar.value = 0;
    const result = document.createElement('span');
    result.className = 'result';
    result.textContent = 'uploading…';
    li.append(label, bar, result);
    $('#uploads').prepend(li);
    return { bar, result };
  }

  // pinName is the name a pin may take (the set refuses over 255 bytes or
  // control characters): an odd name is no reason to fail an upload.
  function pinName(name) {
    const ok = new TextEncoder().encode(name).length <= 255 && !/[\x00\r\n]/.test(name);
    return ok ? name : '';
  }

  async function uploadOne(item) {
    const size = item.files.reduce((n, f) => n + f.file.size, 0);
    const row = uploadRow(item.name + (item.folder ? '/' : ''), size);
    let url = '/api/v1/add';
    const name = pinName(item.name);
    if (name) url += '?name=' + encodeURIComponent(name);
    let body;
    if (item.folder) {
      body = new FormData();
      item.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      for (const f of item.files) {
        body.append('file', f.file, f.path.split('/').map(encodeURIComponent).join('/'));
      }
    } else {
      body = item.files[0].file;
    }
    try {
      const res = await post(url, body, row.bar);
      row.bar.value = 1;
      row.result.textContent = 'stored, ' + res.Copies + ' durable copies: ';
      const a = document.createElement('a');
      a.href = '/console/files/' + res.Cid;
      a.textContent = res.Cid;
      a.className = 'cid';
      a.dataset.uploaded = item.name;
      row.result.append(a);
    } catch (e) {
      row.result.textContent = 'failed: ' + e.message;
      row.result.classList.add('low');
      say(e.message, 'error');
    }
  }

  // readEntry lists a dropped folder's files with their paths.
  function readEntry(entry, out) {
    if (entry.isFile) {
      return new Promise((resolve, reject) => entry.file((file) => {
        out.push({ path: entry.fullPath.replace(/^\//, ''), file });
        resolve();
      }, reject));
    }
    const reader = entry.createReader();
    return new Promise((resolve, reject) => {
      const batch = () => reader.readEntries(async (entries) => {
        if (!entries.length) return resolve();
        try {
          for (const e of entries) await readEntry(e, out);
          batch();
        } catch (err) { reject(err); }
      }, reject);
      batch();
    });
  }

  async function uploadAll(items) {
    for (const it of items) await uploadOne(it);
  }

  function initUpload() {
    const drop = $('#drop');
    if (!drop) return;
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', async (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      // Entries and files must be taken while the event lasts, each file
      // item's from itself (a drag from a page also carries text items).
      const dropped = Array.from(e.dataTransfer.items || [])
        .filter((it) => it.kind === 'file')
        .map((it) => ({ entry: it.webkitGetAsEntry ? it.webkitGetAsEntry() : null, file: it.getAsFile() }));
      const items = [];
      for (const { entry, file } of dropped) {
        if (entry && entry.isDirectory) {
          const list = [];
          try {
            await readEntry(entry, list);
          } catch (err) {
            say('Could not read the folder ' + entry.name + ': ' + err, 'error');
            continue;
          }
          if (!list.length) {
            say('The folder ' + entry.name + ' has no files: nothing to upload.', 'error');
            continue;
          }
          items.push({ name: entry.name, folder: true, files: list });
        } else if (file) {
          items.push({ name: file.name, folder: false, files: [{ path: file.name, file }] });
        }
      }
      uploadAll(items);
    });
    $('#pick-files').addEventListener('change', (e) => {
      uploadAll(Array.from(e.target.files).map((f) => ({ name: f.name, folder: false, files: [{ path: f.name, file: f }] })));
      e.target.value = '';
    });
    $('#pick-folder').addEventListener('change', (e) => {
      const byRoot = new Map();
      for (const f of e.target.files) {
        const path = f.webkitRelativePath || f.name;
        const root = path.split('/')[0];
        if (!byRoot.has(root)) byRoot.set(root, []);
        byRoot.get(root).push({ path, file: f });
      }
      uploadAll(Array.from(byRoot, ([name, files]) => ({ name, folder: true, files })));
      e.target.value = '';
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    initToken();
    const page = document.body.dataset.page;
    if (page === 'overview') initRefresh();
    if (page === 'pins') initCopies();
    initUnpin();
    initConnect();
    initUpload();
  });
})();
