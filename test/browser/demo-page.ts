/**
 * Opens the browser demo (examples/web) in Debian's Chromium through playwright-core, served by Vite from
 * this machine, with every request outside it blocked and recorded. Shared by the Chromium test and
 * `npm run bench:browser`. Never downloads a browser.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

export interface DemoSession {
  context: BrowserContext;
  /** URL of the demo page. */
  url: string;
  /** Requests to anything but this machine (blocked). */
  external: string[];
  /** A new tab with the blocking in place (not yet navigated). */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Starts the demo's Vite server and a headless Chromium with a throw-away profile. */
export async function startDemo(): Promise<DemoSession> {
  process.env.D2PRUNER_DEMO_QUIET = '1';
  const server: ViteDevServer = await createServer({ configFile: join(REPO, 'examples/web/vite.config.ts'), server: { port: 0 } });
  await server.listen();
  const profile = mkdtempSync(join(tmpdir(), 'd2pruner-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1180, height: 860 } });
  } catch (error) {
    await server.close();
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  const external: string[] = [];
  return {
    context,
    url: server.resolvedUrls!.local[0]!,
    external,
    async newPage() {
      const page = await context.newPage();
      await page.route('**/*', (route) => {
        const url = new URL(route.request().url());
        if (url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.protocol === 'blob:' || url.protocol === 'data:') return route.continue();
        external.push(url.href);
        return route.abort();
      });
      return page;
    },
    async close() {
      await context.close();
      await server.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Waits until the page has loaded and warmed up the model; throws the page's own error if it failed. */
export async function waitReady(page: Page, timeout = 150_000): Promise<void> {
  await page.waitForFunction(() => (window as any).__demo?.ready || (window as any).__demo?.error, null, { timeout });
  const error = await page.evaluate(() => (window as any).__demo.error);
  if (error) throw new Error(`the demo page failed: ${error}`);
}

/** Sets method, budget and layer, presses the button and waits for the answers; returns `__demo.last` and `__demo.lastPruning`. */
export async function askOnce(page: Page, options: { method: string; budget: number; layer?: number }, timeout = 150_000): Promise<{ last: any; pruning: any }> {
  const runs = await page.evaluate(() => (window as any).__demo.runs as number);
  await page.$eval('#budget', (el, value) => {
    (el as HTMLInputElement).value = value;
    el.dispatchEvent(new Event('input'));
  }, String(options.budget));
  await page.selectOption('#method', options.method);
  if (options.layer !== undefined) await page.selectOption('#layer', String(options.layer));
  await page.click('#run');
  await page.waitForFunction((before) => (window as any).__demo.runs > before || (window as any).__demo.error, runs, { timeout });
  const error = await page.evaluate(() => (window as any).__demo.error);
  if (error) throw new Error(`the demo page failed: ${error}`);
  return page.evaluate(() => ({ last: (window as any).__demo.last, pruning: (window as any).__demo.lastPruning }));
}
