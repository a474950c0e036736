import { test, expect, Page } from '@playwright/test';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  MIB, S3Traffic, dropFiles, hydrated, listMultipartUploads, makeFile, myUploads, partCount, presignGet, readPart,
  sha256File, sha256Url, signUp, throttleUploads, uniqueEmail,
} from './helpers';

// Large files, against the second server of playwright.config.ts: multipart from 16 MiB with 4
// parts at a time, presigned PUTs below that. The files are made on disk, as users pick them.
test.use({ baseURL: process.env.E2E_LARGE_URL });
test.describe.configure({ timeout: 180_000 });

const S3 = new URL(process.env.S3_ENDPOINT!).origin;
/** About 8 MB/s for the page's uploads: an 8 MiB part takes seconds, time enough to act between parts. */
const SLOW = 8 * MIB;
/** Phases from the moment the ticket is in. */
const UNDER_WAY = /^(uploading|paused|checking|finishing|completed)$/;

let dir: string;
test.beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3drop-large-'));
});
test.afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const rowOf = (page: Page, name: string) => page.locator(`li.file[data-name="${name}"]`);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sorted = (parts: Iterable<number>) => [...new Set(parts)].sort((a, b) => a - b);

async function freshUser(page: Page) {
  await signUp(page, uniqueEmail('large'));
  await hydrated(page);
}

/** The caller's upload of `name`, as the server lists it. */
async function uploadNamed(page: Page, baseURL: string, name: string) {
  const row = (await myUploads(page.request, baseURL)).find((r) => r.file_name === name);
  expect(row, `the server lists an upload named ${name}`).toBeTruthy();
  return row;
}

/** The object's bytes, read back from S3 as a stream, are the file's. */
async function expectStoredAs(key: string, file: string) {
  const got = await sha256Url(presignGet(key));
  expect(got.status).toBe(200);
  expect(got.bytes).toBe(fs.statSync(file).size);
  expect(got.sha256).toBe(await sha256File(file));
}

test('a 300 MiB file goes by multipart, 4 parts at a time, and S3 holds the same bytes', async ({ page, baseURL }) => {
  await freshUser(page);
  const size = 300 * MIB;
  const parts = partCount(size);
  expect(parts).toBe(38);
  const file = makeFile(dir, 'big-300.bin', size, 'big');
  const s3 = new S3Traffic(page);
  // Each part then takes longer than hashing the next one, so how many are in flight is the
  // page's concurrency and not a matter of timing.
  await throttleUploads(page, 64 * MIB);

  await page.setInputFiles('#file-input', file);
  const row = rowOf(page, 'big-300.bin');
  await expect(row).toHaveAttribute('data-phase', 'completed', { timeout: 150_000 });
  await expect(row).toHaveAttribute('data-parts', `${parts}/${parts}`);
  await expect(row).toHaveAttribute('data-resumed', 'false');
  await expect(row.locator('progress')).toHaveAttribute('value', String(size));

  expect(s3.maxInFlight).toBe(4);
  expect(sorted(s3.succeeded())).toEqual(range(1, parts));
  expect(s3.uploadIds()).toHaveLength(1);
  for (const [n, p] of s3.parts) expect(p.maxInFlight, `part ${n} sent twice at once`).toBe(1);

  const upload = await uploadNamed(page, baseURL!, 'big-300.bin');
  expect(upload.status).toBe('completed');
  expect(upload.method).toBe('multipart');
  expect(upload.confirmed_size).toBe(size);
  expect(upload.checksum_sha256).toMatch(/-38$/);
  await expectStoredAs(upload.object_key, file);
});

test('offline pauses a multipart upload; back online it finishes by itself without resending parts', async ({ page, context, baseURL }) => {
  await freshUser(page);
  const size = 96 * MIB;
  const parts = partCount(size);
  const file = makeFile(dir, 'offline.bin', size, 'offline');
  const s3 = new S3Traffic(page);
  await throttleUploads(page, SLOW);

  await page.setInputFiles('#file-input', file);
  const row = rowOf(page, 'offline.bin');
  await expect.poll(() => s3.succeeded().size, { timeout: 60_000 }).toBeGreaterThanOrEqual(2);
  const before = s3.succeeded();
  const wentOffline = s3.mark();
  await context.setOffline(true);
  await expect(row).toHaveAttribute('data-phase', 'paused', { timeout: 10_000 });
  // Paused means nothing goes out: once the requests the cut ended are over, none starts.
  await expect.poll(() => s3.pending, { timeout: 10_000 }).toBe(0);
  const settled = s3.mark();
  await page.waitForTimeout(3_000);
  expect(s3.startedSince(settled)).toEqual([]);
  await expect(row).toHaveAttribute('data-phase', 'paused');

  await context.setOffline(false);
  await expect(row).toHaveAttribute('data-phase', 'completed', { timeout: 120_000 });
  await expect(row).toHaveAttribute('data-parts', `${parts}/${parts}`);
  expect(s3.partsStartedSince(wentOffline).filter((n) => before.has(n)), 'parts S3 already had, sent again').toEqual([]);
  expect(sorted(s3.succeeded())).toEqual(range(1, parts));

  const upload = await uploadNamed(page, baseURL!, 'offline.bin');
  expect(upload.status).toBe('completed');
  await expectStoredAs(upload.object_key, file);
});

test('after a reload the same file resumes with only the missing parts; another file of that name, size and date does not', async ({ page, baseURL }) => {
  await freshUser(page);
  const size = 96 * MIB;
  const parts = partCount(size);
  const file = makeFile(dir, 'resume.bin', size, 'resume');
  fs.mkdirSync(path.join(dir, 'other'));
  const impostor = makeFile(path.join(dir, 'other'), 'resume.bin', size, 'impostor');
  const mtime = new Date('2026-03-01T12:00:00Z');
  for (const f of [file, impostor]) fs.utimesSync(f, mtime, mtime);
  const s3 = new S3Traffic(page);
  await throttleUploads(page, SLOW);
  const row = rowOf(page, 'resume.bin');

  await page.setInputFiles('#file-input', file);
  await expect.poll(() => s3.succeeded().size, { timeout: 60_000 }).toBeGreaterThanOrEqual(3);
  const [uploadId] = s3.uploadIds();
  const before = s3.succeeded(uploadId);
  // A part whose answer the reload cuts off may still have reached S3.
  const cut = s3.partsInFlight();
  await page.reload();
  await hydrated(page);

  // Same name, size and date, other bytes: a new upload, which sends nothing to the first one.
  // (Checked while the first one is unfinished: once it completes, nothing could resume it anyway.)
  let mark = s3.mark();
  await page.setInputFiles('#file-input', impostor);
  await expect(row).toHaveAttribute('data-phase', UNDER_WAY, { timeout: 30_000 });
  await expect(row).toHaveAttribute('data-resumed', 'false');
  await expect.poll(() => s3.partsStartedSince(mark).length, { timeout: 30_000 }).toBeGreaterThan(0);
  expect(s3.partsStartedSince(mark, uploadId)).toEqual([]);

  await page.reload();
  await hydrated(page);
  mark = s3.mark();
  const ticket = page.waitForResponse((r) => r.url().includes('/api/uploads/request-many'));
  await page.setInputFiles('#file-input', file);
  const plan = (await (await ticket).json())[0].Ok.send.Multipart;
  expect(plan, 'a multipart ticket').toBeTruthy();
  expect(plan.resumed).toBe(true);
  await expect(row).toHaveAttribute('data-resumed', 'true', { timeout: 30_000 });
  await expect(row).toHaveAttribute('data-phase', 'completed', { timeout: 120_000 });
  await expect(row).toHaveAttribute('data-parts', `${parts}/${parts}`);

  // S3 had every part the page saw succeed, and besides those at most parts the reload cut off.
  const done = new Set<number>(plan.done);
  expect([...before].filter((n) => !done.has(n)), 'parts that succeeded but S3 lacks').toEqual([]);
  expect([...done].filter((n) => !before.has(n) && !cut.has(n)), 'parts S3 has that were never sent').toEqual([]);
  // After the reload: the same multipart upload, exactly the parts it lacked, none sent before.
  expect(s3.startedSince(mark).filter((e) => e.uploadId !== uploadId)).toEqual([]);
  const after = s3.partsStartedSince(mark, uploadId);
  expect(after.filter((n) => before.has(n)), 'parts sent again after the reload').toEqual([]);
  expect(sorted(after)).toEqual(range(1, parts).filter((n) => !done.has(n)));

  const uploads = (await myUploads(page.request, baseURL!)).filter((r) => r.file_name === 'resume.bin');
  const completed = uploads.filter((r) => r.status === 'completed');
  expect(completed).toHaveLength(1);
  await expectStoredAs(completed[0].object_key, file);
});

test('a part altered on the way is refused by S3 and sent again from the file', async ({ page, baseURL }) => {
  await freshUser(page);
  const size = 40 * MIB;
  const parts = partCount(size);
  const file = makeFile(dir, 'tamper.bin', size, 'tamper');
  const altered = readPart(file, 2, size);
  altered[12_345] ^= 0xff;
  const s3 = new S3Traffic(page);
  // The first PUT of part 2 carries one flipped byte; its signed SHA-256 is the true part's.
  let puts = 0;
  await page.route((url) => url.origin === S3 && url.searchParams.get('partNumber') === '2', async (route) => {
    if (route.request().method() === 'PUT' && puts++ === 0) await route.continue({ postData: altered });
    else await route.continue();
  });

  await page.setInputFiles('#file-input', file);
  const row = rowOf(page, 'tamper.bin');
  await expect(row).toHaveAttribute('data-phase', 'completed', { timeout: 120_000 });
  await expect(row).toHaveAttribute('data-parts', `${parts}/${parts}`);
  const part2 = s3.parts.get(2)!;
  expect(part2.attempts).toBeGreaterThanOrEqual(2);
  expect(part2.results[0], 'S3 refuses the altered part').toBe(400);
  expect(part2.successes).toBe(1);

  const upload = await uploadNamed(page, baseURL!, 'tamper.bin');
  expect(upload.status).toBe('completed');
  await expectStoredAs(upload.object_key, file);
});

test('cancelling a multipart upload aborts it on S3', async ({ page, baseURL }) => {
  await freshUser(page);
  const file = makeFile(dir, 'cancel-mp.bin', 64 * MIB, 'cancel');
  const s3 = new S3Traffic(page);
  await throttleUploads(page, SLOW);

  await page.setInputFiles('#file-input', file);
  const row = rowOf(page, 'cancel-mp.bin');
  await expect.poll(() => s3.succeeded().size, { timeout: 60_000 }).toBeGreaterThanOrEqual(1);
  const upload = await uploadNamed(page, baseURL!, 'cancel-mp.bin');
  expect(upload.status).toBe('pending');
  const prefix = upload.object_key.slice(0, upload.object_key.lastIndexOf('/') + 1);
  // The listing sees the upload while it runs, so that it finds none later means something.
  expect(await listMultipartUploads(prefix)).toEqual([{ key: upload.object_key, uploadId: s3.uploadIds()[0] }]);

  await row.getByRole('button', { name: 'Cancel' }).click();
  await expect(row).toHaveAttribute('data-phase', 'cancelled');
  await expect.poll(async () => (await listMultipartUploads(prefix)).length, { timeout: 10_000 }).toBe(0);
  expect((await uploadNamed(page, baseURL!, 'cancel-mp.bin')).status).toBe('cancelled');
  expect((await fetch(presignGet(upload.object_key))).status).toBe(404);
});

test('with UPLOAD_METHOD=put small files go to S3 by presigned PUT, not POST', async ({ page, baseURL }) => {
  await freshUser(page);
  const s3 = new S3Traffic(page);
  const files = [
    { name: 'put-one.txt', type: 'text/plain', bytes: 'sent with one presigned PUT\n' },
    { name: 'put-two.bin', type: 'application/octet-stream', bytes: Array.from({ length: 5000 }, (_, i) => (i * 7) % 256) },
  ];
  await dropFiles(page, files);
  for (const f of files) await expect(rowOf(page, f.name)).toHaveAttribute('data-phase', 'completed', { timeout: 20_000 });

  const sent = s3.startedSince(0);
  expect(sent.filter((e) => e.method !== 'PUT'), 'requests to S3 other than PUT').toEqual([]);
  const rows = await myUploads(page.request, baseURL!);
  for (const f of files) {
    const row = rows.find((r) => r.file_name === f.name);
    expect(row.status).toBe('completed');
    expect(row.method).toBe('put');
    expect(sent.filter((e) => e.key === row.object_key).length, `PUTs of ${f.name}`).toBeGreaterThanOrEqual(1);
    const res = await fetch(presignGet(row.object_key));
    expect(res.status).toBe(200);
    const want = typeof f.bytes === 'string' ? Buffer.from(f.bytes) : Buffer.from(f.bytes);
    expect(Buffer.from(await res.arrayBuffer()).equals(want)).toBe(true);
  }
});

test('Pause sends nothing until Resume, and the upload then completes', async ({ page, baseURL }) => {
  await freshUser(page);
  const size = 48 * MIB;
  const parts = partCount(size);
  const file = makeFile(dir, 'pause.bin', size, 'pause');
  const s3 = new S3Traffic(page);
  await throttleUploads(page, SLOW);

  await page.setInputFiles('#file-input', file);
  const row = rowOf(page, 'pause.bin');
  await expect.poll(() => s3.pending, { timeout: 30_000 }).toBeGreaterThan(0);
  await row.getByRole('button', { name: 'Pause' }).click();
  await expect(row).toHaveAttribute('data-phase', 'paused');
  // Settled: whatever was in flight has ended (cut, or let finish). From then on, nothing starts.
  await expect.poll(() => s3.pending, { timeout: 15_000 }).toBe(0);
  const settled = s3.mark();
  const done = s3.succeeded();
  await page.waitForTimeout(1_000);
  expect(s3.startedSince(settled), 'requests started while paused').toEqual([]);
  await expect(row).toHaveAttribute('data-phase', 'paused');

  await row.getByRole('button', { name: 'Resume' }).click();
  await expect(row).toHaveAttribute('data-phase', 'completed', { timeout: 60_000 });
  await expect(row).toHaveAttribute('data-parts', `${parts}/${parts}`);
  expect(s3.partsStartedSince(settled).filter((n) => done.has(n)), 'parts sent again after Resume').toEqual([]);

  const upload = await uploadNamed(page, baseURL!, 'pause.bin');
  expect(upload.status).toBe('completed');
  await expectStoredAs(upload.object_key, file);
});
