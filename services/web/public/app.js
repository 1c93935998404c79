// The bitween dashboard: plain DOM, no build step. Everything shown is set with textContent, never parsed
// as markup: share names, sizes and JIDs come from contacts and are untrusted.
'use strict';

(() => {
  const TOKEN_KEY = 'bitween-token';
  const $ = (id) => document.getElementById(id);

  // A link like http://host:8737/?token=… hands the token over once; it is kept for this tab and removed
  // from the address bar (and from history) at once.
  const params = new URLSearchParams(location.search);
  if (params.has('token')) {
    sessionStorage.setItem(TOKEN_KEY, params.get('token'));
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
  }

  // ---- formatting -------------------------------------------------------------------------------------
  const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  function formatSize(bytes) {
    if (typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0) return '–';
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < UNITS.length - 1) { value /= 1024; unit++; }
    if (unit === 0) return `${value} B`;
    return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${UNITS[unit]}`;
  }
  const formatRate = (v) => (typeof v === 'number' && v > 0 ? `${formatSize(Math.round(v))}/s` : '–');
  function formatPercent(fraction) {
    if (typeof fraction !== 'number' || !Number.isFinite(fraction)) return '–';
    if (fraction >= 1) return '100%';
    return `${Math.min(Math.floor(fraction * 1000) / 10, 99.9).toFixed(1)}%`;
  }

  /** An element with text children only (strings become text nodes, never markup). */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === 'className') node.className = value;
      else if (name === 'title') node.title = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    return node;
  }

  function say(text, kind = 'error') {
    const list = $('messages');
    const item = el('li', { className: kind }, text);
    list.prepend(item);
    while (list.children.length > 5) list.lastChild.remove();
    setTimeout(() => item.remove(), kind === 'error' ? 20000 : 6000);
    return item;
  }

  // ---- the API ----------------------------------------------------------------------------------------
  function authHeaders() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  class Unauthorized extends Error {}

  async function api(method, path, body) {
    const headers = authHeaders();
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, { method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 401) {
      showLogin();
      throw new Unauthorized('the token is missing or wrong');
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || `${res.status} ${res.statusText}`);
    return data;
  }

  /** Payloads of actions this page sent, to recognise the service's `error` report that echoes one. */
  const sent = new Map();
  /** Actions whose POST has not answered yet: the service's report may overtake the answer. */
  const inFlight = new Set();

  function act(what, path, body, note) {
    const done = (async () => {
      try {
        const { topic, payload } = await api('POST', path, body);
        // The note ("hashing …") goes away if the service refuses the request.
        sent.set(`${topic} ${payload}`, { what, note: note ? say(note, 'info') : undefined });
        if (sent.size > 100) sent.delete(sent.keys().next().value);
        return true;
      } catch (err) {
        if (!(err instanceof Unauthorized)) say(`${what}: ${err.message}`);
        return false;
      }
    })();
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
    return done;
  }

  /** The action of this page a report answers: its payload is what the page sent, or the head of it when cut. */
  function sentFor(r) {
    const exact = sent.get(`${r.topic} ${r.payload}`);
    if (exact) return exact;
    const cut = /…\[cut: \d+ bytes\]$/.exec(r.payload);
    if (!cut) return undefined;
    const head = `${r.topic} ${r.payload.slice(0, cut.index)}`;
    for (const [key, value] of sent) if (key.startsWith(head)) return value;
    return undefined;
  }

  // The page branches on a report's code (README "The bus" lists them), never on its text.
  /** What to do about it, for codes where the service's line alone does not say. */
  const CODE_HINTS = {
    E_STORE_DOWN: 'the database is unreachable; the service keeps what it has and retries',
    E_DISK_FULL: 'the disk is full: free some space, then recheck the torrent',
    E_INTERNAL: 'an unexpected failure: the service log has the details',
  };
  /** Refusals of oversized or too deeply nested payloads concern the program that sent them, not this page. */
  const SENDERS_ONLY = new Set(['E_TOO_LARGE', 'E_TOO_DEEP']);

  async function reportError(r) {
    if (!r) return;
    if (!sentFor(r) && inFlight.size > 0) await Promise.allSettled([...inFlight]);
    const mine = sentFor(r);
    if (!mine && SENDERS_ONLY.has(r.code)) return;
    mine?.note?.remove();
    const hint = CODE_HINTS[r.code] ? ` (${CODE_HINTS[r.code]})` : '';
    say(mine ? `${mine.what}: ${r.error}${hint}` : `${r.service} (${r.topic}): ${r.error}${hint}`);
  }

  // ---- own torrents -----------------------------------------------------------------------------------
  /** infoHash → view from /api/torrents, with live figures from torrent_progress. */
  let torrents = new Map();
  const torrentRows = new Map();

  function torrentRow(hash) {
    const cells = {
      name: el('td', { className: 'name' }),
      size: el('td', { className: 'num size' }),
      bar: el('progress', { max: '1', value: '0' }),
      pct: el('span', { className: 'pct' }),
      state: el('td', { className: 'state' }),
      status: el('span', { className: 'status' }),
      // Why a torrent is in error / missing / changed state: the service's one line (set as text).
      reason: el('div', { className: 'reason' }),
      speed: el('td', { className: 'num speed' }),
      peers: el('td', { className: 'num peers' }),
    };
    const remove = el('button', { type: 'button', className: 'remove', title: 'stop sharing; keep the files' }, 'Remove');
    // Only downloads can be deleted: the torrent service never deletes a share's originals.
    const purge = el('button', { type: 'button', className: 'delete', title: 'remove and delete the downloaded files' }, 'Delete');
    // Only for torrents in error / missing / changed state: verify what is on disk, then seed or continue.
    const recheck = el('button', { type: 'button', className: 'recheck', title: 'verify what is on disk, then seed or continue' }, 'Recheck');
    recheck.addEventListener('click', () => recheckTorrent(hash));
    cells.state.append(cells.status, cells.reason);
    remove.addEventListener('click', () => removeTorrent(hash, false));
    purge.addEventListener('click', () => removeTorrent(hash, true));
    const tr = el('tr', { 'data-hash': hash }, cells.name, cells.size, el('td', {}, cells.bar, cells.pct), cells.state, cells.speed, cells.peers,
      el('td', {}, recheck, remove, purge));
    torrentRows.set(hash, { tr, cells: { ...cells, purge, recheck } });
    return tr;
  }

  function updateTorrentRow(t) {
    const { tr, cells } = torrentRows.get(t.infoHash);
    cells.name.textContent = t.name ?? '(fetching metadata…)';
    cells.name.title = `${t.infoHash}\n${t.savePath}`;
    cells.size.textContent = formatSize(t.size);
    cells.bar.value = typeof t.progress === 'number' ? t.progress : 0;
    if (typeof t.progress !== 'number') cells.bar.removeAttribute('value');
    cells.pct.textContent = formatPercent(t.progress);
    const failed = FAILED.has(t.status);
    cells.status.textContent = t.status;
    cells.reason.textContent = failed ? t.errorReason ?? '' : '';
    cells.reason.hidden = !failed;
    cells.recheck.hidden = !failed;
    cells.recheck.disabled = rechecking.has(t.infoHash);
    tr.classList.toggle('failed', failed);
    cells.speed.textContent = t.status === 'seeding' ? '–' : formatRate(t.downloadSpeed);
    cells.peers.textContent = typeof t.peers === 'number' ? String(t.peers) : '–';
    cells.purge.hidden = t.origin !== 'fetched';
  }

  function renderTorrents() {
    const body = $('torrents').tBodies[0];
    for (const [hash, { tr }] of torrentRows) {
      if (!torrents.has(hash)) {
        tr.remove();
        torrentRows.delete(hash);
      }
    }
    for (const t of torrents.values()) {
      const tr = torrentRows.get(t.infoHash)?.tr ?? torrentRow(t.infoHash);
      updateTorrentRow(t);
      if (tr.parentNode !== body) body.append(tr);
    }
    $('torrents-empty').hidden = torrents.size > 0;
  }

  async function loadTorrents() {
    const list = await api('GET', '/api/torrents');
    const next = new Map();
    for (const t of list) {
      const old = torrents.get(t.infoHash);
      next.set(t.infoHash, { ...t, downloadSpeed: old?.downloadSpeed, peers: old?.peers });
    }
    torrents = next;
    renderTorrents();
  }

  function onProgress([hash, bytesDone, totalSize, downloadSpeed, peers]) {
    const t = torrents.get(hash);
    if (!t || t.name === null) {
      schedule('torrents'); // new here, or the metadata just arrived: the store has the name now
      return;
    }
    if (typeof bytesDone !== 'number' || typeof totalSize !== 'number') return;
    Object.assign(t, { bytesDone, size: totalSize, progress: totalSize > 0 ? Math.min(1, bytesDone / totalSize) : 1, downloadSpeed, peers });
    if (t.status === 'metadata') t.status = 'downloading';
    updateTorrentRow(t);
  }

  /** States in which a torrent has stopped and waits for the user: a recheck or a removal. */
  const FAILED = new Set(['error', 'missing', 'changed']);
  /** Hashes this page asked to recheck: their outcome (torrent_added or torrent_error) is said in one line. */
  const rechecking = new Set();

  async function recheckTorrent(hash) {
    const t = torrents.get(hash);
    const name = t?.name ?? hash;
    rechecking.add(hash);
    if (t) updateTorrentRow(t);
    if (!(await act(`rechecking ${name}`, '/api/recheck', { hash }))) {
      rechecking.delete(hash);
      if (torrents.has(hash)) updateTorrentRow(torrents.get(hash));
    }
  }

  /** The service's answer to a recheck this page asked for (a refusal on `error` is said by reportError). */
  function onRecheckOutcome(event) {
    let hash = event.args[0];
    if (event.topic === 'error') {
      if (event.report?.topic !== 'recheck') return;
      try {
        hash = event.report.info_hash ?? JSON.parse(event.report.payload).args[0];
      } catch {
        return;
      }
    }
    if (event.topic === 'torrent_added' && typeof event.kwargs.status !== 'string') return; // a share or a fetch, not a recheck
    if (!rechecking.delete(hash)) return;
    const t = torrents.get(hash);
    if (t) updateTorrentRow(t);
    const name = t?.name ?? hash;
    const detail = event.args[1];
    if (event.topic === 'torrent_added') say(`${name}: ${event.kwargs.status === 'seeding' ? 'all there, seeding again' : `back, ${event.kwargs.status}`}`, 'info');
    else if (event.topic === 'torrent_error') say(`${name} is still ${event.kwargs.status ?? 'in error'}: ${detail?.reason ?? detail?.code ?? 'no reason given'}`);
  }

  function removeTorrent(hash, deleteFiles) {
    const t = torrents.get(hash);
    const name = t?.name ?? hash;
    if (deleteFiles && !confirm(`Delete the downloaded files of ${name} from this machine?`)) return;
    void act(`removing ${name}`, '/api/remove', { hash, deleteFiles });
  }

  $('share-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('share-path');
    const path = input.value.trim();
    if (await act(`sharing ${path}`, '/api/share', { path }, `hashing ${path} …`)) input.value = '';
  });

  // ---- contacts' shares -------------------------------------------------------------------------------
  function shareRow(share) {
    const offered = el('td', { className: 'contacts' });
    for (const c of share.contacts) {
      offered.append(el('span', { className: `contact ${c.online ? 'online' : 'offline'}`, title: c.resources.join(', ') }, c.jid));
    }
    const action = el('td', { className: 'action' });
    if (share.own) {
      action.append(el('span', { className: 'own' }, share.own === 'seeding' ? 'have it' : 'fetching'));
    } else {
      const button = el('button', { type: 'button', className: 'download' }, 'Download');
      // Offline offers can be queued too: the torrent service dials contacts as their addresses arrive.
      if (!share.online) button.title = 'no contact offering it is online: the download starts when one is';
      button.addEventListener('click', async () => {
        button.disabled = true;
        button.textContent = 'Requested…';
        if (!(await act(`downloading ${share.name}`, '/api/get', { hash: share.infoHash }))) {
          button.disabled = false;
          button.textContent = 'Download';
        }
      });
      action.append(button);
    }
    return el('tr', { 'data-hash': share.infoHash },
      el('td', { className: 'name', title: share.infoHash }, share.name),
      el('td', { className: 'num size' }, formatSize(share.size)),
      offered,
      action);
  }

  let sharesRequest = 0;
  async function loadShares() {
    const mine = ++sharesRequest;
    const q = $('search').value.trim();
    const list = await api('GET', `/api/shares${q ? `?q=${encodeURIComponent(q)}` : ''}`);
    if (mine !== sharesRequest) return; // a newer search answered first
    $('shares').tBodies[0].replaceChildren(...list.map(shareRow));
    $('shares-empty').hidden = list.length > 0;
  }

  let searchTimer;
  $('search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => schedule('shares'), 200);
  });

  // ---- status -----------------------------------------------------------------------------------------
  function factSummary(facts) {
    return Object.entries(facts)
      .filter(([, v]) => v === null || ['string', 'number', 'boolean'].includes(typeof v))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  }

  function renderStatus(status) {
    const items = status.services.map((s) => {
      const since = s.startedAt ? `since ${new Date(s.startedAt).toLocaleString()}` : '';
      return el('li', { className: s.up ? 'up' : 'down', 'data-service': s.name, title: s.up ? `pid ${s.pid} ${since}\n${factSummary(s.facts)}` : 'not running' },
        `${s.name} ${s.up ? 'up' : 'down'}`);
    });
    items.push(el('li', { className: status.store.up ? 'up' : 'down', 'data-service': 'store', title: status.store.error ?? '' },
      `store ${status.store.up ? 'up' : 'down'}`));
    $('services').replaceChildren(...items);
  }

  // ---- live updates -----------------------------------------------------------------------------------
  const loaders = { torrents: loadTorrents, shares: loadShares, status: async () => renderStatus(await api('GET', '/api/status')) };
  const due = new Set();
  let flushing;
  /** Coalesces reloads: a burst of events costs one request per list. */
  function schedule(...lists) {
    for (const l of lists) due.add(l);
    flushing ??= new Promise((resolve) => setTimeout(resolve, 50)).then(async () => {
      const now = [...due];
      due.clear();
      flushing = undefined;
      await Promise.all(now.map((l) => loaders[l]().catch((err) => {
        if (!(err instanceof Unauthorized)) say(`could not load ${l}: ${err.message}`);
      })));
    });
    return flushing;
  }

  function onBus(event) {
    switch (event.topic) {
      case 'torrent_progress':
        onProgress(event.args);
        break;
      case 'torrent_error':
        onRecheckOutcome(event);
        schedule('torrents');
        break;
      case 'torrent_added':
        onRecheckOutcome(event);
        schedule('torrents', 'shares');
        break;
      case 'torrent_done':
      case 'torrent_removed':
        schedule('torrents', 'shares');
        break;
      case 'shares_updated':
        schedule('shares');
        break;
      case 'bt_ready':
        schedule('torrents');
        break;
      case 'error':
        onRecheckOutcome(event);
        void reportError(event.report);
        break;
    }
  }

  function setLive(state, text) {
    $('live').dataset.state = state;
    $('live').textContent = text;
  }

  function onFrame(block) {
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data += line.slice(5).trim();
    }
    if (!data) return;
    const value = JSON.parse(data);
    if (event === 'hello') {
      // Subscribed: load the lists now, so no event between load and subscription is lost.
      void schedule('torrents', 'shares', 'status').then(() => setLive('live', 'live'));
    } else if (event === 'status') {
      renderStatus(value);
    } else if (event === 'bus') {
      onBus(value);
    }
  }

  /** Server-sent events over fetch (EventSource cannot send the Authorization header); reconnects. */
  let listening = false;
  async function listen() {
    if (listening) return;
    listening = true;
    for (;;) {
      try {
        const res = await fetch('/api/events', { headers: authHeaders(), cache: 'no-store' });
        if (res.status === 401) {
          showLogin();
          break;
        }
        if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            onFrame(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch {
        // the service restarted or the network blinked: try again below
      }
      setLive('connecting', 'reconnecting…');
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    listening = false;
  }

  function showLogin() {
    setLive('locked', 'token needed');
    $('login').hidden = false;
    $('login-token').focus();
  }

  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('login-token').value);
    $('login-token').value = '';
    $('login').hidden = true;
    void listen();
  });

  void listen();
})();
