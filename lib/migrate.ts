// Applies the migrations in migrations/ with node-pg-migrate; used by `npm run migrate` and the tests.
import { runner } from 'node-pg-migrate';
import { MIGRATIONS_DIR } from './store/pool.js';

export async function migrateUp(databaseUrl: string, log: (msg: string) => void = () => undefined): Promise<string[]> {
  const ran = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    singleTransaction: true,
    checkOrder: true,
    verbose: false,
    log,
  });
  return ran.map((m) => m.name);
}
