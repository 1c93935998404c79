// The XMPP connection: log in, stay logged in. STARTTLS whenever the server offers it (xmpp.js upgrades on
// its own); plain text only to a loopback server. Reconnects with exponential backoff after a drop or a
// server restart and emits `online` after every (re)login, so the service can re-send presence and republish.
import { EventEmitter } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import { client, jid as parseJid, xml, type Client, type Element, type JID } from '@xmpp/client';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { isLoopback } from '../../lib/validate.js';

export interface ConnectionOptions {
  jid: string;
  password: string;
  /** BITWEEN_XMPP_SERVICE; undefined: resolved from the JID's domain (SRV, then the domain itself). */
  service: string | undefined;
  /** Used when BITWEEN_JID names no resource. */
  defaultResource: string;
  log: Logger;
}

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 30_000;
/** A login refused (bad password, no TLS) will not fix itself soon: retry slowly. */
const REFUSED_DELAY_MS = 60_000;
const PING_INTERVAL_MS = 60_000;
export const IQ_TIMEOUT_MS = 10_000;

export class PlainTextRefused extends Error {}

/** Why a login must not proceed on this stream, or undefined: TLS, or plain text to a loopback server only. */
export function plainTextRefusal(secure: boolean, remoteAddress: string | undefined, service: string): string | undefined {
  if (secure || (remoteAddress !== undefined && isLoopback(remoteAddress))) return undefined;
  return `the XMPP server at ${remoteAddress ?? service} offered no STARTTLS: refusing to log in over plain text (only a loopback server may do that)`;
}

/**
 * Two defects of xmpp.js 0.14's incoming data path (`Connection._onData`), fixed in one place:
 * - it decodes each TCP chunk on its own (`chunk.toString('utf8')`), so a character whose UTF-8 bytes are
 *   split between two chunks turns into two U+FFFD: names in large items came out corrupted. A
 *   StringDecoder per socket carries the partial character over to the next chunk;
 * - it detaches the XML parser when closing the stream times out (a server still busy sending) but keeps
 *   the socket's data listener, so the next chunk threw and took the process down: such data is dropped.
 * Must run before the first connect: the socket listener binds `_onData` then.
 */
export function fixIncomingData(client: Client): void {
  const entity = client as unknown as { _onData(data: Buffer | string): void; parser: { write(text: string): void } | null; socket: unknown };
  let socket: unknown;
  let decoder = new StringDecoder('utf8');
  entity._onData = (data: Buffer | string) => {
    if (entity.socket !== socket) {
      socket = entity.socket; // a new connection (or the TLS layer after STARTTLS) starts clean
      decoder = new StringDecoder('utf8');
    }
    const text = typeof data === 'string' ? data : decoder.write(data);
    if (entity.parser && text !== '') entity.parser.write(text);
  };
}

/**
 * Where the login stands, for the heartbeat (services/xmpp/health.ts turns it into health):
 * - connecting: before the first login, and after a lost connection until the next (retrying with backoff);
 * - online: a session is up;
 * - auth failed: the server refused the account or password (SASL), retried every REFUSED_DELAY_MS;
 * - login refused: we refused to log in (no STARTTLS from a remote server, a certificate that did not verify).
 * A refusal stays the phase while the retries meet the same server; a network error turns it into connecting.
 */
export type ConnectionPhase = 'connecting' | 'online' | 'auth failed' | 'login refused';

export interface ConnectionState {
  phase: ConnectionPhase;
  /** The session's full JID (bare/resource) while online, else null. */
  jid: string | null;
  /** What BITWEEN_XMPP_SERVICE (or the JID's domain) names. */
  server: string;
  /** The last failure in words, kept after the next login as history. */
  lastError: string | null;
  lastErrorAt: string | null;
  /** Sessions since start: more than the server restarts you know of means the connection flaps. */
  logins: number;
}

export interface XmppConnection {
  on(event: 'online', listener: (jid: JID) => void): this;
  on(event: 'offline', listener: () => void): this;
  on(event: 'stanza', listener: (stanza: Element) => void): this;
}

export class XmppConnection extends EventEmitter {
  readonly client: Client;
  readonly bare: string;
  private readonly log: Logger;
  private attempts = 0;
  private logins = 0;
  private stopped = false;
  /** Set from a lost connection until the next login: one warning per outage, not one per attempt. */
  private down = true;
  private pinger: NodeJS.Timeout | undefined;
  private phase: ConnectionPhase = 'connecting';
  /** This connection attempt ended in a refusal: the socket errors of its teardown (Prosody may reset it) must not hide it. */
  private refusedAttempt = false;
  private lastError: string | null = null;
  private lastErrorAt: string | null = null;
  private readonly server: string;

  constructor(opts: ConnectionOptions) {
    super();
    this.log = opts.log.child({ component: 'connection' });
    const address = parseJid(opts.jid);
    this.bare = address.bare().toString();
    // A bare domain as `service` makes @xmpp/resolve look up SRV records, then fall back to the domain.
    const service = opts.service ?? address.domain;
    this.server = service;
    const log = this.log;
    this.client = client({
      service,
      domain: address.domain,
      resource: address.resource || opts.defaultResource,
      timeout: IQ_TIMEOUT_MS,
      // A function instead of plain credentials: the one place that runs after STARTTLS and before any
      // SASL data leaves, so an unencrypted stream to a remote server never carries a login.
      credentials: async (authenticate, mechanisms, _fast, entity) => {
        const refusal = plainTextRefusal(entity.isSecure(), entity.socket?.remoteAddress, service);
        if (refusal) throw new PlainTextRefused(refusal);
        log.debug({ mechanisms, secure: entity.isSecure() }, 'authenticating');
        await authenticate({ username: address.local, password: opts.password }, mechanisms[0]!);
      },
    });
    fixIncomingData(this.client);
    this.client.reconnect.delay = FIRST_DELAY_MS;
    this.client.on('stanza', (el: Element) => this.emit('stanza', el));
    this.client.on('connecting', () => (this.refusedAttempt = false));
    this.client.on('online', (me: JID) => {
      this.attempts = 0;
      this.logins++;
      this.down = false;
      this.phase = 'online';
      this.client.reconnect.delay = FIRST_DELAY_MS;
      this.log.info({ jid: me.toString(), secure: this.client.isSecure() }, 'XMPP online');
      this.emit('online', me);
    });
    this.client.on('disconnect', ({ clean, reason }: { clean?: boolean; reason?: unknown } = {}) => {
      if (this.stopped) return;
      const fields = { clean, reason: reason ? errorMessage(reason) : undefined, retryInMs: this.client.reconnect.delay };
      if (this.down) {
        this.log.debug(fields, 'XMPP reconnect attempt failed');
        return;
      }
      this.down = true;
      this.phase = 'connecting';
      this.failed(`connection lost${fields.reason ? ` (${fields.reason})` : ''}`);
      this.log.warn(fields, 'XMPP connection lost: reconnecting with backoff');
      this.emit('offline');
    });
    this.client.reconnect.on('reconnecting', () => {
      this.attempts++;
      // Doubling from 250 ms: a restarting server is back within a few tries, a dead one is not hammered.
      this.client.reconnect.delay = Math.min(FIRST_DELAY_MS * 2 ** this.attempts, MAX_DELAY_MS);
    });
    this.client.on('error', (err: Error & { condition?: string }) => this.onError(err));
  }

  private failed(message: string): void {
    this.lastError = message;
    this.lastErrorAt = new Date().toISOString();
  }

  get state(): ConnectionState {
    const online = this.online;
    return {
      phase: online ? 'online' : this.phase === 'online' ? 'connecting' : this.phase,
      jid: online ? (this.client.jid?.toString() ?? null) : null,
      server: this.server,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      logins: this.logins,
    };
  }

  get online(): boolean {
    return this.client.status === 'online';
  }

  get jid(): JID | null {
    return this.client.jid;
  }

  /** Starts connecting in the background; `online` is emitted each time a session is ready. */
  start(): void {
    this.client.start().catch((err) => {
      if (this.phase === 'connecting' && !this.stopped) this.failed(errorMessage(err));
      // A refused login was logged by onError already.
      if (!(err instanceof PlainTextRefused) && err?.name !== 'SASLError' && !/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(err?.code ?? '')) {
        this.log.warn(
          { err: errorMessage(err), service: this.client.options.service },
          'XMPP: first login failed: retrying with backoff (is the server up, BITWEEN_XMPP_SERVICE right?)',
        );
      }
      // The reconnect module retries from the 'disconnect' status. An attempt that failed before a socket
      // existed (DNS) never got there: disconnect() sets it.
      if (!this.stopped && this.client.status !== 'disconnect' && this.client.status !== 'online') {
        this.client.disconnect().catch(() => undefined);
      }
    });
    this.pinger = setInterval(() => void this.ping(), PING_INTERVAL_MS);
    this.pinger.unref();
  }

  private onError(err: Error & { condition?: string }): void {
    if (this.stopped) return;
    const refused = err instanceof PlainTextRefused || err.name === 'SASLError';
    const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test((err as { code?: string }).code ?? '');
    const network = !refused && !tls && (err as { code?: string }).code !== undefined;
    if (!(network && this.refusedAttempt)) this.failed(errorMessage(err));
    if (err.name === 'SASLError') this.phase = 'auth failed';
    else if (refused || tls) this.phase = 'login refused';
    else if (network && !this.refusedAttempt) this.phase = 'connecting'; // the server may be down
    if (refused || tls) this.refusedAttempt = true;
    if (refused) {
      const hint = err.name === 'SASLError' ? ': check BITWEEN_JID and BITWEEN_PASSWORD' : '';
      this.log.error({ condition: err.condition }, `XMPP login failed (${errorMessage(err)})${hint}; retrying in ${REFUSED_DELAY_MS / 1000} s`);
      this.client.reconnect.delay = REFUSED_DELAY_MS;
    } else if (err.condition === 'policy-violation') {
      this.log.error({ condition: err.condition }, `XMPP server closed the session: ${errorMessage(err)} (a stanza was too big?)`);
    } else if (tls) {
      this.log.error(
        { code: (err as { code?: string }).code },
        `the XMPP server's TLS certificate did not verify (${errorMessage(err)}): not logging in; fix the server's certificate or trust its CA with NODE_EXTRA_CA_CERTS; retrying in ${REFUSED_DELAY_MS / 1000} s`,
      );
      this.client.reconnect.delay = REFUSED_DELAY_MS;
    } else if ((err as { code?: string }).code !== undefined) {
      // Socket errors (ECONNREFUSED, ECONNRESET…): the disconnect that follows is logged once per outage.
      this.log.debug({ code: (err as { code?: string }).code }, `XMPP: ${errorMessage(err)}`);
    } else {
      this.log.warn({ condition: err.condition }, `XMPP: ${errorMessage(err)}`);
    }
    // A failure during login leaves a half-open stream: drop it so the reconnect module takes over.
    if (this.client.status !== 'online' && this.client.status !== 'disconnect' && this.client.status !== 'offline') {
      this.client.disconnect().catch(() => undefined);
    }
  }

  /** A server that vanished without closing the TCP connection is noticed here. */
  private async ping(): Promise<void> {
    if (!this.online) return;
    try {
      await this.client.iqCaller.request(xml('iq', { type: 'get' }, xml('ping', { xmlns: 'urn:xmpp:ping' })), IQ_TIMEOUT_MS);
    } catch (err) {
      if ((err as { name?: string }).name === 'StanzaError') return; // the server answered: it is alive
      this.log.warn({ err: errorMessage(err) }, 'XMPP server did not answer a ping: reconnecting');
      this.client.disconnect().catch(() => undefined);
    }
  }

  async send(el: Element): Promise<void> {
    await this.client.send(el);
  }

  /** An IQ round trip; rejects with StanzaError on an error reply, or after timeoutMs. */
  request(iq: Element, timeoutMs = IQ_TIMEOUT_MS): Promise<Element> {
    return this.client.iqCaller.request(iq, timeoutMs);
  }

  /** Ends the session (the caller sends unavailable presence first) and stops reconnecting. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pinger);
    this.client.reconnect.stop();
    if (this.client.status === 'offline') return;
    try {
      await this.client.stop();
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'XMPP stop was not clean');
      this.client.socket?.destroy();
    }
  }
}
