// A real headless Chromium (Debian's `chromium`, driven by playwright-core) with a fresh profile in a temp
// folder that close() deletes. Flags: as root it needs --no-sandbox; on this closed network the browser
// must not phone home (background networking, component updates, sync, QUIC).
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.BITWEEN_TEST_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  context: BrowserContext;
  /** A new tab that records every dialog (alert, confirm) it shows; dismissed unless `accept` is set. */
  newPage(): Promise<{ page: Page; dialogs: string[]; answer: { accept: boolean } }>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install it with \`apt-get install -y --no-install-recommends chromium\` (.ci/run does)`);
  }
  const profile = await mkdtemp(join(tmpdir(), 'bitween-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30000 });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    async newPage() {
      const page = await context.newPage();
      const dialogs: string[] = [];
      const answer = { accept: false };
      page.on('dialog', (d) => {
        dialogs.push(`${d.type()}: ${d.message()}`);
        void (answer.accept ? d.accept() : d.dismiss()).catch(() => undefined);
      });
      return { page, dialogs, answer };
    },
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
