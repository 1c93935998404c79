// pm2 apps of one bitween node: `pm2 start ecosystem.config.js` (npm start), ordered stop with `npm stop`.
// pm2 loads this file with require(); Node >= 20.19 can require an ES module, and pm2 reads the named
// export `apps` from it (a default export alone is not found: pm2 would see only `{ default }`).
//
// Start order torrent, nat, xmpp, web: with `wait_ready`, pm2 starts the next app once the previous one has
// subscribed to its topics (it sends 'ready'), when the pm2 CLI runs with PM2_CONCURRENT_ACTIONS=1 (pm2 starts
// two at a time by default). The services do not depend on the order (each reads current state from the store
// on start); the order only saves a round of catching up.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// The one list of services (lib/services.ts), built by `npm start` before pm2 reads this file.
import { SERVICES, appName } from './dist/lib/services.js';

const root = dirname(fileURLToPath(import.meta.url));

// The services run on the Node that `npm ci` installs from the npm registry (the `node` package, pinned in
// package.json): webtorrent 3.0.21 and its ut_metadata 5.0.1 declare Node >= 22, and the system's Node may be
// 20. pm2 itself may run on either. Without it (an install with --ignore-scripts), pm2's own Node runs them.
const bundledNode = join(root, 'node_modules', 'node', 'bin', 'node');

/** Settings every bitween app shares. */
const common = {
  cwd: root, // where `.env` is read (unless BITWEEN_HOME names another folder)
  ...(existsSync(bundledNode) ? { interpreter: bundledNode } : {}),
  exec_mode: 'fork',
  instances: 1,
  wait_ready: true,
  // Past this pm2 starts the next app anyway (e.g. a service waiting for Postgres to come up).
  listen_timeout: 30000,
  // The services finish their shutdown within 8 s (lib/shutdown.ts) and exit 0; pm2 kills after 10 s.
  kill_timeout: 10000,
  // Every other exit is a crash and is restarted: a non-zero code, an uncaught exception or unhandled
  // rejection (70, after the service saved what it could), and a death by signal (kill -9, the OOM killer,
  // SIGSEGV, SIGABRT), which pm2 7 reports as code 0 — so 0 must never be listed here.
  // 64: stopped for good by the `exit` topic; 78: configuration or schema error, which a restart would only
  // repeat (lib/shutdown.ts STOP_EXIT_CODES).
  stop_exit_codes: [64, 78],
  // A crash loop backs off: pm2 waits 100 ms before the first restart, then 1.5 times longer each time, up to
  // 15 s; once the app has stayed up 30 s (pm2 checks every 30 s) it starts again from 100 ms.
  // Trade-off (pm2 7.0.4, God.handleExit): with a restart delay set, an app that exits by itself with a
  // stop_exit_codes code is never restarted but shows 'waiting restart' forever instead of 'stopped'. So a
  // service that stops for good asks pm2 to stop it, as `pm2 stop` does (lib/shutdown.ts exitForGood), and
  // pm2 shows it 'stopped'; only when pm2 cannot be asked does the code above keep it down.
  exp_backoff_restart_delay: 100,
  // One file per app and stream, $PM2_HOME/logs/bitween-<service>-out.log and -error.log (what `bitween logs`
  // reads), each line behind pm2's date. pm2 7's `pm2 logs` cuts the app name to 10 characters in the lines it
  // prints from these files (`0|bitween- |`: a fixed width in pm2/lib/API/Log.js that no option changes); its
  // live lines show the whole name. `bitween logs` names the service in full.
  merge_logs: true,
  time: true,
  // pm2 otherwise requires its metrics module (pm2-io-bpm, @pm2/io) into every app it starts (pm2/lib/
  // ProcessUtils.js injectModules); bitween uses none of it, and `pm2 ls` reads CPU and memory from outside.
  pmx: false,
};

/**
 * V8 options, measured with bench/fuzz-memory.ts (10,000 hostile payloads per service), bench/idle-memory.ts and
 * bench/xmpp-ingest.ts (bench/README.md, Memory under hostile load):
 * - `--heap-growing-percent=20`: after each full collection V8 lets the old generation grow to 1.2× what was
 *   live, instead of up to 4× while the process allocates fast. Under a flood of bad payloads that factor, not
 *   retained objects, made the peak (xmpp 1.56–1.60×, nat 1.70× of RSS at rest; with it ≤ 1.33×).
 * - a young generation of 2 MiB semi-spaces (xmpp) or 1 MiB (nat, web) instead of up to 16, which V8 grows
 *   under load and keeps while idle (xmpp 1.55× after a minute of idle; with it ≤ 1.04×).
 * - `--single-threaded` (nat, web, which idle nearly always): no V8 background threads (their buffers and malloc
 *   arenas stay unused): −2 to −16 MiB each at rest.
 * xmpp's ingest of 100,000 contacts' shares takes as long with them (Prosody is the limit), +0.2–0.4 CPU-s.
 * - torrent: semi-spaces of 8 MiB (half V8's 16): a flood's peak 1.45–1.51× → 1.29–1.31× of RSS at rest, and a
 *   transfer as fast (interleaved A/B against 16 MiB: 256 MiB speed 1.01×, leecher CPU 2.96 → 2.94 s; 1 GiB
 *   speed 1.04×, CPU 12.27 → 11.62 s, peak RSS 169 → 162 MiB).
 *   Smaller costs transfers: 4 MiB 0.90× and CPU +17 %, 2 MiB 0.91× and +41 %; `--heap-growing-percent=20` 0.67×.
 * After a flood the services give the young generation back at once (lib/flood.ts).
 */
const XMPP_NODE_ARGS = ['--max-semi-space-size=2', '--heap-growing-percent=20'];
const IDLE_SERVICE_NODE_ARGS = ['--max-semi-space-size=1', '--single-threaded', '--heap-growing-percent=20'];

/** node's own options per service (V8 flags that NODE_OPTIONS does not take). */
const NODE_ARGS = {
  // Peer-wire encryption (MSE/PE) is RC4, which OpenSSL 3 keeps in its legacy provider: with it webtorrent uses
  // OpenSSL's RC4 instead of a JavaScript one (256 MiB over loopback: 145 instead of 119 MB/s, bench/README.md).
  torrent: ['--openssl-legacy-provider', '--max-semi-space-size=8'],
  xmpp: XMPP_NODE_ARGS,
  nat: IDLE_SERVICE_NODE_ARGS,
  web: IDLE_SERVICE_NODE_ARGS,
};

export const apps = SERVICES.map((service) => ({
  ...common,
  name: appName(service),
  script: `dist/services/${service}/index.js`,
  node_args: NODE_ARGS[service],
}));

export default { apps };
