// `npm run migrate`: creates the database when it does not exist yet, then applies migrations/.
import pg from 'pg';
import { loadConfig } from './config.js';
import { ConfigError, errorMessage } from './errors.js';
import { migrateUp } from './migrate.js';
import { redact } from './store/pool.js';

async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!name) return;
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  try {
    await client.connect();
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      console.log(`created database ${name}`);
    }
  } catch (err) {
    // No rights on the maintenance database: leave creating it to the admin; migrating says what is wrong.
    console.warn(`could not check or create database ${name}: ${errorMessage(err)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

try {
  const config = loadConfig();
  await ensureDatabase(config.databaseUrl);
  const ran = await migrateUp(config.databaseUrl);
  console.log(ran.length > 0 ? `applied ${ran.length} migration(s): ${ran.join(', ')}` : 'database schema is up to date');
} catch (err) {
  const what = err instanceof ConfigError ? err.message : `migration failed: ${errorMessage(err)}`;
  console.error(`bitween migrate: ${what}${err instanceof ConfigError ? '' : ` (database ${redact(loadConfigSafe())}; is PostgreSQL running?)`}`);
  process.exit(1);
}

function loadConfigSafe(): string {
  try {
    return loadConfig().databaseUrl;
  } catch {
    return '?';
  }
}
