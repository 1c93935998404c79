// Who may use the dashboard: the binding rule (a non-loopback address needs a token), the bearer token,
// the Host header (DNS rebinding) and the shape of mutating requests (JSON only, same origin: no CSRF).
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { Config } from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';

/**
 * Only these bind addresses keep the dashboard on this machine. Unlike lib/validate's isLoopback (about
 * peer addresses), the wildcards 0.0.0.0 and :: are not loopback here: they listen on every interface.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

/** A token anyone on the network may try to guess must not be short. */
export const MIN_TOKEN_LENGTH = 16;

/** runService's checkConfig: refuse to listen beyond this machine without a token, or with a weak one. */
export function checkWebConfig(config: Config): void {
  if (config.webToken !== undefined && config.webToken.length < MIN_TOKEN_LENGTH) {
    throw new ConfigError(`BITWEEN_WEB_TOKEN is ${config.webToken.length} characters long: use at least ${MIN_TOKEN_LENGTH} random ones (e.g. \`openssl rand -hex 24\`)`);
  }
  if (/\s/.test(config.webToken ?? '')) throw new ConfigError('BITWEEN_WEB_TOKEN may not contain spaces: it travels as `Authorization: Bearer <token>`');
  if (!isLoopbackHost(config.webHost) && config.webToken === undefined) {
    throw new ConfigError(
      `BITWEEN_WEB_HOST=${config.webHost} is not a loopback address: set BITWEEN_WEB_TOKEN to a long random secret (e.g. \`openssl rand -hex 24\`) or bind to 127.0.0.1`,
    );
  }
}

/** http://host:port/ for logs and messages (brackets around IPv6). */
export function baseUrl(host: string, port: number): string {
  return `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}/`;
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** `Authorization: Bearer <token>`, compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+)$/i.exec(header ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), digest(token));
}

/** The host part of a Host header or an Origin URL's host, lower-case, without brackets or port. */
function hostName(hostHeader: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(hostHeader) ?? /^([^:]+)(?::\d+)?$/.exec(hostHeader);
  return (m ? m[1]! : hostHeader).toLowerCase();
}

/**
 * Without a token, a page on some web site whose name resolves to 127.0.0.1 (DNS rebinding) would be
 * same-origin with the dashboard. Browsers still send that site's name as Host: accept only names of this
 * machine's loopback and the configured bind host. With a token the token decides.
 */
export function hostAllowed(hostHeader: string | undefined, config: Config): boolean {
  if (config.webToken !== undefined) return true;
  if (!hostHeader) return false;
  const name = hostName(hostHeader);
  return isLoopbackHost(name) || name === hostName(config.webHost);
}

/** A browser's Origin on a POST must be the dashboard itself (a cross-site fetch is refused). */
export function originAllowed(origin: string | undefined, hostHeader: string | undefined): boolean {
  if (origin === undefined) return true; // not a browser (curl, scripts): the token and JSON rules apply
  try {
    return new URL(origin).host.toLowerCase() === (hostHeader ?? '').toLowerCase();
  } catch {
    return false;
  }
}

/** Simple forms can send only urlencoded, multipart or text/plain bodies; JSON needs a same-origin fetch. */
export function isJsonContentType(header: string | undefined): boolean {
  return /^application\/json\s*(;|$)/i.test(header ?? '');
}
