// Error classes with stable codes: callers branch on `instanceof` or `code`, never on message text.
// The bus turns any of them into one `error` topic message; the CLI into one line and an exit code.

export class BitweenError extends Error {
  readonly code: string = 'E_BITWEEN';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input from a topic, the CLI or a contact that cannot be used as given. */
export class BadInputError extends BitweenError {
  override readonly code = 'E_BAD_INPUT';
}

/** A torrent, contact or file that does not exist. */
export class NotFoundError extends BitweenError {
  override readonly code = 'E_NOT_FOUND';
}

/** A dependency (Redis, Postgres, XMPP server, router) cannot be reached right now. */
export class UnavailableError extends BitweenError {
  override readonly code = 'E_UNAVAILABLE';
}

/** A configuration variable is missing or malformed; the message names it. */
export class ConfigError extends BitweenError {
  override readonly code = 'E_CONFIG';
}

/** The database schema is older than the code; the message says what to run. */
export class SchemaError extends BitweenError {
  override readonly code = 'E_SCHEMA';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
