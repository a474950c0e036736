import { test, expect, Browser, BrowserContext, Page } from '@playwright/test';
import { hydrated, signIn, signUp, uniqueEmail } from '../tests/helpers';
import globalSetup, { ADMIN_EMAIL, ADMIN_PASSWORD } from '../global-setup';

// What each page costs a first-time visitor: the bytes Chromium receives for it (from its own
// network events, so compression and headers are as they travelled), and on /profile how long the
// dropzone takes to answer. Prints figures; asserts only that the pages loaded.

type Kind = 'html' | 'wasm' | 'js' | 'css' | 'other';
const KINDS: Kind[] = ['html', 'wasm', 'js', 'css', 'other'];
type StorageState = Awaited<ReturnType<BrowserContext['storageState']>>;

type Resource = { url: string; kind: Kind; encoding: string; bytes: number };
type Weight = { path: string; who: string; resources: Resource[]; wasmRequested: string[]; acceptEncoding: string };

const TTI_LOADS = 5;
const GOAL_BYTES = 80 * 1024;

function kindOf(url: string, type: string | undefined): Kind {
  const path = new URL(url).pathname;
  // The WASM arrives by fetch() or a preload link: known by its name, not by the request's type.
  if (path.endsWith('.wasm')) return 'wasm';
  if (type === 'Document') return 'html';
  if (type === 'Script' || /\.m?js$/.test(path)) return 'js';
  if (type === 'Stylesheet' || path.endsWith('.css')) return 'css';
  return 'other';
}

/** A header's value whatever its case (CDP keeps the case the server sent). */
function header(headers: Record<string, unknown>, name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : String(headers[key]);
}

/** Loads `path` in a new context (empty cache), signed in as `state` says, and adds up what came. */
async function weigh(browser: Browser, path: string, who: string, state?: StorageState): Promise<Weight> {
  const context = await browser.newContext({ storageState: state });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  const seen = new Map<string, { url: string; type?: string; encoding: string }>();
  const finished = new Map<string, number>();
  let acceptEncoding = '';
  cdp.on('Network.responseReceived', (e) => {
    seen.set(e.requestId, { url: e.response.url, type: e.type, encoding: header(e.response.headers, 'content-encoding') ?? 'none' });
  });
  // encodedDataLength: every byte received for the request, headers included.
  cdp.on('Network.loadingFinished', (e) => finished.set(e.requestId, e.encodedDataLength));
  // What the browser offered, as sent (the extra info carries the headers the network stack added).
  cdp.on('Network.requestWillBeSentExtraInfo', (e) => {
    acceptEncoding ||= header(e.headers, 'accept-encoding') ?? '';
  });
  await cdp.send('Network.enable');
  const wasmRequested: string[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.endsWith('.wasm')) wasmRequested.push(r.url());
  });

  const res = await page.goto(path);
  expect(res?.status(), `${path} for ${who}`).toBe(200);
  // The island's WASM is fetched and instantiated after the load event: wait for its work to end.
  if (path === '/profile') await hydrated(page);
  await page.waitForLoadState('networkidle');

  const resources: Resource[] = [];
  for (const [id, bytes] of finished) {
    const r = seen.get(id);
    if (!r || !/^https?:/.test(r.url)) continue;
    resources.push({ url: r.url, kind: kindOf(r.url, r.type), encoding: r.encoding, bytes });
  }
  await context.close();
  return { path, who, resources, wasmRequested, acceptEncoding };
}

/** Milliseconds from navigation start to `body[data-hydrated]`, on a cold load of /profile. */
async function timeToInteractive(browser: Browser, state: StorageState): Promise<number> {
  const context = await browser.newContext({ storageState: state });
  // Stamps the moment the attribute appears; performance.now() counts from the navigation start.
  await context.addInitScript(() => {
    const w = window as unknown as { hydratedAt?: number };
    new MutationObserver((_, observer) => {
      if (document.body?.hasAttribute('data-hydrated')) {
        w.hydratedAt ??= performance.now();
        observer.disconnect();
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-hydrated'] });
  });
  const page = await context.newPage();
  const res = await page.goto('/profile');
  expect(res?.status()).toBe(200);
  await hydrated(page);
  const at = await page.evaluate(() => (window as unknown as { hydratedAt?: number }).hydratedAt);
  await context.close();
  expect(at, 'the observer saw data-hydrated appear').toBeDefined();
  return at!;
}

const n = (bytes: number) => bytes.toLocaleString('en-US');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function report(weights: Weight[], tti: number[]): void {
  const sum = (w: Weight, kinds: Kind[]) => w.resources.filter((r) => kinds.includes(r.kind)).reduce((a, r) => a + r.bytes, 0);
  // The page name left-aligned, the byte counts right-aligned, the last two columns as they come.
  const cols = ['page', 'HTML', 'WASM', 'JS', 'CSS', 'other', 'total', 'WASM+JS+CSS', '.wasm requested', 'goal'];
  const widths = [22, 9, 9, 9, 9, 9, 10, 12];
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[0]) : i < widths.length ? c.padStart(widths[i]) : `  ${c.padEnd(16)}`)).join(' ');
  console.log('\nPage weight, cold cache: bytes over the wire as Chromium received them (response headers included)');
  console.log(line(cols));
  for (const w of weights) {
    const code = sum(w, ['wasm', 'js', 'css']);
    const goal = w.path === '/profile'
      ? `${n(code)} ≤ ${n(GOAL_BYTES)}: ${code <= GOAL_BYTES ? 'met' : 'MISSED'}`
      : `no WASM: ${w.wasmRequested.length === 0 ? 'met' : 'MISSED'}`;
    console.log(line([
      `${w.path} (${w.who})`,
      ...KINDS.map((k) => n(sum(w, [k]))),
      n(sum(w, KINDS)),
      n(code),
      w.wasmRequested.length ? `yes (${w.wasmRequested.length})` : 'no',
      goal,
    ]));
  }
  console.log('Goals: / and /admin: no WASM; /profile WASM+JS+CSS ≤ 80 KB (81,920 bytes)');

  console.log('\nEncodings seen, per kind of resource:');
  for (const w of weights) {
    const byKind = KINDS.map((k) => {
      const encodings = [...new Set(w.resources.filter((r) => r.kind === k).map((r) => r.encoding))];
      return encodings.length ? `${k} ${encodings.join('/')}` : '';
    }).filter(Boolean);
    console.log(`  ${w.path.padEnd(9)} ${byKind.join(', ')}   (Chromium offered: ${w.acceptEncoding || 'unknown'})`);
  }

  console.log('\nResources:');
  for (const w of weights) {
    console.log(`  ${w.path}`);
    for (const r of [...w.resources].sort((a, b) => b.bytes - a.bytes)) {
      console.log(`    ${r.kind.padEnd(5)} ${n(r.bytes).padStart(9)}  ${r.encoding.padEnd(5)} ${new URL(r.url).pathname}`);
    }
  }

  const ms = (x: number) => `${x.toFixed(0)} ms`;
  console.log(`\nDropzone time to interactive on /profile (navigation start to body[data-hydrated], ${tti.length} cold loads):`);
  console.log(`  median ${ms(median(tti))}, min ${ms(Math.min(...tti))}, max ${ms(Math.max(...tti))}  (each: ${tti.map(ms).join(', ')})`);
}

test('page weight of /, /profile and /admin, and the dropzone\'s time to interactive', async ({ browser, baseURL, request }) => {
  // The benchmark config runs no global setup: make the admin account unless it is there already.
  const probe = await request.post('/api/auth/sign-in', { form: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD }, headers: { origin: baseURL! } });
  if (!probe.ok()) await globalSetup();

  // Sessions to load the pages with, made in throwaway contexts so the measured ones start cold.
  const sessionOf = async (enter: (page: Page) => Promise<void>): Promise<StorageState> => {
    const context = await browser.newContext();
    await enter(await context.newPage());
    const state = await context.storageState();
    await context.close();
    return state;
  };
  const user = await sessionOf((page) => signUp(page, uniqueEmail('weight')));
  const admin = await sessionOf((page) => signIn(page, ADMIN_EMAIL));

  const weights = [
    await weigh(browser, '/', 'signed out'),
    await weigh(browser, '/profile', 'new user', user),
    await weigh(browser, '/admin', 'admin', admin),
  ];
  for (const w of weights) expect(w.resources.some((r) => r.kind === 'html'), `${w.path} arrived`).toBe(true);

  const tti: number[] = [];
  for (let i = 0; i < TTI_LOADS; i++) tti.push(await timeToInteractive(browser, user));
  report(weights, tti);
});
