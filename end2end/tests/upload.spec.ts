import { test, expect } from '@playwright/test';
import { signUp, dropFiles, hydrated, myUploads, presignGet, uniqueEmail } from './helpers';

const S3 = new URL(process.env.S3_ENDPOINT!).origin;

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
  const asked: string[] = [];
  page.on('request', (r) => {
    if (r.url().startsWith(S3) || r.url().includes('/api/uploads/request')) asked.push(r.url());
  });
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
  await page.waitForTimeout(500);
  expect(asked).toEqual([]);
});

test('cancelling a large upload stops it, and nothing is completed or stored', async ({ page, baseURL }) => {
  await signUp(page, uniqueEmail('cancel'));
  await hydrated(page);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 256 * 1024,
  });
  await dropFiles(page, [{ name: 'large.bin', type: 'application/octet-stream', bytes: 'y'.repeat(1024 * 1024), repeat: 4 }]);
  const row = page.locator('li.file[data-name="large.bin"]');
  await expect(row).toHaveAttribute('data-phase', 'uploading', { timeout: 10_000 });
  await expect.poll(async () => Number(await row.locator('progress').getAttribute('value')), { timeout: 10_000 }).toBeGreaterThan(0);
  await row.getByRole('button', { name: 'Cancel' }).click();
  await expect(row).toHaveAttribute('data-phase', 'cancelled');
  await expect(row.getByRole('button', { name: 'Retry' })).toBeVisible();
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

  await expect.poll(async () => (await myUploads(page.request, baseURL!))[0]?.status, { timeout: 10_000 }).toBe('cancelled');
  const [upload] = await myUploads(page.request, baseURL!);
  const res = await fetch(presignGet(upload.object_key));
  expect(res.status).toBe(404);
});

test('a failed or cancelled file can be retried with a fresh ticket', async ({ page, baseURL }) => {
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
