import { test, expect, Page, Browser } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { ADMIN_EMAIL } from '../global-setup';
import { MIB, dropFiles, hydrated, signIn, signUp, throttleUploads, uniqueEmail } from './helpers';

// Every page at a phone's width and a laptop's: nothing scrolls sideways (the document is exactly
// as wide as the viewport), a screenshot is kept with the test's results, and axe-core finds no
// accessibility violation.

const VIEWPORTS = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'desktop', width: 1280, height: 800 },
];

async function check(page: Page, name: string, shot: string): Promise<void> {
  const { scroll, inner } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    inner: window.innerWidth,
  }));
  await page.screenshot({ path: test.info().outputPath(`${shot}.png`), fullPage: true });
  expect(scroll, `${name}: the document is ${scroll} px wide in a ${inner} px viewport`).toBeLessThanOrEqual(inner);
  const axe = await new AxeBuilder({ page }).analyze();
  const found = axe.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(found, `${name}: axe-core violations`).toEqual([]);
}

async function newPage(browser: Browser, width: number, height: number): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height } });
  return context.newPage();
}

for (const vp of VIEWPORTS) {
  test(`every page fits a ${vp.width} px screen and passes axe-core (${vp.name})`, async ({ browser }) => {
    test.setTimeout(120_000);
    const visitor = await newPage(browser, vp.width, vp.height);
    for (const path of ['/', '/signin', '/signup', '/signin?error=wrong-credentials&email=a%40b.c']) {
      await visitor.goto(path);
      await check(visitor, path, `${vp.name}${path.replace(/[/?=&%.]+/g, '-')}`);
    }

    // The profile, idle and then mid-upload with files in every state the queue shows.
    const user = await newPage(browser, vp.width, vp.height);
    await signUp(user, uniqueEmail('layout'));
    await hydrated(user);
    await check(user, '/profile (idle)', `${vp.name}-profile-idle`);
    await dropFiles(user, [{ name: 'done-first.txt', type: 'text/plain', bytes: 'finished before the slow one' }]);
    await expect(user.locator('li.file[data-name="done-first.txt"]')).toHaveAttribute('data-phase', 'completed');
    const release = await throttleUploads(user, 64 * 1024);
    await dropFiles(user, [
      { name: 'a-rather-long-file-name-that-must-wrap-on-a-phone-screen.bin', type: 'application/octet-stream', bytes: 'x'.repeat(MIB), repeat: 4 },
      { name: 'refused.exe', type: 'application/x-msdownload', bytes: 'MZ' },
    ]);
    await expect(user.locator('li.file[data-phase="uploading"]')).toHaveCount(1);
    await check(user, '/profile (mid-upload)', `${vp.name}-profile-uploading`);
    await user.getByRole('button', { name: 'Cancel all' }).click();
    await release();

    const admin = await newPage(browser, vp.width, vp.height);
    await signIn(admin, ADMIN_EMAIL);
    await admin.goto('/admin');
    await check(admin, '/admin', `${vp.name}-admin`);
    await admin.goto('/admin?status=failed');
    await check(admin, '/admin?status=failed', `${vp.name}-admin-filtered`);
  });
}
