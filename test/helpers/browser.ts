// Real Chromium for the dashboard tests: Debian's /usr/bin/chromium driven by playwright-core
// (no browser download). Pages record console errors, CSP violations and failed requests so a
// test can assert the page ran clean.
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env['FULCRUM_CHROMIUM'] ?? '/usr/bin/chromium';

/** `extraArgs`: more Chromium flags, e.g. `--host-resolver-rules=MAP rebind.test 127.0.0.1`. */
export async function launchBrowser(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extraArgs,
    ],
    timeout: 20_000,
  });
}

export interface WatchedPage {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Console errors, uncaught exceptions and failed requests, in order. */
  readonly problems: string[];
}

export async function openPage(
  browser: Browser,
  url: string,
  viewport: { width: number; height: number } = { width: 1280, height: 800 },
): Promise<WatchedPage> {
  const context = await browser.newContext({
    viewport,
    deviceScaleFactor: 1,
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  context.setDefaultTimeout(5000);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => {
    // The event stream is cut when the page closes; that is not a defect.
    if (!r.url().endsWith('/api/v1/events'))
      problems.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
  });
  await page.goto(url, { waitUntil: 'load' });
  return { page, context, problems };
}

// vitest has no Playwright matchers: tests poll these with expect.poll. They never wait for
// an element to appear (a missing one reads as '' / null), so a poll's timeout is the only bound.
export async function textOf(locator: Locator): Promise<string> {
  return (await locator.count()) > 0 ? locator.first().innerText() : '';
}

export async function attrOf(locator: Locator, name: string): Promise<string | null> {
  return (await locator.count()) > 0 ? locator.first().getAttribute(name) : null;
}
