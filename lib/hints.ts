// The commands bitween prints to tell someone what to do next. Each works as printed from any folder: pm2 is
// not on PATH (it is the package's dependency: `npx pm2` inside the checkout), and `npm start` means nothing
// outside it, so every hint changes into the checkout this code runs from first.
import { fileURLToPath } from 'node:url';
import { appName, isServiceName } from './services.js';

/** The checkout (or installed package) this code runs from: dist/lib/hints.js is two levels below it. */
export const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

/** `cd <checkout> && <command>`, quoted for a POSIX shell when the path needs it. */
export function inCheckout(command: string): string {
  const dir = /^[\w@%+=:,./-]+$/.test(CHECKOUT) ? CHECKOUT : `'${CHECKOUT.replace(/'/g, `'\\''`)}'`;
  return `cd ${dir} && ${command}`;
}

/** How to start one service that is down (starting the ecosystem again would restart the others too). */
export function startHint(service: string): string {
  const app = isServiceName(service) ? appName(service) : `bitween-${service}`;
  return `start it with \`${inCheckout(`npx pm2 start ecosystem.config.js --only ${app}`)}\``;
}

/** The schema is behind the code. */
export function migrateHint(): string {
  return `run \`${inCheckout('npm run migrate')}\``;
}
