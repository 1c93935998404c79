// Screenshots of the dashboard at desktop and phone width into test-output/<name>/ (git-ignored, for a person
// to look at), and the layout checks that go with them: nothing wider than the window, nothing past its card.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';

/** test-output/ at the package root (this file runs from dist/test/web/). */
export const OUTPUT_DIR = fileURLToPath(new URL('../../../test-output/', import.meta.url));

export const WIDTHS = [1280, 420] as const;

/**
 * For each width: resizes the page, waits for layout, saves `<prefix>-<width>.png` (full page) and returns
 * how wide the document is (scrollWidth) — at most the window's width when nothing spills out — and, when
 * something does, which elements.
 */
export async function screenshots(page: Page, folder: string, prefix: string): Promise<{ width: number; scrollWidth: number; file: string; sticksOut: string[]; spills: string[] }[]> {
  const dir = join(OUTPUT_DIR, folder);
  await mkdir(dir, { recursive: true });
  const out = [];
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    // Two frames: the resize is laid out and painted before anything is measured.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const scrollWidth = await page.evaluate(() => document.scrollingElement!.scrollWidth);
    const file = join(dir, `${prefix}-${width}.png`);
    await page.screenshot({ path: file, fullPage: true });
    out.push({ width, scrollWidth, file, sticksOut: scrollWidth > width ? await overflowing(page) : [], spills: await spillingOutOfCards(page) });
  }
  await page.setViewportSize({ width: WIDTHS[0], height: 900 });
  return out;
}

/** The elements that stick out past the right edge at the current width (for a readable failure). */
export function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const limit = document.documentElement.clientWidth;
    return [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > limit + 0.5 && e.getClientRects().length > 0)
      .slice(0, 10)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${e.className ? `.${String(e.className).replace(/ /g, '.')}` : ''} right=${Math.round(e.getBoundingClientRect().right)}`);
  });
}

/**
 * Elements drawn past the right edge of the card (section) they are in: the page may be narrow enough and a
 * table still spill into the next column. A scrolling box (.table-wrap) counts as the edge for what it holds.
 */
export function spillingOutOfCards(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    for (const card of document.querySelectorAll('section')) {
      if (card.hidden || card.getClientRects().length === 0) continue;
      const edge = card.getBoundingClientRect().right;
      for (const e of card.querySelectorAll('*')) {
        if (e.closest('.table-wrap') && !e.classList.contains('table-wrap')) continue;
        const r = e.getBoundingClientRect();
        if (r.width > 0 && r.right > edge + 0.5) out.push(`${card.id}: ${e.tagName.toLowerCase()}.${String(e.className)} right=${Math.round(r.right)} > ${Math.round(edge)}`);
      }
      // A table that scrolls inside its card is still a table one cannot read whole: report it too.
      for (const w of card.querySelectorAll('.table-wrap')) {
        if (w.scrollWidth > w.clientWidth + 0.5) out.push(`${card.id}: a table scrolls sideways (${w.scrollWidth} > ${w.clientWidth})`);
      }
    }
    return out.slice(0, 10);
  });
}
