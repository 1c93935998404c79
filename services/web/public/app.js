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
  const formatRate = (v) => (typeof v === 'number' && v >= 0 ? `${formatSize(Math.round(v))}/s` : '–');
  const formatLimit = (v) => (typeof v === 'number' && v > 0 ? formatRate(v) : 'none');
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

  const button = (label, className, title, onClick) => {
    const b = el('button', { type: 'button', className, ...(title ? { title } : {}) }, label);
    b.addEventListener('click', onClick);
    return b;
  };

  /** A line in the message list; `sticky` lines stay until their caller removes them. */
  function say(text, kind = 'error', sticky = false) {
    const list = $('messages');
    const item = el('li', { className: kind }, text);
    list.prepend(item);
    while (list.children.length > 6) list.lastChild.remove();
    if (!sticky) setTimeout(() => item.remove(), kind === 'error' ? 20000 : 6000);
    return item;
  }

  // ---- copying hashes ---------------------------------------------------------------------------------
  /** The full hash as text (selectable) and a Copy button that carries it in data-copy. */
  function hashLine(hash) {
    const code = el('code', { className: 'hash' }, hash);
    const copy = button('Copy', 'copy', 'copy the info-hash', () => void copyText(hash, code, copy));
    copy.dataset.copy = hash;
    return el('div', { className: 'hash-line' }, code, copy);
  }

  async function copyText(text, source, btn) {
    let ok = false;
    try {
      // Only in a secure context (loopback or https); over plain http on a LAN the selection below does it.
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch {
      const range = document.createRange();
      range.selectNodeContents(source);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      try { ok = document.execCommand('copy'); } catch { ok = false; }
    }
    btn.textContent = ok ? 'Copied' : 'Selected: press Ctrl+C';
    setTimeout(() => (btn.textContent = 'Copy'), 1500);
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
  /**
   * Notes that stay while the service works ("hashing …"): each goes when its outcome arrives on the bus
   * (`settles`), when the service refuses the request, or when the torrent service restarts under it.
   */
  const pending = new Set();

  /** `note`: { text, settles(event) } for a sticky line that waits for the outcome. */
  function act(what, path, body, note) {
    // The note is up before the request goes: a quick outcome may arrive before the POST's answer.
    const waiting = note ? { item: say(note.text, 'info', true), settles: note.settles, what } : undefined;
    if (waiting) pending.add(waiting);
    const done = (async () => {
      try {
        const { topic, payload } = await api('POST', path, body);
        sent.set(`${topic} ${payload}`, { what, note: waiting });
        if (sent.size > 100) sent.delete(sent.keys().next().value);
        return true;
      } catch (err) {
        if (waiting) settle(waiting);
        if (!(err instanceof Unauthorized)) say(`${what}: ${err.message}`);
        return false;
      }
    })();
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
    return done;
  }

  function settle(note) {
    note.item.remove();
    pending.delete(note);
  }


  /** A bus event may be the outcome a sticky note waits for. */
  function settleNotes(event) {
    for (const note of [...pending]) if (note.settles(event)) settle(note);
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
    if (mine?.note) settle(mine.note);
    const hint = CODE_HINTS[r.code] ? ` (${CODE_HINTS[r.code]})` : '';
    say(mine ? `${mine.what}: ${r.error}${hint}` : `${r.service} (${r.topic}): ${r.error}${hint}`);
  }

  // ---- own torrents -----------------------------------------------------------------------------------
  /** infoHash → view from /api/torrents. */
  let torrents = new Map();
  const torrentRows = new Map();
  /**
   * infoHash → { downloadSpeed, uploadSpeed, peers }: live figures from torrent_progress and from the torrent
   * service's heartbeat (`transfers`, every 2 s, also for seeds with peers). Kept apart from the list, so a
   * reload of /api/torrents does not blank them.
   */
  const live = new Map();
  /** Whether the torrent service's heartbeat is there: without it no figure is known ('–'). */
  let torrentUp = false;

  /** States in which a torrent has stopped and waits for the user: a recheck or a removal. */
  const FAILED = new Set(['error', 'missing', 'changed']);
  /** Hashes this page asked to recheck: their outcome (torrent_added or torrent_error) is said in one line. */
  const rechecking = new Set();
  /** Hashes whose pause / resume was asked and not answered yet (the button waits). */
  const toggling = new Set();

  function torrentRow(hash) {
    const cells = {
      name: el('td', { className: 'name', 'data-label': 'Name' }),
      title: el('div', { className: 'title' }),
      size: el('td', { className: 'num size', 'data-label': 'Size' }),
      bar: el('progress', { max: '1', value: '0' }),
      pct: el('span', { className: 'pct' }),
      state: el('td', { className: 'state', 'data-label': 'State' }),
      status: el('span', { className: 'status' }),
      paused: el('span', { className: 'paused-mark' }),
      // Why a torrent is in error / missing / changed state: the service's one line (set as text).
      reason: el('div', { className: 'reason' }),
      speed: el('td', { className: 'num speed', 'data-label': 'Speed' }),
      peers: el('td', { className: 'num peers', 'data-label': 'Peers' }),
    };
    cells.name.append(cells.title, hashLine(hash));
    cells.state.append(cells.status, cells.paused, cells.reason);
    const pause = button('Pause', 'pause', 'stop transferring until resumed (kept across restarts)', () => togglePause(hash));
    // Only for torrents in error / missing / changed state: verify what is on disk, then seed or continue.
    const recheck = button('Recheck', 'recheck', 'verify what is on disk, then seed or continue', () => recheckTorrent(hash));
    const remove = button('Remove', 'remove', 'stop sharing; keep the files', () => removeTorrent(hash, false));
    // Only downloads can be deleted: the torrent service never deletes a share's originals.
    const purge = button('Delete', 'delete', 'remove and delete the downloaded files', () => removeTorrent(hash, true));
    const tr = el('tr', { 'data-hash': hash }, cells.name, cells.size,
      el('td', { className: 'progress', 'data-label': 'Progress' }, cells.bar, cells.pct), cells.state, cells.speed, cells.peers,
      el('td', { className: 'actions' }, pause, recheck, remove, purge));
    torrentRows.set(hash, { tr, cells: { ...cells, pause, purge, recheck } });
    return tr;
  }

  /** Speed and peers as known now: '–' only where nothing can be known (stopped, failed, service down). */
  function liveText(t) {
    if (t.paused || FAILED.has(t.status) || !torrentUp) return { speed: '–', peers: '–' };
    const f = live.get(t.infoHash) ?? { downloadSpeed: 0, uploadSpeed: 0, peers: 0 };
    const parts = [];
    if (t.status !== 'seeding') parts.push(`↓ ${formatRate(f.downloadSpeed ?? 0)}`);
    if (t.status === 'seeding' || f.uploadSpeed > 0) parts.push(`↑ ${formatRate(f.uploadSpeed ?? 0)}`);
    return { speed: parts.join(' '), peers: String(f.peers ?? 0) };
  }

  function updateTorrentRow(t) {
    const { tr, cells } = torrentRows.get(t.infoHash);
    cells.title.textContent = t.name ?? '(fetching metadata…)';
    cells.title.title = t.savePath;
    cells.size.textContent = formatSize(t.size);
    cells.bar.value = typeof t.progress === 'number' ? t.progress : 0;
    if (typeof t.progress !== 'number') cells.bar.removeAttribute('value');
    cells.pct.textContent = formatPercent(t.progress);
    const failed = FAILED.has(t.status);
    cells.status.textContent = t.status;
    cells.paused.textContent = t.paused ? ' (paused)' : '';
    cells.reason.textContent = failed ? t.errorReason ?? '' : '';
    cells.reason.hidden = !failed;
    cells.recheck.hidden = !failed;
    cells.recheck.disabled = rechecking.has(t.infoHash);
    cells.pause.hidden = failed;
    cells.pause.textContent = t.paused ? 'Resume' : 'Pause';
    cells.pause.className = t.paused ? 'resume' : 'pause';
    cells.pause.disabled = toggling.has(t.infoHash);
    tr.classList.toggle('failed', failed);
    tr.classList.toggle('is-paused', t.paused === true);
    const { speed, peers } = liveText(t);
    cells.speed.textContent = speed;
    cells.peers.textContent = peers;
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

  /** Reads of the list started so far, and pause / resume answers newer than some of them (hash → answer). */
  let listReads = 0;
  const pauseAnswers = new Map();

  async function loadTorrents() {
    const read = ++listReads;
    const list = await api('GET', '/api/torrents');
    torrents = new Map(list.map((t) => [t.infoHash, t]));
    // A list read before a torrent_paused / torrent_resumed answer came may still show the old state: the answer
    // wins over it; a list read after the answer is the newer word.
    for (const [hash, answer] of pauseAnswers) {
      if (answer.afterRead < read) pauseAnswers.delete(hash);
      else if (torrents.has(hash)) torrents.get(hash).paused = answer.paused;
    }
    for (const hash of live.keys()) if (!torrents.has(hash)) live.delete(hash);
    renderTorrents();
  }

  function onProgress([hash, bytesDone, totalSize, downloadSpeed, peers]) {
    const t = torrents.get(hash);
    if (typeof downloadSpeed === 'number' || typeof peers === 'number') {
      live.set(hash, { ...live.get(hash), downloadSpeed, peers });
    }
    if (!t || t.name === null) {
      schedule('torrents'); // new here, or the metadata just arrived: the store has the name now
      return;
    }
    if (typeof bytesDone !== 'number' || typeof totalSize !== 'number') return;
    Object.assign(t, { bytesDone, size: totalSize, progress: totalSize > 0 ? Math.min(1, bytesDone / totalSize) : 1 });
    if (t.status === 'metadata') t.status = 'downloading';
    updateTorrentRow(t);
  }

  /** The torrent service's heartbeat: per-torrent figures for what moves, totals for the header. */
  function onTorrentFacts(service) {
    torrentUp = service?.up === true;
    const facts = service?.facts ?? {};
    const transfers = Array.isArray(facts.transfers) ? facts.transfers : [];
    const seen = new Set();
    for (const x of transfers) {
      if (typeof x?.infoHash !== 'string') continue;
      seen.add(x.infoHash);
      live.set(x.infoHash, { downloadSpeed: x.downloadSpeed, uploadSpeed: x.uploadSpeed, peers: x.peers });
    }
    // Not listed: finished and without peers, so nothing moves.
    for (const hash of live.keys()) if (!seen.has(hash)) live.set(hash, { downloadSpeed: 0, uploadSpeed: 0, peers: 0 });
    for (const t of torrents.values()) updateTorrentRow(t);
    $('totals').textContent = torrentUp && typeof facts.downloadSpeed === 'number'
      ? `↓ ${formatRate(facts.downloadSpeed)} ↑ ${formatRate(facts.uploadSpeed)} · ${facts.peers ?? 0} peer${facts.peers === 1 ? '' : 's'}`
      : '';
  }

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

  async function togglePause(hash) {
    const t = torrents.get(hash);
    if (!t) return;
    const resume = t.paused === true;
    toggling.add(hash);
    updateTorrentRow(t);
    const ok = await act(`${resume ? 'resuming' : 'pausing'} ${t.name ?? hash}`, resume ? '/api/resume' : '/api/pause', { hash });
    if (!ok) {
      toggling.delete(hash);
      if (torrents.has(hash)) updateTorrentRow(torrents.get(hash));
    }
  }

  /** torrent_paused / torrent_resumed, or a refusal of pause / resume on `error`: the button is free again. */
  function onPauseOutcome(event) {
    const hash = event.topic === 'error' ? event.report?.info_hash : event.args[0];
    if (typeof hash !== 'string' || !toggling.delete(hash)) return;
    const t = torrents.get(hash);
    if (t && event.topic !== 'error') {
      t.paused = event.topic === 'torrent_paused';
      pauseAnswers.set(hash, { paused: t.paused, afterRead: listReads });
    }
    if (t) updateTorrentRow(t);
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
    // Hashing a big folder takes a while: the note stays until torrent_added names the path as asked (its
    // `path`; `realPath` is where a link led), or the service refuses it, or the service restarts under it.
    const note = {
      text: `hashing ${path} …`,
      settles: (e) => e.topic === 'torrent_added' && (e.kwargs.path === path || e.kwargs.realPath === path),
    };
    if (await act(`sharing ${path}`, '/api/share', { path }, note)) input.value = '';
  });

  // ---- get by hash ------------------------------------------------------------------------------------
  const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  /** 40 hex characters, 32 base32 ones, or a magnet link with either: the hex info-hash, or undefined. */
  function parseHashInput(text) {
    let value = text.trim();
    if (/^magnet:\?/i.test(value)) {
      const xt = new URLSearchParams(value.slice(8)).getAll('xt').find((x) => /^urn:btih:/i.test(x));
      if (!xt) return undefined;
      value = xt.slice(9);
    }
    if (/^[0-9a-f]{40}$/i.test(value)) return value.toLowerCase();
    if (/^[A-Z2-7]{32}$/i.test(value)) {
      let bits = '';
      for (const c of value.toUpperCase()) bits += BASE32.indexOf(c).toString(2).padStart(5, '0');
      return bits.match(/.{4}/g).map((b) => parseInt(b, 2).toString(16)).join('');
    }
    return undefined;
  }

  $('get-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('get-hash');
    const hash = parseHashInput(input.value);
    if (!hash) {
      say(`"${input.value.trim().slice(0, 80)}" is not an info-hash (40 hex characters) or a magnet link with one`);
      return;
    }
    const note = { text: `asking for ${hash} …`, settles: (e) => e.topic === 'torrent_added' && e.args[0] === hash };
    if (await act(`getting ${hash}`, '/api/get', { hash }, note)) input.value = '';
  });

  // ---- contacts' shares -------------------------------------------------------------------------------
  function shareRow(share) {
    const offered = el('td', { className: 'contacts', 'data-label': 'Offered by' });
    for (const c of share.contacts) {
      offered.append(el('span', { className: `contact ${c.online ? 'online' : 'offline'}`, title: c.resources.join(', ') }, c.jid));
    }
    const action = el('td', { className: 'action' });
    if (share.own) {
      action.append(el('span', { className: 'own' }, share.own === 'seeding' ? 'have it' : 'fetching'));
    } else {
      const download = el('button', { type: 'button', className: 'download' }, 'Download');
      // Offline offers can be queued too: the torrent service dials contacts as their addresses arrive.
      if (!share.online) download.title = 'no contact offering it is online: the download starts when one is';
      download.addEventListener('click', async () => {
        download.disabled = true;
        download.textContent = 'Requested…';
        if (!(await act(`downloading ${share.name}`, '/api/get', { hash: share.infoHash }))) {
          download.disabled = false;
          download.textContent = 'Download';
        }
      });
      action.append(download);
    }
    return el('tr', { 'data-hash': share.infoHash },
      el('td', { className: 'name', 'data-label': 'Name' }, el('div', { className: 'title' }, share.name), hashLine(share.infoHash)),
      el('td', { className: 'num size', 'data-label': 'Size' }, formatSize(share.size)),
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

  // ---- contacts ---------------------------------------------------------------------------------------
  // The relation in the words `bitween contacts` uses (cli/contacts.ts).
  /** They asked to see our presence and we have not answered. */
  const asksUs = (c) => c.pendingIn && (c.subscription === 'none' || c.subscription === 'to');
  /** We asked to see theirs and they have not answered. */
  const waitsForThem = (c) => c.pendingOut && (c.subscription === 'none' || c.subscription === 'from');
  /** Presence is seen only with a subscription to theirs: otherwise whether they are online is unknown. */
  const seesPresence = (c) => c.subscription === 'to' || c.subscription === 'both';
  function relation(c) {
    if (c.subscription === 'both') return 'contact';
    if (asksUs(c)) return 'asks to be your contact';
    if (waitsForThem(c)) return 'waiting for them to accept';
    if (c.subscription === 'to') return 'you see them';
    if (c.subscription === 'from') return 'they see you';
    return 'none';
  }

  /** Contacts this page just asked about: their buttons wait until the roster in the store changes. */
  const contactBusy = new Set();

  function contactAction(verb, jid, path) {
    contactBusy.add(jid);
    schedule('contacts');
    void act(`${verb} ${jid}`, path, { jid }).then((ok) => {
      // The xmpp service answers through the roster in the store: look again shortly (a refused request
      // that never was in the server's roster publishes no event).
      if (ok) for (const ms of [500, 2000, 5000]) setTimeout(() => schedule('contacts'), ms);
      setTimeout(() => { contactBusy.delete(jid); schedule('contacts'); }, ok ? 2000 : 0);
    });
  }

  function requestItem(c) {
    const accept = button('Accept', 'accept', 'see each other\'s shares (add_contact)', () => contactAction('accepting', c.jid, '/api/contacts/add'));
    const refuse = button('Refuse', 'refuse', 'decline (remove_contact)', () => contactAction('refusing', c.jid, '/api/contacts/remove'));
    accept.disabled = refuse.disabled = contactBusy.has(c.jid);
    return el('li', { 'data-jid': c.jid, className: 'request' },
      el('span', { className: 'jid' }, c.jid), el('span', { className: 'relation' }, 'asks to be your contact'),
      el('span', { className: 'buttons' }, accept, refuse));
  }

  function rosterItem(c) {
    const asked = waitsForThem(c) && c.subscription !== 'from';
    const remove = asked
      ? button('Withdraw', 'remove', 'withdraw your request (remove_contact)', () => contactAction('withdrawing the request to', c.jid, '/api/contacts/remove'))
      : button('Remove', 'remove', 'end the subscription both ways; their shares go', () => {
        if (confirm(`Remove ${c.jid} from your contacts? Their shares disappear from this list.`)) contactAction('removing', c.jid, '/api/contacts/remove');
      });
    remove.disabled = contactBusy.has(c.jid);
    const presence = seesPresence(c) ? (c.online ? 'online' : 'offline') : 'unknown';
    return el('li', { 'data-jid': c.jid, className: `${presence}${asked ? ' asked' : ''}` },
      el('span', { className: 'jid', title: presence === 'unknown' ? 'online or not: seen only once they accept' : presence }, c.jid),
      el('span', { className: 'relation' }, `${relation(c)} · ${c.shares} share${c.shares === 1 ? '' : 's'}`),
      el('span', { className: 'buttons' }, remove));
  }

  async function loadContacts() {
    const list = await api('GET', '/api/contacts');
    const asking = list.filter(asksUs);
    // Online first, then the rest by address.
    const others = list.filter((c) => !asksUs(c))
      .sort((a, b) => Number(seesPresence(b) && b.online) - Number(seesPresence(a) && a.online) || a.jid.localeCompare(b.jid));
    $('requests').replaceChildren(...asking.map(requestItem));
    $('roster').replaceChildren(...others.map(rosterItem));
    $('roster-empty').hidden = list.length > 0;
    // Seen from anywhere on the page (on a phone the panel is far down).
    $('request-count').hidden = asking.length === 0;
    $('request-count').textContent = `${asking.length} contact request${asking.length === 1 ? '' : 's'}`;
  }

  $('contact-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('contact-jid');
    const jid = input.value.trim();
    if (await act(`adding ${jid}`, '/api/contacts/add', { jid })) {
      input.value = '';
      say(`asked ${jid}: they become a contact once they accept`, 'info');
      for (const ms of [500, 2000]) setTimeout(() => schedule('contacts'), ms);
    }
  });

  // ---- the node ---------------------------------------------------------------------------------------
  const MAPPING_WORDS = {
    off: 'off (UPnP and NAT-PMP disabled)',
    waiting: 'waiting for the torrent port',
    searching: 'asking the router…',
    mapped: 'mapped',
    retrying: 'not mapped, retrying',
    stopped: 'stopped',
  };

  function setList(id, items) {
    $(id).replaceChildren(...(items.length ? items.map((t) => el('li', {}, t)) : [el('li', { className: 'empty' }, 'none known')]));
  }

  const hostPort = (a, p) => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);

  /** Health of the xmpp service from /api/status, when that status has it (lib/status.ts). */
  let xmppHealth;

  function renderNode(node) {
    $('node-jid').textContent = node.jid ?? 'no account (BITWEEN_JID)';
    const x = node.xmpp ?? {};
    const state = !x.up ? 'down' : xmppHealth?.summary ?? (x.connected === true ? 'online' : x.connected === false ? 'offline' : x.state ?? 'running');
    $('node-xmpp').textContent = state;
    $('node-xmpp').dataset.state = !x.up || x.connected === false || xmppHealth?.state === 'degraded' ? 'bad' : 'good';
    $('node-listen').textContent = node.listenPort ? String(node.listenPort) : '–';
    const m = node.mapping;
    $('node-mapped').textContent = m?.externalPort ? `${m.externalIp ? hostPort(m.externalIp, m.externalPort) : m.externalPort}` : '–';
    $('node-mapping').textContent = m ? `${MAPPING_WORDS[m.status] ?? m.status}${m.status === 'mapped' && m.protocol ? ` (${m.protocol})` : ''}` : 'nat service has not run';
    $('node-mapping').dataset.state = m?.status === 'mapped' ? 'good' : m?.status === 'retrying' || !m ? 'bad' : 'neutral';
    $('node-mapping-error').textContent = m?.status === 'retrying' && m.lastError ? m.lastError : '';
    $('node-mapping-error').hidden = !(m?.status === 'retrying' && m.lastError);
    setList('node-addresses', node.addresses ?? []);
    if (Array.isArray(node.published)) {
      setList('node-published', node.published.map((a) => hostPort(a.address, a.port)));
      $('node-published').title = 'what the xmpp service published to contacts';
    } else {
      // The xmpp service does not say what it published: every own address × every port, as it publishes.
      const ports = [node.listenPort, m?.status === 'mapped' ? m.externalPort : null].filter(Boolean);
      setList('node-published', (node.addresses ?? []).flatMap((a) => ports.map((p) => hostPort(a, p))));
      $('node-published').title = 'own addresses × listen and mapped ports (what the xmpp service publishes)';
    }
    showLimits(node.limits);
  }

  function showLimits(l) {
    $('limits-now').textContent = l ? `now: down ${formatLimit(l.download)}, up ${formatLimit(l.upload)}` : '';
  }

  async function loadNode() {
    renderNode(await api('GET', '/api/node'));
  }

  $('limits-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {};
    for (const [key, id] of [['download', 'limit-download'], ['upload', 'limit-upload']]) {
      const raw = $(id).value.trim();
      if (raw === '') continue;
      const kib = Number(raw);
      if (!Number.isFinite(kib) || kib < 0) {
        say(`the ${key} limit must be a number of KiB/s (0 = no limit)`);
        return;
      }
      body[key] = Math.round(kib * 1024);
    }
    if (Object.keys(body).length === 0) {
      say('type a download and/or upload limit in KiB/s (0 = no limit)');
      return;
    }
    const note = { text: 'setting limits …', settles: (e) => e.topic === 'limits_changed' };
    if (await act('setting limits', '/api/limits', body, note)) {
      $('limit-download').value = '';
      $('limit-upload').value = '';
    }
  });

  // ---- status -----------------------------------------------------------------------------------------
  function factSummary(facts) {
    return Object.entries(facts ?? {})
      .filter(([, v]) => v === null || ['string', 'number', 'boolean'].includes(typeof v))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  }

  /** up / degraded / down with a reason: lib/status.ts's shape, or the older one (up: boolean only). */
  function healthOf(s) {
    const state = ['up', 'degraded', 'down'].includes(s.state) ? s.state : s.up ? 'up' : 'down';
    return { state, summary: typeof s.summary === 'string' ? s.summary : null, reason: typeof s.reason === 'string' ? s.reason : null };
  }

  let torrentPid;
  let lastNodeLoad = 0;
  let lastShape = '';

  function renderStatus(status) {
    const services = Array.isArray(status.services) ? status.services : [];
    const items = [];
    const rows = [];
    for (const s of services) {
      const h = healthOf(s);
      const since = s.startedAt ? `since ${new Date(s.startedAt).toLocaleString()}` : '';
      const detail = h.reason ?? (s.up ? `pid ${s.pid} ${since}\n${factSummary(s.facts)}` : 'not running');
      items.push(el('li', { className: h.state, 'data-service': s.name, title: detail }, `${s.name} ${h.state}`));
      rows.push(el('li', { className: h.state, 'data-service': s.name },
        el('span', { className: 'svc' }, s.name), el('span', { className: 'badge', 'data-state': h.state }, h.state),
        ...(h.summary && h.state !== 'down' ? [el('span', { className: 'summary' }, h.summary)] : []),
        ...(h.state !== 'up' ? [el('div', { className: 'reason' }, h.reason ?? 'not running')] : [])));
    }
    const store = status.store ?? {};
    items.push(el('li', { className: store.up ? 'up' : 'down', 'data-service': 'store', title: store.error ?? '' }, `store ${store.up ? 'up' : 'down'}`));
    rows.push(el('li', { className: store.up ? 'up' : 'down', 'data-service': 'store' },
      el('span', { className: 'svc' }, 'store'), el('span', { className: 'badge', 'data-state': store.up ? 'up' : 'down' }, store.up ? 'up' : 'down'),
      ...(store.up ? [] : [el('div', { className: 'reason' }, store.error ?? 'not answering')])));
    $('services').replaceChildren(...items);
    $('health').replaceChildren(...rows);

    const xmpp = services.find((s) => s.name === 'xmpp');
    xmppHealth = xmpp && typeof xmpp.state === 'string' ? healthOf(xmpp) : undefined;
    const torrent = services.find((s) => s.name === 'torrent');
    onTorrentFacts(torrent);
    // The torrent service restarted or went away: work it was doing for this page will not be answered.
    const pid = torrent?.up ? torrent.pid : null;
    if (torrentPid !== undefined && pid !== torrentPid) {
      for (const note of [...pending]) {
        settle(note);
        say(`${note.what}: the torrent service ${pid ? 'restarted' : 'stopped'} before it answered; try again`);
      }
    }
    torrentPid = pid;
    // Ports and addresses are announced on the bus; a service coming, going or changing its health is not:
    // look again when that changes (and every 10 s at most otherwise).
    const shape = services.map((s) => `${s.name} ${s.up} ${s.state} ${s.pid} ${s.facts?.connection}`).join('|');
    if (shape !== lastShape || Date.now() - lastNodeLoad > 10000) schedule('node');
    lastShape = shape;
  }

  // ---- live updates -----------------------------------------------------------------------------------
  const loaders = {
    torrents: loadTorrents,
    shares: loadShares,
    contacts: loadContacts,
    node: async () => {
      lastNodeLoad = Date.now();
      await loadNode();
    },
    status: async () => renderStatus(await api('GET', '/api/status')),
  };
  const due = new Set();
  let flushing;
  /** The loads of the flush in progress (resolved when none is). */
  let loading = Promise.resolve();
  /** Coalesces reloads: a burst of events costs one request per list. */
  function schedule(...lists) {
    for (const l of lists) due.add(l);
    // A flush starts only after the one before it has been applied: otherwise a slow answer read before a
    // change (e.g. the list still saying paused) could land after the answer read after it, and win.
    flushing ??= new Promise((resolve) => setTimeout(resolve, 50)).then(() => loading).then(() => {
      const now = [...due];
      due.clear();
      flushing = undefined;
      loading = Promise.all(now.map((l) => loaders[l]().catch((err) => {
        if (!(err instanceof Unauthorized)) say(`could not load ${l}: ${err.message}`);
      })));
      return loading;
    });
    return flushing;
  }

  function onBus(event) {
    settleNotes(event);
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
      case 'torrent_paused':
      case 'torrent_resumed':
        onPauseOutcome(event);
        schedule('torrents', 'shares');
        break;
      case 'torrent_done':
      case 'torrent_removed':
        schedule('torrents', 'shares');
        break;
      case 'shares_updated':
        schedule('shares', 'contacts');
        break;
      case 'contact_request':
      case 'contact_updated':
        schedule('contacts', 'shares');
        break;
      case 'limits_changed':
        showLimits(event.args[0]);
        schedule('node');
        break;
      case 'addresses_changed':
      case 'set_port':
        schedule('node');
        break;
      case 'bt_ready':
        schedule('torrents', 'node');
        break;
      case 'error':
        onRecheckOutcome(event);
        if (event.report?.topic === 'pause' || event.report?.topic === 'resume') onPauseOutcome(event);
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
      void schedule('torrents', 'shares', 'contacts', 'node', 'status').then(() => setLive('live', 'live'));
    } else if (event === 'status') {
      renderStatus(value);
    } else if (event === 'bus') {
      onBus(value);
    }
  }

  /** Who is online changes without a bus event (presence is written to the store only): look every 10 s. */
  setInterval(() => {
    if ($('live').dataset.state === 'live' && !document.hidden) schedule('contacts');
  }, 10000);

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
