// The dashboard service beside a test node: same namespace and database, its own free port.
import { networkInterfaces } from 'node:os';
import { freePort } from './ports.js';
import { startServiceReady, type ServiceProcess } from './process.js';

export interface WebService {
  service: ServiceProcess;
  /** http://host:port (no trailing slash) to reach it from this machine. */
  url: string;
  port: number;
}

/** Starts bitween-web with the node's env; `host` is where it binds, `connect` how the test reaches it. */
export async function startWeb(nodeEnv: Record<string, string>, options: { host?: string; connect?: string; token?: string; nodeArgs?: string[] } = {}): Promise<WebService> {
  const port = await freePort();
  const host = options.host ?? '127.0.0.1';
  const env: Record<string, string> = { ...nodeEnv, BITWEEN_WEB_HOST: host, BITWEEN_WEB_PORT: String(port) };
  if (options.token !== undefined) env.BITWEEN_WEB_TOKEN = options.token;
  const service = await startServiceReady('web', env, { nodeArgs: options.nodeArgs });
  const connect = options.connect ?? host;
  return { service, port, url: `http://${connect.includes(':') ? `[${connect}]` : connect}:${port}` };
}

/**
 * An address to bind that is not loopback: this machine's first non-loopback IPv4 interface address
 * (packets to it never leave the host), or, on a machine with none, the wildcard 0.0.0.0 — not loopback
 * either by the dashboard's rule, and reachable through 127.0.0.1.
 */
export function nonLoopbackAddress(): { host: string; connect: string } {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (!a.internal && a.family === 'IPv4' && !a.address.startsWith('169.254.')) return { host: a.address, connect: a.address };
    }
  }
  return { host: '0.0.0.0', connect: '127.0.0.1' };
}
