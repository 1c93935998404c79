// Where the node is: the CLI may run from any folder (`npm link`), so it looks for the node's `.env` in
// this order and uses the first that sets a BITWEEN_* variable:
//   1. $BITWEEN_HOME/.env, when BITWEEN_HOME is set (and only there: a BITWEEN_HOME without one is an error);
//   2. ./.env in the current folder (a second node run from its own copy);
//   3. the checkout this CLI runs from (what `npm link` links to), whose `.env` the pm2 apps read.
// The environment still wins over every file. When no file is found and no BITWEEN_* variable is set, it says
// so in one line on stderr, so that a status of "everything down" is not taken for the node's.
// No ~/.config/bitween: the services never read it, and the CLI must see the node the services see.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { loadConfig, type Config } from '../lib/config.js';
import { ConfigError } from '../lib/errors.js';
import { CHECKOUT } from '../lib/hints.js';

type Env = Record<string, string | undefined>;

/** The `.env` files the CLI considers, in order. */
export function dotEnvCandidates(env: Env = process.env, cwd = process.cwd()): string[] {
  if (env.BITWEEN_HOME) return [join(resolve(env.BITWEEN_HOME), '.env')];
  return [...new Set([join(cwd, '.env'), join(CHECKOUT, '.env')])];
}

const setsBitween = (values: Env) => Object.keys(values).some((k) => k.startsWith('BITWEEN_'));

/** The first candidate that sets a BITWEEN_* variable, with its values. */
export function findDotEnv(env: Env = process.env, cwd = process.cwd()): { file: string; values: Env } | undefined {
  const candidates = dotEnvCandidates(env, cwd);
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    const values = parseEnv(readFileSync(file, 'utf8'));
    if (setsBitween(values)) return { file, values };
  }
  if (env.BITWEEN_HOME) {
    throw new ConfigError(`BITWEEN_HOME=${JSON.stringify(env.BITWEEN_HOME)} holds no .env with BITWEEN_* settings (${candidates[0]}): copy .env.example there, or unset BITWEEN_HOME`);
  }
  return undefined;
}

/** The CLI's configuration: environment over the node's `.env`; one line on stderr when it is all defaults. */
export function loadCliConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const found = findDotEnv(env, cwd);
  if (!found && !setsBitween(env)) {
    const config = loadConfig({ ...env });
    process.stderr.write(
      `bitween: no .env with BITWEEN_* settings in ${dotEnvCandidates(env, cwd).map((f) => f.replace(/\/\.env$/, '')).join(' or ')}, and none in the environment: using the defaults (namespace ${config.namespace}; set BITWEEN_HOME to the node's folder)\n`,
    );
    return config;
  }
  return loadConfig({ ...found?.values, ...env });
}
