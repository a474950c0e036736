import { test, expect, Page } from '@playwright/test';
import {
  MIB, S3Traffic, UploadCalls, dropFiles, hydrated, myUploads, presignGet, routeS3, signUp, throttleUploads, uniqueEmail,
} from './helpers';

const S3 = new URL(process.env.S3_ENDPOINT!).origin;

const rowOf = (page: Page, name: string) => page.locator(`li.file[data-name="${name}"]`);

test('dropping three files uploads each straight to S3 with progress and ends completed', async ({ page, baseURL }) => {
  await signUp(page, uniqueEmail('drop'));
  await hydrated(page);
  const files = [
    { name: 'alpha.txt', type: 'text/plain', bytes: 'alpha contents\n' },
    { name: 'bêta ü.txt', type: 'text/plain', bytes: 'second file, unicode name\n' },
    { name: 'gamma.bin', type: 'application/octet-stream', bytes: Array.from({ length: 3000 }, (_, i) => i % 256) },
  ];
  await dropFiles(page, files);
  for (const f of files) {
    const row = page.locator(`li.file[data-name="${f.name}"]`);
    await expect(row).toHaveAttribute('data-phase', 'completed', { timeout: 20_000 });
    await expect(row.locator('progress')).toHaveAttribute('value', String(typeof f.bytes === 'string' ? Buffer.byteLength(f.bytes) : f.bytes.length));
  }
  await expect(page.getByTestId('announce')).toHaveText('3 of 3 files uploaded.');
  // The history below updates as uploads complete.
  await expect(page.getByTestId('upload-list').locator('tr[data-status="completed"]')).toHaveCount(3);

  const rows = await myUploads(page.request, baseURL!);
  expect(rows).toHaveLength(3);
  for (const f of files) {
    const row = rows.find((r) => r.file_name === f.name);
    expect(row.status).toBe('completed');
    const res = await fetch(presignGet(row.object_key));
    expect(res.status).toBe(200);
    const got = Buffer.from(await res.arrayBuffer());
    const want = typeof f.bytes === 'string' ? Buffer.from(f.bytes) : Buffer.from(f.bytes);
    expect(got.equals(want)).toBe(true);
  }
});

test('a file over the limit and a disallowed type are refused in the page and nothing is requested', async ({ page }) => {
  await signUp(page, uniqueEmail('limits'));
  await hydrated(page);
  const calls = new UploadCalls(page);
  const s3 = new S3Traffic(page);
  const max = Number(process.env.E2E_MAX_BYTES);
  await dropFiles(page, [
    { name: 'huge.bin', type: 'application/octet-stream', bytes: 'x'.repeat(1024 * 1024), repeat: max / (1024 * 1024) + 1 },
    { name: 'report.pdf', type: 'application/pdf', bytes: '%PDF-1.4' },
  ]);
  const huge = page.locator('li.file[data-name="huge.bin"]');
  await expect(huge).toHaveAttribute('data-phase', 'refused');
  await expect(huge.locator('.message')).toContainText('the limit is 10 MiB');
  const pdf = page.locator('li.file[data-name="report.pdf"]');
  await expect(pdf).toHaveAttribute('data-phase', 'refused');
  await expect(pdf.locator('.message')).toContainText('application/pdf');
  // Files are read and ticketed one at a time, in the order they came: a file dropped after the
  // refused ones is the first to be asked for only if they were asked for nothing.
  await dropFiles(page, [{ name: 'allowed.txt', type: 'text/plain', bytes: 'within the limits\n' }]);
  await expect(rowOf(page, 'allowed.txt')).toHaveAttribute('data-phase', 'completed', { timeout: 10_000 });
  const [ticket] = await calls.ticketsFor('allowed.txt');
  expect(calls.tickets.map((t) => t.name)).toEqual(['allowed.txt']);
  expect(ticket.uploadId).toBeTruthy();
  expect(s3.startedSince(0)).toHaveLength(1);
});

test('cancelling a large upload stops it, and nothing is completed or stored', async ({ page, baseURL }) => {
  await signUp(page, uniqueEmail('cancel'));
  await hydrated(page);
  const s3 = new S3Traffic(page);
  const unthrottle = await throttleUploads(page, 256 * 1024);
  await dropFiles(page, [{ name: 'large.bin', type: 'application/octet-stream', bytes: 'y'.repeat(MIB), repeat: 4 }]);
  const row = rowOf(page, 'large.bin');
  await expect(row).toHaveAttribute('data-phase', 'uploading', { timeout: 10_000 });
  await expect.poll(async () => Number(await row.locator('progress').getAttribute('value')), { timeout: 10_000 }).toBeGreaterThan(0);
  await row.getByRole('button', { name: 'Cancel' }).click();
  await expect(row).toHaveAttribute('data-phase', 'cancelled');
  await expect(row.getByRole('button', { name: 'Retry' })).toBeVisible();
  // Unthrottled, a send the cancel left running would end within moments, answered by S3.
  await unthrottle();

  // The send itself was stopped: the browser aborted it before S3 answered, and S3 never took it.
  await expect.poll(() => s3.pending, { timeout: 10_000 }).toBe(0);
  const sends = s3.startedSince(0);
  expect(sends.map((e) => e.method)).toEqual(['POST']);
  expect(s3.outcome(sends[0])).toEqual({ ...sends[0], kind: 'fail', error: 'net::ERR_ABORTED' });

  await expect.poll(async () => (await myUploads(page.request, baseURL!))[0]?.status, { timeout: 10_000 }).toBe('cancelled');
  const [upload] = await myUploads(page.request, baseURL!);
  const res = await fetch(presignGet(upload.object_key));
  expect(res.status).toBe(404);
});

test('a cancelled file can be retried with a fresh ticket', async ({ page, baseURL }) => {
  await signUp(page, uniqueEmail('retry'));
  await hydrated(page);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 128 * 1024 });
  await dropFiles(page, [{ name: 'again.bin', type: 'application/octet-stream', bytes: 'z'.repeat(1024 * 1024), repeat: 1 }]);
  const row = page.locator('li.file[data-name="again.bin"]');
  await expect(row).toHaveAttribute('data-phase', 'uploading', { timeout: 10_000 });
  await row.getByRole('button', { name: 'Cancel' }).click();
  await expect(row).toHaveAttribute('data-phase', 'cancelled');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await row.getByRole('button', { name: 'Retry' }).click();
  await expect(row).toHaveAttribute('data-phase', 'completed', { timeout: 20_000 });
  const rows = await myUploads(page.request, baseURL!);
  expect(rows.map((r) => r.status).sort()).toEqual(['cancelled', 'completed']);
});

test('a file S3 refuses ends failed with S3\'s words, and Retry sends it whole with a fresh ticket', async ({ page, baseURL }) => {
  await signUp(page, uniqueEmail('refused'));
  await hydrated(page);
  const calls = new UploadCalls(page);
  const s3 = new S3Traffic(page);
  // S3 refuses the first send, as it would a policy it does not accept; later ones go through.
  let refused = 0;
  await page.route(`${S3}/**`, async (route) => {
    if (route.request().method() !== 'POST' || refused > 0) return route.continue();
    refused++;
    await route.fulfill({
      status: 403,
      headers: { 'content-type': 'application/xml', 'access-control-allow-origin': baseURL! },
      body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Denied by test</Message></Error>',
    });
  });
  const bytes = Array.from({ length: 100_000 }, (_, i) => (i * 31 + (i >> 8)) % 256);
  await dropFiles(page, [{ name: 'refused.bin', type: 'application/octet-stream', bytes }]);
  const row = rowOf(page, 'refused.bin');
  await expect(row).toHaveAttribute('data-phase', 'failed', { timeout: 10_000 });
  await expect(row.locator('.message')).toContainText('Denied by test (AccessDenied)');
  // A refusal is not retried by itself: a resend would be refused the same way.
  expect(refused).toBe(1);

  await row.getByRole('button', { name: 'Retry' }).click();
  await expect(row).toHaveAttribute('data-phase', 'completed', { timeout: 10_000 });
  await expect(row.locator('.message')).toHaveText('');
  const [first, second] = await calls.ticketsFor('refused.bin');
  expect(calls.tickets).toHaveLength(2);
  expect(second.uploadId).not.toBe(first.uploadId);
  // Each ticket was sent once: the first one refused, the second one taken.
  expect(s3.startedSince(0).map((e) => e.key)).toEqual([first.objectKey, second.objectKey]);
  expect(s3.outcomes(first.objectKey!).map((e) => e.status)).toEqual([403]);
  expect(s3.outcomes(second.objectKey!).map((e) => e.kind)).toEqual(['ok']);

  await expect.poll(async () => (await myUploads(page.request, baseURL!)).map((r) => `${r.id} ${r.status}`).sort(), { timeout: 10_000 })
    .toEqual([`${first.uploadId} failed`, `${second.uploadId} completed`].sort());
  const stored = await fetch(presignGet(second.objectKey!));
  expect(stored.status).toBe(200);
  expect(Buffer.from(await stored.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
  expect((await fetch(presignGet(first.objectKey!))).status).toBe(404);
});

test('of eight dropped files at most three are sent to S3 at once, three at times, and all complete', async ({ page }) => {
  await signUp(page, uniqueEmail('batch'));
  await hydrated(page);
  const s3 = new S3Traffic(page);
  // Slow enough that each send lasts well beyond the reading and ticketing of the next files.
  await throttleUploads(page, 4 * MIB);
  const files = Array.from({ length: 8 }, (_, i) => ({
    name: `batch-${i}.bin`, type: 'application/octet-stream', bytes: String.fromCharCode(97 + i).repeat(MIB / 2), repeat: 3,
  }));
  await dropFiles(page, files);
  for (const f of files) await expect(rowOf(page, f.name)).toHaveAttribute('data-phase', 'completed', { timeout: 20_000 });
  await expect(page.getByTestId('announce')).toHaveText('8 of 8 files uploaded.');

  // Counted from the browser's requests to S3, from each one's start to S3's answer: never more
  // than three, and three at times (so a page sending one file at a time would fail too).
  expect(s3.maxPending).toBe(3);
  const sends = s3.startedSince(0);
  expect(sends).toHaveLength(files.length);
  expect(sends.map((e) => s3.outcome(e)?.kind)).toEqual(files.map(() => 'ok'));
});

test('a ticket that waited until its last minute is cancelled and signed again before it is sent', async ({ page, baseURL }) => {
  // How old a waiting ticket is, the page measures with its own clock: moved on below.
  await page.clock.install();
  await signUp(page, uniqueEmail('stale'));
  await hydrated(page);
  const calls = new UploadCalls(page);
  const s3 = new S3Traffic(page);
  await routeS3(page);
  const unthrottle = await throttleUploads(page, 128 * 1024);
  const files = ['first-0.bin', 'first-1.bin', 'first-2.bin', 'late.bin'].map((name, i) => ({
    name, type: 'application/octet-stream', bytes: String.fromCharCode(97 + i).repeat(256 * 1024),
  }));
  await dropFiles(page, files);
  const late = rowOf(page, 'late.bin');
  // Three files take the upload places; the fourth has its ticket and waits.
  await expect(late).toHaveAttribute('data-phase', 'ready', { timeout: 10_000 });
  for (const f of files.slice(0, 3)) await expect(rowOf(page, f.name)).toHaveAttribute('data-phase', 'uploading');
  const [old] = await calls.ticketsFor('late.bin');
  expect(old.uploadId).toBeTruthy();

  // 15 minutes on, the ticket (900 s by default) has less than a minute left when a place frees.
  await page.clock.fastForward('15:00');
  await unthrottle();
  for (const f of files) await expect(rowOf(page, f.name)).toHaveAttribute('data-phase', 'completed', { timeout: 15_000 });

  const tickets = await calls.ticketsFor('late.bin');
  expect(tickets).toHaveLength(2);
  const fresh = tickets[1];
  expect(fresh.uploadId).not.toBe(old.uploadId);
  // The jump also leaves the three sends unheard for 15 minutes: they are given up as stalled and
  // sent again, each on a fresh ticket since theirs went stale too. The late file's is among them.
  expect(calls.cancelled).toContain(old.uploadId);
  // The stale ticket never went to S3: the file went once, on its new ticket.
  expect(s3.startedSince(0).filter((e) => e.key.endsWith('/late.bin')).map((e) => e.key)).toEqual([fresh.objectKey]);
  expect(s3.outcomes(fresh.objectKey!).map((e) => e.kind)).toEqual(['ok']);
  await expect.poll(async () => (await myUploads(page.request, baseURL!)).filter((r) => r.file_name === 'late.bin').map((r) => `${r.id} ${r.status}`).sort(), { timeout: 10_000 })
    .toEqual([`${old.uploadId} cancelled`, `${fresh.uploadId} completed`].sort());
});

test('a send S3 stops answering is given up after 30 s without progress and sent again, once', async ({ page, baseURL }) => {
  // How long a request went unheard, the page measures with its own clock: moved on below.
  await page.clock.install();
  await signUp(page, uniqueEmail('stall'));
  await hydrated(page);
  const s3 = new S3Traffic(page);
  // The first POST reaches "S3" and is never answered, as through a connection that died
  // without the browser noticing; later ones go through.
  let held = 0;
  await page.route(`${S3}/**`, async (route) => {
    if (route.request().method() !== 'POST' || held++ > 0) return route.continue();
  });
  const bytes = Array.from({ length: 50_000 }, (_, i) => (i * 7 + (i >> 9)) % 256);
  await dropFiles(page, [{ name: 'stalled.bin', type: 'application/octet-stream', bytes }]);
  const row = rowOf(page, 'stalled.bin');
  await expect.poll(() => s3.startedSince(0).length, { timeout: 10_000 }).toBe(1);
  const [first] = s3.startedSince(0);

  // 20 s unheard is not yet a stall: the send is still waiting, and nothing was sent again.
  await page.clock.fastForward('00:20');
  await page.waitForTimeout(500);
  expect(s3.startedSince(0)).toHaveLength(1);
  expect(s3.outcome(first)).toBeUndefined();
  await expect(row).toHaveAttribute('data-phase', 'uploading');

  // Past 30 s it is aborted and sent again, and the second send completes the file.
  await page.clock.fastForward('00:15');
  await expect(row).toHaveAttribute('data-phase', 'completed', { timeout: 15_000 });
  expect(s3.outcome(first)?.kind).toBe('fail');
  const sends = s3.startedSince(0);
  expect(sends.map((e) => e.key)).toEqual([first.key, first.key]);
  expect(s3.outcome(sends[1])?.kind).toBe('ok');
  const [upload] = (await myUploads(page.request, baseURL!)).filter((r) => r.file_name === 'stalled.bin');
  expect(upload.status).toBe('completed');
  const stored = await fetch(presignGet(upload.object_key));
  expect(Buffer.from(await stored.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
});
