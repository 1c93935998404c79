// The Postgres connection pool, and the check that the schema is as new as the code.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SchemaError, UnavailableError, errorMessage } from '../errors.js';
import { migrateHint } from '../hints.js';

export type Db = pg.Pool | pg.PoolClient;

/** migrations/ at the package root (this file runs from dist/lib/store/). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));

// bigint columns come back as numbers: sizes stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

export function openPool(databaseUrl: string, max = 5): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  // An idle client losing its connection (Postgres restart) must not crash the service.
  pool.on('error', () => undefined);
  return pool;
}

export function migrationNames(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d+_.+\.(sql|js)$/.test(f))
    .map((f) => f.replace(/\.(sql|js)$/, ''))
    .sort();
}

/** Throws SchemaError when a migration has not run, UnavailableError when Postgres cannot be reached. */
export async function checkSchema(pool: pg.Pool, databaseUrl: string): Promise<void> {
  let applied: string[];
  try {
    const { rows } = await pool.query<{ name: string }>(
      `SELECT name FROM pgmigrations`,
    );
    applied = rows.map((r) => r.name);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === '42P01') applied = []; // no pgmigrations table: nothing has run
    else throw new UnavailableError(`cannot reach Postgres at ${redact(databaseUrl)}: ${errorMessage(err)} (is PostgreSQL running and the database created?)`);
  }
  const missing = migrationNames().filter((m) => !applied.includes(m));
  if (missing.length > 0) {
    throw new SchemaError(`database schema is behind (${missing.length} migration${missing.length > 1 ? 's' : ''} pending, first ${missing[0]}): ${migrateHint()}`);
  }
}

export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
