import { test, expect, APIRequestContext, Browser, BrowserContext, Locator, Page } from '@playwright/test';
import * as crypto from 'crypto';
import * as fs from 'fs';
import { MIB, PASSWORD, dropFiles, hydrated, myUploads, signIn, signUp, throttleUploads, uniqueEmail } from './helpers';
import { ADMIN_EMAIL } from '../global-setup';

// Islands mode: every page is HTML from the server and works without a script; only /profile
// loads WASM, for the dropzone, which adds the files it finishes to the server-rendered history.

/** The admin history's page size. */
const PAGE_SIZE = 50;

const rowOf = (page: Page, name: string) => page.locator(`li.file[data-name="${name}"]`);

/** Fails if a page loads any WASM or carries a module script: opens each path in a new page of `context`. */
async function expectNoWasm(context: BrowserContext, paths: string[]): Promise<void> {
  // A new page: the signed-in pages came from /profile, whose WASM requests must not count here.
  const page = await context.newPage();
  const wasm: string[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.endsWith('.wasm')) wasm.push(r.url());
  });
  for (const path of paths) {
    const res = await page.goto(path);
    expect(res?.status(), path).toBe(200);
    const html = await res!.text();
    expect(html, `${path} has a module script`).not.toMatch(/<script\b[^>]*\btype\s*=\s*["']?module/i);
    // Preload links fetch even with JavaScript off.
    await expect(page.locator('script[type="module"], link[rel="modulepreload"], link[href$=".wasm"]')).toHaveCount(0);
    await page.waitForLoadState('networkidle');
  }
  expect(wasm).toEqual([]);
  await page.close();
}

/** Asserts `el` comes after `before` and before `after` in the document: the message beside its field. */
async function expectBetween(before: Locator, el: Locator, after: Locator): Promise<void> {
  const [b, a] = [await before.elementHandle(), await after.elementHandle()];
  const between = await el.evaluate(
    (node, [b, a]) =>
      !!(b!.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING) &&
      !!(node.compareDocumentPosition(a!) & Node.DOCUMENT_POSITION_FOLLOWING),
    [b, a] as const,
  );
  expect(between).toBe(true);
}

/** Posts the sign-up form as a browser would, without its constraint validation: the server's answer. */
async function postSignUp(request: APIRequestContext, baseURL: string, email: string, password: string) {
  const res = await request.post('/api/auth/sign-up', {
    form: { email, password, invite: '' },
    headers: { accept: 'text/html', origin: baseURL, referer: `${baseURL}/signup` },
    maxRedirects: 0,
  });
  expect(res.status(), await res.text()).toBe(302);
  return res.headers()['location'];
}

/** The texts of one column of a table's body, found by its header. */
async function column(table: Locator, header: string): Promise<string[]> {
  const headers = (await table.locator('thead th').allTextContents()).map((h) => h.trim());
  const i = headers.indexOf(header);
  expect(i, `a "${header}" column among ${headers.join(', ')}`).toBeGreaterThanOrEqual(0);
  return (await table.locator(`tbody tr > td:nth-child(${i + 1})`).allTextContents()).map((t) => t.trim());
}

/** Bytes from a size as the page writes it ("1 byte", "640 bytes", "1.5 KiB"). */
function parseSize(text: string): number {
  const m = /^([0-9.]+)\s*(bytes?|KiB|MiB|GiB|TiB)$/.exec(text.trim());
  expect(m, `a size: "${text}"`).not.toBeNull();
  const power = ['byte', 'KiB', 'MiB', 'GiB', 'TiB'].indexOf(m![2].replace(/^bytes$/, 'byte'));
  return Math.round(Number(m![1]) * 1024 ** power);
}

type Ticket = {
  upload_id: string;
  object_key: string;
  send: { Post?: { url: string; fields: [string, string][] } };
};

type Seeded = { id: string; name: string; size: number; bytes: Buffer };

/** Runs `work` on every item, at most `limit` at once; results in the items' order. */
async function inParallel<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await work(items[i]);
      }
    }),
  );
  return out;
}

/** A ticket for one text file, through the API the dropzone uses (cookies of `request`). */
async function requestTicket(request: APIRequestContext, baseURL: string, name: string, bytes: Buffer): Promise<Ticket> {
  const res = await request.post('/api/uploads/request', {
    headers: { origin: baseURL },
    form: {
      file_name: name,
      size: String(bytes.length),
      content_type: 'text/plain',
      sha256: crypto.createHash('sha256').update(bytes).digest('base64'),
    },
  });
  expect(res.status(), await res.text()).toBe(200);
  return res.json();
}

/**
 * Uploads the files as the dropzone would, without a browser: ticket, form POST to S3 (the
 * ticket's fields in order, the file last), confirm. Cheap enough for a few dozen small files.
 */
async function uploadAll(request: APIRequestContext, baseURL: string, files: { name: string; bytes: Buffer }[]): Promise<Seeded[]> {
  return inParallel(files, 4, async ({ name, bytes }) => {
    const ticket = await requestTicket(request, baseURL, name, bytes);
    const post = ticket.send.Post;
    expect(post, `a form POST for ${name}: ${JSON.stringify(ticket.send)}`).toBeTruthy();
    const form = new FormData();
    for (const [k, v] of post!.fields) form.append(k, v);
    form.append('file', new Blob([new Uint8Array(bytes)], { type: 'text/plain' }), name);
    const s3 = await fetch(post!.url, { method: 'POST', body: form });
    expect(s3.ok, `S3 took ${name}: ${s3.status} ${await s3.text()}`).toBe(true);
    const confirm = await request.post('/api/uploads/confirm', { headers: { origin: baseURL }, form: { id: ticket.upload_id } });
    expect(confirm.status(), await confirm.text()).toBe(200);
    expect((await confirm.json()).status).toBe('completed');
    return { id: ticket.upload_id, name, size: bytes.length, bytes };
  });
}

/** `size` bytes of text, different for each `i`. */
const textBytes = (i: number, size: number) => Buffer.from(`file number ${i}\n`.repeat(Math.ceil(size / 15) + 1)).subarray(0, size);

/**
 * The admin's history, with JavaScript on or off: a user with more than a page of completed
 * uploads (distinct sizes) and two larger pending ones; the admin filters by the user and
 * `completed`, sorts by size, checks the order, downloads the largest, and pages on.
 */
async function adminFlow(browser: Browser, baseURL: string, javaScriptEnabled: boolean): Promise<void> {
  const count = PAGE_SIZE + 5;
  const email = uniqueEmail(javaScriptEnabled ? 'paged-js' : 'paged-nojs');
  const userContext = await browser.newContext({ javaScriptEnabled });
  const user = await userContext.newPage();
  await signUp(user, email);
  // 100, 110, … 640 bytes: each size distinct and under 1 KiB, so the page writes it exactly.
  const done = await uploadAll(user.request, baseURL, Array.from({ length: count }, (_, i) => ({
    name: `paged-${String(i).padStart(2, '0')}.txt`, bytes: textBytes(i, 100 + 10 * i),
  })));
  // Larger than all of them: sorted by size they would come first, were the status filter ignored.
  const pending = ['pending-0.txt', 'pending-1.txt'];
  for (const [i, name] of pending.entries()) await requestTicket(user.request, baseURL, name, textBytes(1000 + i, 5000 + i));
  // A user has no admin page.
  await expect(user.getByRole('link', { name: 'Admin', exact: true })).toHaveCount(0);
  await user.goto('/admin');
  await expect(user.getByTestId('admin-error')).toHaveText('Only administrators may do this.');
  await userContext.close();

  const adminContext = await browser.newContext({ javaScriptEnabled, acceptDownloads: true });
  const admin = await adminContext.newPage();
  await signIn(admin, ADMIN_EMAIL);
  await expectNoWasm(adminContext, ['/', '/admin']);
  await admin.getByRole('link', { name: 'Admin', exact: true }).click();
  await expect(admin).toHaveURL(/\/admin$/);

  const filters = admin.getByTestId('filters');
  await filters.getByLabel('User email').fill(email);
  await filters.getByLabel('Status').selectOption('completed');
  await filters.getByLabel('Sort').selectOption({ label: 'largest first' });
  await filters.getByRole('button', { name: 'Filter' }).click();
  await expect(admin).toHaveURL(/[?&]sort=size/);
  const query = new URL(admin.url()).searchParams;
  expect([query.get('user'), query.get('status'), query.get('sort')]).toEqual([email, 'completed', 'size']);

  const bySize = [...done].sort((a, b) => b.size - a.size);
  const table = admin.getByTestId('history');
  const rows = table.locator('tbody tr');
  await expect(rows).toHaveCount(PAGE_SIZE);
  expect((await column(table, 'Size')).map(parseSize)).toEqual(bySize.slice(0, PAGE_SIZE).map((f) => f.size));
  expect(await column(table, 'File')).toEqual(bySize.slice(0, PAGE_SIZE).map((f) => f.name));
  expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-status')))).toEqual(Array(PAGE_SIZE).fill('completed'));
  for (const name of pending) await expect(table).not.toContainText(name);
  // Totals and chart count what the filter keeps, over all its pages.
  const totals = admin.getByTestId('totals');
  await expect(totals).toContainText('completed');
  await expect(totals).toContainText(new RegExp(`\\b${count}\\b`));
  await expect(totals).not.toContainText('pending');
  const chart = admin.getByTestId('chart');
  await expect(chart.locator('svg[role="img"] desc')).toContainText(new RegExp(`\\b${count}\\b`));
  const today = new Date().toISOString().slice(5, 10); // MM-DD, UTC like the chart
  expect(await chart.locator('text.tick').allTextContents()).toContain(today);

  // Download: a redirect to a presigned GET valid for a minute, for the same bytes.
  const largest = bySize[0];
  const link = rows.first().getByRole('link', { name: 'Download' });
  const href = await link.getAttribute('href');
  expect(href).toBe(`/admin/download/${largest.id}`);
  const hop = await admin.request.get(href!, { maxRedirects: 0 });
  expect([302, 303, 307]).toContain(hop.status());
  const location = new URL(hop.headers()['location']);
  expect(location.searchParams.get('X-Amz-Expires')).toBe('60');
  expect(Buffer.from(await (await fetch(location)).arrayBuffer()).equals(largest.bytes)).toBe(true);
  // The browser following the link saves the file under its name.
  const [download] = await Promise.all([admin.waitForEvent('download'), link.click()]);
  expect(download.suggestedFilename()).toBe(largest.name);
  expect(fs.readFileSync(await download.path()).equals(largest.bytes)).toBe(true);

  // The next page keeps the filters and holds the rest, still largest first.
  const next = admin.getByTestId('next-page');
  await expect(next).toHaveText('Next page');
  const nextQuery = new URL((await next.getAttribute('href'))!, baseURL).searchParams;
  expect([nextQuery.get('user'), nextQuery.get('status'), nextQuery.get('sort')]).toEqual([email, 'completed', 'size']);
  expect(nextQuery.get('after')).toBeTruthy();
  await next.click();
  await expect(admin).toHaveURL(/[?&]after=/);
  await expect(rows).toHaveCount(count - PAGE_SIZE);
  expect((await column(table, 'Size')).map(parseSize)).toEqual(bySize.slice(PAGE_SIZE).map((f) => f.size));
  expect(await column(table, 'File')).toEqual(bySize.slice(PAGE_SIZE).map((f) => f.name));
  await expect(admin.getByTestId('next-page')).toHaveCount(0);
  // The form shows the filters it was sent with.
  await expect(filters.getByLabel('User email')).toHaveValue(email);
  await expect(filters.getByLabel('Status')).toHaveValue('completed');
  await expect(filters.getByLabel('Sort')).toHaveValue('size');
  await adminContext.close();
}

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('sign up, sign out, a wrong password shown beside the form with the email kept, then sign in', async ({ page }) => {
    await expectNoWasm(page.context(), ['/signin', '/signup']);
    const email = uniqueEmail('islands');
    await signUp(page, email);
    await expect(page.getByRole('link', { name: 'My uploads' })).toBeVisible();
    await expect(page.getByRole('link', { name: 'Admin', exact: true })).toHaveCount(0);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(/\/\?done=signed-out$/);
    await expect(page.getByTestId('flash')).toHaveText('You are signed out.');
    await expect(page.getByTestId('signed-in-as')).toHaveCount(0);

    await page.goto('/signin');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page).toHaveURL(/\/signin\?error=wrong-credentials&email=/);
    expect(new URL(page.url()).searchParams.get('email')).toBe(email);
    await expect(page.getByTestId('form-error')).toHaveText('Wrong email or password.');
    await expect(page.getByLabel('Email')).toHaveValue(email);

    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page).toHaveURL(/\/profile$/);
    await expect(page.getByTestId('signed-in-as')).toHaveText(email);
  });

  test('sign-up refusals from the server are shown beside the field they concern', async ({ page, baseURL, request }) => {
    // The browser would not send these (type=email, minlength): the server's answer, then its page.
    const badEmail = await postSignUp(page.request, baseURL!, 'not-an-email', PASSWORD);
    expect(badEmail).toBe('/signup?error=bad-email&email=not-an-email');
    await page.goto(badEmail);
    const emailInput = page.getByLabel('Email');
    const passwordInput = page.getByLabel('Password (at least 10 characters)');
    await expect(page.getByTestId('email-error')).toHaveText('This is not an email address.');
    await expect(page.getByTestId('password-error')).toHaveCount(0);
    await expect(emailInput).toHaveValue('not-an-email');
    await expectBetween(emailInput, page.getByTestId('email-error'), passwordInput);

    const shortEmail = uniqueEmail('short');
    const short = new URL(await postSignUp(page.request, baseURL!, shortEmail, 'short'), baseURL);
    expect([short.pathname, short.searchParams.get('error'), short.searchParams.get('email')]).toEqual(['/signup', 'short-password', shortEmail]);
    await page.goto(short.pathname + short.search);
    await expect(page.getByTestId('password-error')).toHaveText('The password needs at least 10 characters.');
    await expect(page.getByTestId('email-error')).toHaveCount(0);
    await expect(emailInput).toHaveValue(shortEmail);
    await expectBetween(passwordInput, page.getByTestId('password-error'), page.getByRole('button', { name: 'Create account' }));

    // An existing account (made on another cookie jar), then the form itself, which passes the browser.
    const taken = uniqueEmail('taken');
    expect(await postSignUp(request, baseURL!, taken, PASSWORD)).toBe('/profile');
    await page.goto('/signup');
    await emailInput.fill(taken);
    await passwordInput.fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page).toHaveURL(/\/signup\?error=email-taken&email=/);
    expect(new URL(page.url()).searchParams.get('email')).toBe(taken);
    await expect(page.getByTestId('email-error')).toHaveText('An account with this email exists already; please sign in.');
    await expect(page.getByTestId('password-error')).toHaveCount(0);
    await expect(emailInput).toHaveValue(taken);
    await expectBetween(emailInput, page.getByTestId('email-error'), passwordInput);
  });

  test('an admin filters, sorts by size, pages on and downloads; / and /admin load no WASM', async ({ browser, baseURL }) => {
    test.slow(); // 57 uploads made through the API first
    await adminFlow(browser, baseURL!, false);
  });
});

test.describe('with JavaScript', () => {
  test('an admin filters, sorts by size, pages on and downloads; / and /admin load no WASM', async ({ browser, baseURL }) => {
    test.slow();
    await adminFlow(browser, baseURL!, true);
  });

  test('leaving /profile mid-upload and coming back: the island starts afresh, without a panic', async ({ page }) => {
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && /panic/i.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    // The dropzone asks before a page with uploads in flight is left.
    page.on('dialog', (d) => d.accept());

    await signUp(page, uniqueEmail('leave'));
    await hydrated(page);
    // 4 MiB at 64 KiB/s: still going when the page is left.
    const unthrottle = await throttleUploads(page, 64 * 1024);
    await dropFiles(page, [{ name: 'slow.bin', type: 'application/octet-stream', bytes: 's'.repeat(MIB), repeat: 4 }]);
    await expect(rowOf(page, 'slow.bin')).toHaveAttribute('data-phase', 'uploading', { timeout: 10_000 });

    await page.goto('/');
    await unthrottle();
    await expect(page.getByRole('heading', { name: 'Upload files straight to S3' })).toBeVisible();
    await page.goBack();
    await expect(page).toHaveURL(/\/profile$/);
    await hydrated(page);

    const name = `after-return-${Date.now()}.txt`;
    await dropFiles(page, [{ name, type: 'text/plain', bytes: 'sent after coming back\n' }]);
    await expect(rowOf(page, name)).toHaveAttribute('data-phase', 'completed', { timeout: 20_000 });
    await expect(page.getByTestId('announce')).toHaveText('1 of 1 files uploaded.');
    const top = page.locator('#history tbody tr').first();
    await expect(top).toHaveAttribute('data-status', 'completed');
    await expect(top).toContainText(name);
    expect(problems).toEqual([]);
  });

  test('a finished file joins the top of the history at once, and the empty notice goes', async ({ page, baseURL }) => {
    const email = uniqueEmail('fresh');
    await signUp(page, email);
    await hydrated(page);
    await expect(page.getByRole('link', { name: 'My uploads' })).toBeVisible();
    await expect(page.getByRole('link', { name: 'Admin', exact: true })).toHaveCount(0);
    const history = page.locator('#history');
    const empty = page.getByTestId('no-uploads');
    await expect(empty).toHaveText('No uploads yet.');
    await expect(empty).toBeVisible();
    await expect(history).toHaveAttribute('hidden', '');
    await expect(history).toBeHidden();
    // A reload would lose this mark.
    await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));

    const rows = history.locator('tbody tr');
    const names = [`first-${Date.now()}.txt`, `second-${Date.now()}.txt`];
    for (const [i, name] of names.entries()) {
      await dropFiles(page, [{ name, type: 'text/plain', bytes: `file ${i}\n` }]);
      await expect(rowOf(page, name)).toHaveAttribute('data-phase', 'completed', { timeout: 20_000 });
      // The row goes in before the queue says completed: no wait worth the name.
      await expect(rows.first()).toContainText(name, { timeout: 1_000 });
      await expect(rows.first()).toHaveAttribute('data-status', 'completed', { timeout: 1_000 });
      await expect(rows).toHaveCount(i + 1);
    }
    await expect(history).toBeVisible();
    await expect(empty).toBeHidden();
    await expect(rows.nth(1)).toContainText(names[0]);
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);

    // The rows are the server's: same ids, newest first.
    const server = await myUploads(page.request, baseURL!);
    const idOf = (name: string) => server.find((r) => r.file_name === name)?.id;
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-id')))).toEqual([idOf(names[1]), idOf(names[0])]);
  });
});
