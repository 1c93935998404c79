// Checks for values that arrive from topics, the CLI and contacts: one place, one wording.
import { isIP } from 'node:net';
import { classifyAddress } from './address.js';
import { BadInputError } from './errors.js';

const HASH = /^[0-9a-fA-F]{40}$/;

export function isInfoHash(value: unknown): value is string {
  return typeof value === 'string' && HASH.test(value);
}

/** Returns the lower-case info-hash or throws BadInputError. */
export function requireInfoHash(value: unknown): string {
  if (!isInfoHash(value)) {
    throw new BadInputError(`${JSON.stringify(value)} is not an info-hash (40 hex characters)`);
  }
  return value.toLowerCase();
}

export function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new BadInputError(`${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** Loopback addresses (127.0.0.0/8, ::1) in any spelling, IPv4-mapped included: lib/address.ts decides. */
export function isLoopback(ip: string): boolean {
  return classifyAddress(ip)?.kind === 'loopback';
}

/** The way BitTorrent clients write a peer address: ip:port, with brackets around IPv6. */
export function peerAddress(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Checks the number of positional arguments a topic got. */
export function takeArgs(topic: string, args: unknown[], min: number, max: number): unknown[] {
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw new BadInputError(`${topic} takes ${want} argument${max === 1 ? '' : 's'}, got ${args.length}`);
  }
  return args;
}
