import { test, expect, Page } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from '../global-setup';
import { MIB, dropFiles, hydrated, throttleUploads, uniqueEmail, PASSWORD } from './helpers';

// The app in a second language: chosen from the browser's Accept-Language, switchable with a
// plain link, and with no English left on any page (checked against the English catalogue).

const LOCALES = path.resolve(__dirname, '../../app/locales');

type Catalogue = Map<string, string>;

/** Every key of a language's catalogues, flattened to `namespace.a.b`. */
function catalogue(lang: string): Catalogue {
  const out: Catalogue = new Map();
  const walk = (prefix: string, v: unknown) => {
    if (typeof v === 'string') out.set(prefix, v);
    else if (v && typeof v === 'object') for (const [k, w] of Object.entries(v)) walk(`${prefix}.${k}`, w);
  };
  for (const file of fs.readdirSync(path.join(LOCALES, lang))) {
    walk(file.replace(/\.json$/, ''), JSON.parse(fs.readFileSync(path.join(LOCALES, lang, file), 'utf8')));
  }
  return out;
}

/**
 * The English words that must not show on a French page: the fixed text of every English entry
 * whose French differs, cut at its `{{ values }}`, keeping pieces of four letters or more.
 */
function englishOnly(): string[] {
  const en = catalogue('en');
  const fr = catalogue('fr');
  const pieces = new Set<string>();
  for (const [key, english] of en) {
    if (fr.get(key) === english) continue;
    for (const piece of english.split(/\{\{[^}]*\}\}/)) {
      const p = piece.trim().replace(/^[\s.,;:!?()'"-]+|[\s.,;:!?()'"-]+$/g, '');
      if ((p.match(/\p{L}/gu) ?? []).length >= 4) pieces.add(p);
    }
  }
  return [...pieces];
}

/** All the words a person can read or hear on the page: text, labels, alternatives. */
async function readable(page: Page): Promise<string> {
  return page.evaluate(() => {
    const attrs = ['aria-label', 'alt', 'title', 'placeholder'];
    const extra = [...document.querySelectorAll('*')].flatMap((el) =>
      attrs.map((a) => el.getAttribute(a)).filter((v): v is string => !!v),
    );
    const buttons = [...document.querySelectorAll('input[type=submit], input[type=button]')].map((b) => (b as HTMLInputElement).value);
    return [document.title, document.body.innerText, ...extra, ...buttons].join('\n');
  });
}

async function expectNoEnglish(page: Page, where: string) {
  const text = await readable(page);
  const found = englishOnly().filter((p) => {
    const escaped = p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return new RegExp(`(?<!\\p{L})${escaped}(?!\\p{L})`, 'u').test(text);
  });
  expect(found, `English on the French ${where} page`).toEqual([]);
}

test.describe('in French, from the browser\'s Accept-Language', () => {
  test.use({ locale: 'fr-FR' });

  test('the catalogues have the same keys in both languages, and French differs where it should', () => {
    const en = catalogue('en');
    const fr = catalogue('fr');
    expect([...fr.keys()].sort()).toEqual([...en.keys()].sort());
    expect(englishOnly().length).toBeGreaterThan(100);
  });

  test('home, sign-in and sign-up pages show no English', async ({ page }) => {
    for (const [url, where] of [['/', 'home'], ['/?check=1', 'health check'], ['/signin', 'sign-in'], ['/signup', 'sign-up']]) {
      await page.goto(url);
      await expect(page.locator('html')).toHaveAttribute('lang', 'fr');
      await expectNoEnglish(page, where);
    }
  });

  test('a refused sign-in is explained in French, next to the form', async ({ page }) => {
    await page.goto('/signin');
    await page.locator('input[name=email]').fill('nobody@example.com');
    await page.locator('input[name=password]').fill('not the password at all');
    await page.locator('form button[type=submit]').click();
    await expect(page.getByTestId('form-error')).toBeVisible();
    await expectNoEnglish(page, 'refused sign-in');
  });

  test('the profile, idle and mid-upload, and a refused file speak French', async ({ page }) => {
    await page.goto('/signup');
    await page.locator('input[name=email]').fill(uniqueEmail('fr'));
    await page.locator('input[name=password]').fill(PASSWORD);
    await page.locator('form button[type=submit]').click();
    await expect(page).toHaveURL(/\/profile/);
    await hydrated(page);
    await expectNoEnglish(page, 'profile (idle)');

    const release = await throttleUploads(page, 64 * 1024);
    await dropFiles(page, [
      { name: 'lent.bin', type: 'application/octet-stream', bytes: 'f'.repeat(MIB), repeat: 2 },
      { name: 'refuse.exe', type: 'application/x-msdownload', bytes: 'MZ' },
    ]);
    const row = page.locator('li.file[data-name="lent.bin"]');
    await expect(row).toHaveAttribute('data-phase', 'uploading', { timeout: 20_000 });
    await expect(page.locator('li.file[data-name="refuse.exe"]')).toHaveAttribute('data-phase', 'refused');
    await expectNoEnglish(page, 'profile (mid-upload)');
    await release();
    await expect(row).toHaveAttribute('data-phase', 'completed', { timeout: 30_000 });
    await expectNoEnglish(page, 'profile (finished)');
    // The history the server renders is French too.
    await page.reload();
    await expect(page.locator('#history tbody tr')).toHaveCount(1);
    await expectNoEnglish(page, 'profile (reloaded)');
  });

  test('the admin history, with results and without, speaks French', async ({ page }) => {
    await page.goto('/signin');
    await page.locator('input[name=email]').fill(ADMIN_EMAIL);
    await page.locator('input[name=password]').fill(ADMIN_PASSWORD);
    await page.locator('form button[type=submit]').click();
    await expect(page).toHaveURL(/\/profile/);
    await page.goto('/admin');
    await expect(page.getByTestId('history')).toBeVisible();
    await expectNoEnglish(page, 'admin');
    await page.goto('/admin?user=nobody-at-all&status=failed');
    await expectNoEnglish(page, 'admin (empty)');
    await page.goto('/admin?from=2026-02-01&to=2026-01-01');
    await expectNoEnglish(page, 'admin (dates refused)');
  });
});

test('a reader switches language with a plain link, and the choice sticks across pages', async ({ page }) => {
  await page.goto('/signin');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await page.getByTestId('language').filter({ hasText: 'Français' }).click();
  // Back on the same page, now in French.
  await expect(page).toHaveURL(/\/signin$/);
  await expect(page.locator('html')).toHaveAttribute('lang', 'fr');
  await expectNoEnglish(page, 'switched sign-in');
  await page.goto('/signup');
  await expect(page.locator('html')).toHaveAttribute('lang', 'fr');
  await page.getByTestId('language').filter({ hasText: 'English' }).click();
  await expect(page).toHaveURL(/\/signup$/);
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('button', { name: 'Create account' })).toBeVisible();
});

test('the language link works with JavaScript off and never leaves the site', async ({ browser, baseURL }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/?check=1');
  await page.getByTestId('language').filter({ hasText: 'Français' }).click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'fr');
  await expect(page).toHaveURL(/\/\?check=1$/);
  // A `back` that points elsewhere lands on the home page instead.
  for (const back of ['https://evil.example/', '//evil.example/', '/\\evil.example']) {
    const res = await page.request.get(`/language?to=en&back=${encodeURIComponent(back)}`, { maxRedirects: 0 });
    expect(res.status()).toBe(303);
    expect(res.headers()['location']).toBe('/');
  }
  // An unknown language is refused in words.
  const bad = await page.request.get('/language?to=xx&back=/', { maxRedirects: 0 });
  expect(bad.status()).toBe(400);
  expect(await bad.text()).toContain('xx');
  await context.close();
  expect(baseURL).toBeTruthy();
});
