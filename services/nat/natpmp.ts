// NAT-PMP (RFC 6886) behind the Mapper interface, over @silentbot1/nat-api's wire-format client.
// One UDP request per call, sent to the default IPv4 gateway; the router's reply says what it granted.
import PmpClient from '@silentbot1/nat-api/lib/pmp/index.js';
import { gateway4async } from 'default-gateway';
import { UnavailableError, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { RouterRefusal, withTimeout, type Grant, type MapRequest, type Mapper } from './mapper.js';

/** A router on the LAN answers in milliseconds; one try, then the loop's backoff decides when to ask again. */
export const NATPMP_TIMEOUT_MS = 1000;

export class NatPmpMapper implements Mapper {
  readonly name = 'natpmp' as const;
  private client: PmpClient | undefined;
  private socketError: string | undefined;

  constructor(
    private readonly log: Logger,
    private readonly options: { gateway?: string; timeoutMs?: number } = {},
  ) {}

  private async connect(): Promise<PmpClient> {
    if (this.client) return this.client;
    let gateway = this.options.gateway;
    if (!gateway) {
      try {
        gateway = (await gateway4async()).gateway;
      } catch {
        throw new UnavailableError('NAT-PMP: this machine has no default IPv4 gateway to ask');
      }
    }
    const client = new PmpClient(gateway);
    // The client re-emits socket errors (e.g. UDP port 5350 taken); without a listener they would end the process.
    client.on('error', (err: unknown) => {
      this.socketError = errorMessage(err);
      this.log.debug({ err: this.socketError }, 'NAT-PMP socket error');
      void this.drop(client);
    });
    this.client = client;
    return client;
  }

  private async drop(client: PmpClient): Promise<void> {
    if (this.client === client) this.client = undefined;
    await client.close().catch(() => undefined);
  }

  private async request<T>(what: string, send: (client: PmpClient) => Promise<T>): Promise<T> {
    const client = await this.connect();
    const ms = this.options.timeoutMs ?? NATPMP_TIMEOUT_MS;
    try {
      return await withTimeout(send(client), ms, `no NAT-PMP answer from the router at ${client.gateway} within ${ms} ms` +
        (this.socketError ? ` (socket: ${this.socketError})` : ''));
    } catch (err) {
      // After an unanswered request the client's queue stays blocked on it: start over with a fresh socket.
      if (err instanceof UnavailableError) {
        await this.drop(client);
        throw err;
      }
      throw new RouterRefusal(`the NAT-PMP router at ${client.gateway} refused ${what}: ${errorMessage(err)}`, false, { cause: err });
    }
  }

  externalIp(): Promise<string> {
    return this.request('the external address request', (c) => c.externalIp());
  }

  async map(req: MapRequest): Promise<Grant> {
    const reply = await this.request(`mapping TCP port ${req.internalPort}`, (c) =>
      c.portMapping({ private: req.internalPort, public: req.externalPorts[0] ?? req.internalPort, ttl: req.lifetimeSeconds, type: 'tcp' }),
    );
    // miniupnpd grants whatever lifetime is asked, other routers cap it: the reply is what counts.
    return { protocol: 'natpmp', externalPort: reply.external, internalPort: reply.internal, lifetimeSeconds: reply.ttl };
  }

  async unmap(m: { internalPort: number; externalPort: number }): Promise<void> {
    // RFC 6886 §3.4: lifetime 0 deletes the mapping of that internal port; the external port must be 0.
    await this.request(`removing the mapping of TCP port ${m.internalPort}`, (c) =>
      c.portUnmapping({ private: m.internalPort, public: 0, type: 'tcp' }),
    );
  }

  forget(): void {
    if (this.client) void this.drop(this.client);
  }

  async close(): Promise<void> {
    if (this.client) await this.drop(this.client);
  }
}
