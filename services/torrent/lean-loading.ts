// webtorrent imports every discovery and transport it has, on or off: the DHT, trackers (HTTP, UDP and
// WebSocket clients, with a fetch, a SOCKS and a WebSocket library), local discovery, PEX, uTP (a native addon),
// UPnP/NAT-PMP and WebRTC. bitween switches all of them off (session.ts), yet loading them was ~40 % of the
// torrent service's start: 676 modules, 399 without them (issue 14.4, bench/startup.ts).
//
// webtorrent's own browser build leaves most of them out (package.json "browser": `"bittorrent-dht": false`
// …) and its code checks for that (`typeof DHT === 'function'`, `Object.keys(utp).length > 0`). This does the
// same on Node, with a synchronous module resolve hook: each module below resolves to an empty one, which
// webtorrent reads as "not available" — exactly what its options already say.
import * as nodeModule from 'node:module';

// Both are missing on Node 20 (and from its types): a namespace import, so that their absence is not a link error.
type ResolveHook = (specifier: string, context: { parentURL?: string }, next: (specifier: string, context: { parentURL?: string }) => { url: string }) => { url: string; format?: string; shortCircuit?: boolean };
const { enableCompileCache, registerHooks } = nodeModule as unknown as {
  enableCompileCache?: () => unknown;
  registerHooks?: (hooks: { resolve: ResolveHook }) => unknown;
};

/** Packages webtorrent and torrent-discovery import that stand in as EMPTY, each with why bitween needs none of it. */
const LEFT_OUT: readonly { specifier: string; why: string }[] = [
  { specifier: 'bittorrent-dht', why: 'DHT off' },
  { specifier: 'bittorrent-lsd', why: 'local service discovery off' },
  { specifier: 'bittorrent-tracker', why: 'trackers off (torrent-discovery creates a tracker client only when on)' },
  { specifier: 'ut_pex', why: 'peer exchange off' },
  { specifier: '@silentbot1/nat-api', why: "webtorrent's port mapping off: the nat service maps the port" },
  { specifier: 'load-ip-set', why: 'no blocklist option: the peer filter decides (peer-filter.ts)' },
  { specifier: '@thaunknown/simple-peer/lite.js', why: 'WebRTC: Node has no RTCPeerConnection, so webtorrent never uses it here' },
];

/** Only their imports get an empty module: any other importer of these names gets the real package. */
const IMPORTERS = /\/node_modules\/(webtorrent|torrent-discovery)\//;
/** An empty module as a bundler makes of `"name": false`: a default export `{}` and no working named export. */
const EMPTY = `data:text/javascript,${encodeURIComponent('export default {}; export const Client = undefined;')}`;
/** uTP's loader (CommonJS, webtorrent/lib/utp.cjs): `{}` means no uTP (webtorrent's UTP_SUPPORT false). */
const UTP_LOADER = /\/node_modules\/webtorrent\/lib\/utp\.cjs$/;
/** webtorrent's HTTP server for streaming files to a browser (`client.createServer`, which bitween never calls). */
const HTTP_SERVER = /\/node_modules\/webtorrent\/lib\/server\.js$/;
const NO_HTTP_SERVER = `data:text/javascript,${encodeURIComponent(
  "const off = class { constructor() { throw new Error('webtorrent\\'s HTTP server is left out of bitween (services/torrent/lean-loading.ts)'); } };" +
    'export const NodeServer = off; export const BrowserServer = off;',
)}`;
/** cross-fetch-ponyfill takes Node's own fetch when there is one, but loads node-fetch (17 modules) to fall back on. */
const FETCH = 'cross-fetch-ponyfill';
const NODE_FETCH = `data:text/javascript,${encodeURIComponent('export default globalThis.fetch; export const fetch = globalThis.fetch;')}`;

let installed = false;

/**
 * Call before webtorrent is imported (a dynamic import after this call). Without `module.registerHooks`
 * (Node < 22.15) everything loads as before: slower to start, the same service. Also turns on Node's compile
 * cache (os.tmpdir()/node-compile-cache unless NODE_COMPILE_CACHE names a folder): compiled code is reused
 * from one start to the next (0–50 ms per start here).
 */
export function leanLoading(): { leftOut: boolean } {
  enableCompileCache?.();
  if (typeof registerHooks !== 'function') return { leftOut: false };
  if (installed) return { leftOut: true };
  installed = true;
  const leftOut = new Set(LEFT_OUT.map((m) => m.specifier));
  registerHooks({
    resolve(specifier, context, next) {
      // Node's fetch is what cross-fetch-ponyfill itself returns here, whoever imports it (webtorrent, parse-torrent).
      if (specifier === FETCH && typeof globalThis.fetch === 'function') return { url: NODE_FETCH, format: 'module', shortCircuit: true };
      if (!IMPORTERS.test(context.parentURL ?? '')) return next(specifier, context);
      if (leftOut.has(specifier)) return { url: EMPTY, format: 'module', shortCircuit: true };
      const resolved = next(specifier, context);
      if (UTP_LOADER.test(resolved.url)) return { url: EMPTY, format: 'module', shortCircuit: true };
      if (HTTP_SERVER.test(resolved.url)) return { url: NO_HTTP_SERVER, format: 'module', shortCircuit: true };
      return resolved;
    },
  });
  return { leftOut: true };
}
