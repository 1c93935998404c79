// The one interface the NAT service's loop talks to; one implementation per protocol (natpmp.ts, upnp.ts),
// so the port-mapping library behind them can be replaced without touching the loop.
import { UnavailableError } from '../../lib/errors.js';

/** Which protocol made a mapping, as `bitween status` shows it. */
export type MappingProtocol = 'natpmp' | 'upnp-igd1' | 'upnp-igd2';

export interface MapRequest {
  /** The local TCP port (the BitTorrent listen port). */
  internalPort: number;
  /** External ports to ask for, best first. NAT-PMP sends only the first (the router picks another if taken). */
  externalPorts: number[];
  lifetimeSeconds: number;
  description: string;
}

/** What the router granted. */
export interface Grant {
  protocol: MappingProtocol;
  externalPort: number;
  internalPort: number;
  /** As granted, which may differ from what was asked: renew from this one (NOTES.md). */
  lifetimeSeconds: number;
}

export interface Mapper {
  readonly name: 'natpmp' | 'upnp';
  /** Finds the router (cached until forget()) and asks for its external IPv4 address. */
  externalIp(): Promise<string>;
  /** One mapping request (UPnP asks again with the next port only when the router reports a conflict). */
  map(req: MapRequest): Promise<Grant>;
  /** Removes a TCP mapping this node made. */
  unmap(m: { internalPort: number; externalPort: number }): Promise<void>;
  /** Drops what discovery cached, so that the next call looks for the router again. */
  forget(): void;
  close(): Promise<void>;
}

/**
 * The router answered and said no (a UPnP error, a NAT-PMP result code). Unlike no answer at all, the router
 * is there: the loop keeps it and asks again later instead of searching for a router again.
 */
export class RouterRefusal extends UnavailableError {
  constructor(message: string, readonly conflict = false, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Rejects with UnavailableError(message) when `work` takes longer than `ms`. */
export async function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UnavailableError(message)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
