/**
 * The browser demo in real Chromium (Debian's /usr/bin/chromium, driven by playwright-core; never a browser
 * download): load the page, wait for the model, ask one question at budget 64 and check that answers, the
 * overlay and the token counts appear, that nothing was fetched from outside this machine, and save a
 * screenshot. Skipped, with a message, when Chromium is not installed (`apt-get install chromium`).
 * `npm run test:browser` runs only this file and writes the screenshot to docs/images/demo.png.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtureModel } from '../fixtures/models.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const screenshot = process.env.D2PRUNER_BROWSER_TEST ? join(repo, 'docs/images/demo.png') : join(tmpdir(), 'd2pruner-demo.png');
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

if (!available) {
  console.warn(`Skipping the browser demo test: no Chromium at ${CHROMIUM}. Install it with \`sudo apt-get install chromium\` (or set CHROMIUM_PATH).`);
}

describe.skipIf(!available)('browser demo (Chromium)', () => {
  let server: ViteDevServer;
  let context: BrowserContext;
  let profile: string;
  const external: string[] = [];

  beforeAll(async () => {
    if (!existsSync(join(repo, 'models/testbed/config.json')) && !process.env.D2PRUNER_DEMO_MODEL) ensureFixtureModel('llava');
    process.env.D2PRUNER_DEMO_QUIET = '1';
    server = await createServer({ configFile: join(repo, 'examples/web/vite.config.ts'), server: { port: 0 } });
    await server.listen();
    profile = mkdtempSync(join(tmpdir(), 'd2pruner-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1180, height: 860 } });
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('answers one question pruned and unpruned at budget 64, with overlay and counts', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.protocol === 'blob:' || url.protocol === 'data:') return route.continue();
      external.push(url.href);
      return route.abort();
    });
    await page.goto(server.resolvedUrls!.local[0]!);
    await page.waitForFunction(() => (window as any).__demo?.ready || (window as any).__demo?.error, null, { timeout: 150_000 });
    expect(await page.evaluate(() => (window as any).__demo.error)).toBeNull();

    const max = Number(await page.getAttribute('#budget', 'max'));
    // Budget 64 on the testbed model (576 tokens); the tiny fallback fixture has only 36, so a quarter of it.
    const budget = max >= 128 ? 64 : Math.max(1, Math.round(max / 4));
    await page.$eval('#budget', (el, value) => {
      (el as HTMLInputElement).value = value;
      el.dispatchEvent(new Event('input'));
    }, String(budget));
    await page.selectOption('#method', 'd2pruner');
    await page.click('#run');
    await page.waitForFunction(() => (window as any).__demo.runs >= 1 || (window as any).__demo.error, null, { timeout: 150_000 });
    expect(await page.evaluate(() => (window as any).__demo.error)).toBeNull();

    expect((await page.textContent('#answer-full'))!.length).toBeGreaterThan(0);
    expect((await page.textContent('#answer-pruned'))!.length).toBeGreaterThan(0);
    expect(await page.textContent('#tokens-full')).toBe(String(max));
    expect(await page.textContent('#tokens-pruned')).toBe(`${max} → ${budget}`);
    expect(await page.textContent('#ttft-pruned')).toMatch(/^\d+ ms$/);
    expect(await page.textContent('#legend')).toContain(`${budget}/${max} visual tokens kept`);

    // The overlay: dimmed pixels, and outline pixels in the pivot (orange) and MIS (cyan) colours.
    const pixels = await page.$eval('#overlay', (canvas) => {
      const c = canvas as HTMLCanvasElement;
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let orange = 0;
      let cyan = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i]! > 230 && data[i + 1]! > 110 && data[i + 1]! < 170 && data[i + 2]! < 40) orange++;
        if (data[i]! < 40 && data[i + 1]! > 180 && data[i + 2]! > 230) cyan++;
      }
      return { width: c.width, orange, cyan };
    });
    expect(pixels.width).toBe(384);
    expect(pixels.orange).toBeGreaterThan(100);
    expect(pixels.cyan).toBeGreaterThan(20);

    expect(external).toEqual([]);
    expect(errors).toEqual([]);
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
  }, 300_000);
});
