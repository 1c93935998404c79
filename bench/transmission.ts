// A private transmission-daemon (Debian's, 3.00) for the footprint bench: its own config folder and
// settings.json written here, RPC on a loopback port, peers on a loopback port, no DHT, LPD, PEX, uTP or port
// mapping; stopped by its pid. Torrents are added over its JSON-RPC (the protocol transmission-remote speaks).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnChild, until, type Child } from './child.js';

export interface Transmission {
  child: Child;
  rpcPort: number;
  peerPort: number;
  /** Calls an RPC method; throws on a result other than "success". */
  rpc<T = Record<string, unknown>>(method: string, args?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

/** Writes settings.json into `configDir` (kept across restarts, as the daemon's own state is). */
export async function writeTransmissionSettings(configDir: string, o: { rpcPort: number; peerPort: number; downloadDir: string }): Promise<void> {
  await mkdir(configDir, { recursive: true });
  const settings = {
    'bind-address-ipv4': '127.0.0.1',
    'bind-address-ipv6': '::1',
    'dht-enabled': false,
    'lpd-enabled': false,
    'pex-enabled': false,
    'utp-enabled': false,
    'port-forwarding-enabled': false,
    'peer-port': o.peerPort,
    'peer-port-random-on-start': false,
    'rpc-enabled': true,
    'rpc-bind-address': '127.0.0.1',
    'rpc-port': o.rpcPort,
    'rpc-authentication-required': false,
    'rpc-whitelist-enabled': true,
    'rpc-whitelist': '127.0.0.1',
    'rpc-host-whitelist-enabled': false,
    'download-dir': o.downloadDir,
    'incomplete-dir-enabled': false,
    'watch-dir-enabled': false,
    'start-added-torrents': true,
    'seed-queue-enabled': false,
    'download-queue-enabled': false,
    'ratio-limit-enabled': false,
    'idle-seeding-limit-enabled': false,
    'script-torrent-done-enabled': false,
    // Plaintext peers allowed (bitween's `prefer`): the bench's probe speaks plaintext to both.
    encryption: 1,
    'message-level': 2,
  };
  await writeFile(join(configDir, 'settings.json'), JSON.stringify(settings, null, 2));
}

export async function startTransmission(configDir: string, rpcPort: number, peerPort: number): Promise<Transmission> {
  const { child } = spawnChild('transmission-daemon', ['--foreground', '--config-dir', configDir]);
  let session = '';
  const url = `http://127.0.0.1:${rpcPort}/transmission/rpc`;
  const rpc = async <T>(method: string, args: Record<string, unknown> = {}): Promise<T> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Transmission-Session-Id': session },
        body: JSON.stringify({ method, arguments: args }),
      });
      if (res.status === 409) {
        session = res.headers.get('X-Transmission-Session-Id') ?? '';
        continue;
      }
      const body = (await res.json()) as { result: string; arguments: T };
      if (body.result !== 'success') throw new Error(`transmission ${method}: ${body.result}`);
      return body.arguments;
    }
    throw new Error(`transmission ${method}: no session id`);
  };
  return { child, rpcPort, peerPort, rpc, stop: () => child.stop() };
}

/** Resolves once the RPC answers (the daemon has loaded its torrents by then: it opens RPC after). */
export function waitForRpc(t: Transmission, timeoutMs: number): Promise<unknown> {
  return until('transmission RPC', timeoutMs, () => t.rpc('session-get', { fields: ['version'] }), 10);
}

/** Resolves once `count` torrents are listed and every one is seeding (status 6). */
export function waitAllSeeding(t: Transmission, count: number, timeoutMs: number): Promise<number> {
  return until(`${count} torrents seeding in transmission`, timeoutMs, async () => {
    const { torrents } = await t.rpc<{ torrents: { status: number }[] }>('torrent-get', { fields: ['status'] });
    return torrents.length === count && torrents.every((x) => x.status === 6) ? Date.now() : undefined;
  }, 25);
}
