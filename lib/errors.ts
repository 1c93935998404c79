// Error classes with stable codes: callers branch on `instanceof` or `code`, never on message text.
// The bus turns any of them into one `error` topic message (ErrorReport, below: its one definition); the CLI
// into one line and an exit code.

/**
 * Every code a bitween program may see on the `error` topic, in `torrent_error` or from the CLI, with its
 * meaning. README.md ("The bus") lists the same table; a new code is added here and there.
 */
export const ERROR_CODES = {
  E_BAD_INPUT: 'the input (a topic payload, a CLI argument, a contact’s data) cannot be used as given',
  E_TOO_LARGE: 'a bus payload over 64 KiB, refused before it was parsed',
  E_TOO_DEEP: 'a bus payload nested deeper than 32 levels, refused before it was parsed',
  E_BUSY: 'a service’s queue of bus messages waiting their turn is full (256 messages or 1 MiB): the message was refused unhandled; send it again later',
  E_NOT_FOUND: 'the torrent, contact or file does not exist',
  E_UNAVAILABLE: 'a dependency (Redis, the XMPP server, a router, another service) cannot be reached right now',
  E_STORE_DOWN: 'PostgreSQL cannot be reached; writes are kept in memory and retried',
  E_CONFIG: 'a configuration variable is missing or malformed; the message names it',
  E_SCHEMA: 'the database schema is older than the code: run `npm run migrate`',
  E_DISK_FULL: 'no space left on the device (ENOSPC) while writing torrent data',
  E_WRITE_FAILED: 'another I/O error while writing or reading torrent data',
  E_UNSAFE_NAME: 'a torrent’s metadata names a file outside its folder (.., /, control characters…): refused',
  E_BAD_METADATA: 'a torrent’s metadata cannot be used (it does not parse or is inconsistent): refused',
  E_FILES_MISSING: 'a seeding torrent’s files are gone (moved, drive unplugged)',
  E_FILES_CHANGED: 'a seeding torrent’s file differs in size or time from when it was stored',
  E_VERIFY_FAILED: 'what is on disk does not match the torrent’s piece hashes',
  E_INTERNAL: 'an unexpected failure (a bug): the service’s log has the stack',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export class BitweenError extends Error {
  readonly code: string = 'E_BITWEEN';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input from a topic, the CLI or a contact that cannot be used as given. */
export class BadInputError extends BitweenError {
  override readonly code: ErrorCode = 'E_BAD_INPUT';
}

/** A bus payload over the size limit, refused before parsing. */
export class TooLargeError extends BadInputError {
  override readonly code: ErrorCode = 'E_TOO_LARGE';
}

/** A bus payload over the nesting limit, refused before parsing. */
export class TooDeepError extends BadInputError {
  override readonly code: ErrorCode = 'E_TOO_DEEP';
}

/** A bus message refused because the queue of messages waiting their turn is full. */
export class BusyError extends BitweenError {
  override readonly code: ErrorCode = 'E_BUSY';
}

/** A torrent, contact or file that does not exist. */
export class NotFoundError extends BitweenError {
  override readonly code: ErrorCode = 'E_NOT_FOUND';
}

/** A dependency (Redis, Postgres, XMPP server, router) cannot be reached right now. */
export class UnavailableError extends BitweenError {
  override readonly code: ErrorCode = 'E_UNAVAILABLE';
}

/** PostgreSQL cannot be reached right now. */
export class StoreDownError extends UnavailableError {
  override readonly code: ErrorCode = 'E_STORE_DOWN';
}

/** A configuration variable is missing or malformed; the message names it. */
export class ConfigError extends BitweenError {
  override readonly code: ErrorCode = 'E_CONFIG';
}

/** The database schema is older than the code; the message says what to run. */
export class SchemaError extends BitweenError {
  override readonly code: ErrorCode = 'E_SCHEMA';
}

/** A failure with any registered code (the torrent states: E_DISK_FULL, E_UNSAFE_NAME, E_FILES_MISSING, …). */
export class CodedError extends BitweenError {
  override readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Node's system error codes that say what went wrong with torrent data. */
const SYSTEM_CODES: Record<string, ErrorCode> = {
  ENOSPC: 'E_DISK_FULL',
  EDQUOT: 'E_DISK_FULL',
  EIO: 'E_WRITE_FAILED',
  EROFS: 'E_WRITE_FAILED',
  EACCES: 'E_WRITE_FAILED',
  EPERM: 'E_WRITE_FAILED',
  ENOENT: 'E_NOT_FOUND',
  ECONNREFUSED: 'E_UNAVAILABLE',
  ECONNRESET: 'E_UNAVAILABLE',
  ETIMEDOUT: 'E_UNAVAILABLE',
  EPIPE: 'E_UNAVAILABLE',
  ENOTFOUND: 'E_UNAVAILABLE',
  EHOSTUNREACH: 'E_UNAVAILABLE',
  ENETUNREACH: 'E_UNAVAILABLE',
};

/**
 * The stable code of any thrown value: a BitweenError's own, a registered code on any error, a Node system
 * error's (ENOSPC → E_DISK_FULL), a PostgreSQL connection failure's (SQLSTATE class 08 and 57P0x → E_STORE_DOWN),
 * looking through `cause` (a wrapper keeps the code of what it wraps); else E_INTERNAL.
 */
export function errorCode(err: unknown): ErrorCode {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (isErrorCode(code)) return code;
    if (e instanceof BitweenError) return 'E_INTERNAL'; // an unregistered code (E_BITWEEN): a bug
    if (typeof code !== 'string') continue;
    if (Object.hasOwn(SYSTEM_CODES, code)) return SYSTEM_CODES[code]!;
    if (/^08...$|^57P0[1-3]$/.test(code)) return 'E_STORE_DOWN';
  }
  return 'E_INTERNAL';
}

// ---- the `error` topic message (INTERFACE.md §2) ----------------------------------------------------------

/** The one shape of a message on `<namespace>:error`. */
export interface ErrorReport {
  /** The service that refused: torrent, xmpp, nat, web. */
  service: string;
  /** The topic of the message it refused (or what failed, e.g. `torrent`). */
  topic: string;
  /** A stable code from ERROR_CODES: programs branch on it. */
  code: string;
  /** One line for people; at most MAX_REPORT_ERROR_BYTES. */
  error: string;
  /** At most MAX_REPORT_PAYLOAD_BYTES of what was received, then PAYLOAD_CUT_MARK when cut. */
  payload: string;
  /** The torrent concerned, when there is one. */
  info_hash?: string;
}

/** What `payload` keeps of what was received, counted as JSON-encoded UTF-8 bytes (escapes count in full). */
export const MAX_REPORT_PAYLOAD_BYTES = 1024;
/** What `error` keeps of the message, counted the same way. */
export const MAX_REPORT_ERROR_BYTES = 512;
/** Ends a `payload` that was cut: `…[cut: <bytes received> bytes]`. */
export const PAYLOAD_CUT_MARK = /…\[cut: (\d+) bytes\]$/;

/** Bytes `ch` (one code point) takes inside a JSON string (JSON.stringify's escapes, then UTF-8). */
function encodedSize(cp: number): number {
  if (cp === 0x22 || cp === 0x5c) return 2; // \" \\
  if (cp < 0x20) return cp === 0x08 || cp === 0x09 || cp === 0x0a || cp === 0x0c || cp === 0x0d ? 2 : 6;
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp >= 0xd800 && cp <= 0xdfff) return 6; // a lone surrogate: \udxxx
  return cp < 0x10000 ? 3 : 4;
}

/** The longest prefix of `text` that takes at most `budget` bytes in JSON, or undefined when all of it fits. */
function cutAt(text: string, budget: number): string | undefined {
  let used = 0;
  let i = 0;
  while (i < text.length) {
    const cp = text.codePointAt(i)!;
    used += encodedSize(cp);
    if (used > budget) return text.slice(0, i);
    i += cp > 0xffff ? 2 : 1;
  }
  return undefined;
}

/** `payload` bounded for a report; `bytes` is the size received when the caller kept only a head of it. */
export function cutPayload(payload: string, bytes?: number): string {
  const head = cutAt(payload, MAX_REPORT_PAYLOAD_BYTES);
  if (head === undefined && bytes === undefined) return payload;
  return `${head ?? payload}…[cut: ${bytes ?? Buffer.byteLength(payload)} bytes]`;
}

/** One line of at most MAX_REPORT_ERROR_BYTES (an error may quote the bad input it got). */
export function reportLine(message: string): string {
  const line = message.replace(/\s*[\r\n]+\s*/g, ' ');
  const head = cutAt(line, MAX_REPORT_ERROR_BYTES - 3);
  return head === undefined ? line : `${head}…`;
}

export function buildErrorReport(opts: {
  service: string;
  topic: string;
  err: unknown;
  /** What was received (all of it, or a head of it with `payloadBytes`). */
  payload?: string;
  /** The size received, when `payload` is only its head. */
  payloadBytes?: number;
  infoHash?: string;
}): ErrorReport {
  const report: ErrorReport = {
    service: opts.service,
    topic: opts.topic,
    code: errorCode(opts.err),
    error: reportLine(errorMessage(opts.err)),
    payload: cutPayload(opts.payload ?? '', opts.payloadBytes),
  };
  if (opts.infoHash) report.info_hash = opts.infoHash.toLowerCase();
  return report;
}

/**
 * Reads an `error` message as any bitween program does; undefined when it is not a report (too big, not
 * JSON, fields missing). A report without `code` (an older node) counts as E_INTERNAL.
 */
export function parseErrorReport(raw: string): ErrorReport | undefined {
  // A report is ~2 KiB at most: anything much bigger is not one, and is not parsed.
  if (raw.length > 16 * 1024) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const r = value as Record<string, unknown>;
  if (typeof r.service !== 'string' || typeof r.topic !== 'string' || typeof r.error !== 'string') return undefined;
  const report: ErrorReport = {
    service: r.service,
    topic: r.topic,
    code: typeof r.code === 'string' ? r.code : 'E_INTERNAL',
    error: r.error,
    payload: typeof r.payload === 'string' ? r.payload : '',
  };
  if (typeof r.info_hash === 'string') report.info_hash = r.info_hash;
  return report;
}

/** Whether `report` answers a request sent as `sent`: its payload is `sent`, or the head of it when cut. */
export function reportEchoes(report: ErrorReport, sent: string): boolean {
  if (report.payload === sent) return true;
  const cut = PAYLOAD_CUT_MARK.exec(report.payload);
  return cut !== null && Number(cut[1]) === Buffer.byteLength(sent) && sent.startsWith(report.payload.slice(0, cut.index));
}
