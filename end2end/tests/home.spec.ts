import { test, expect } from '@playwright/test';

test('the home page is server-rendered with the upload limits', async ({ request }) => {
  const res = await request.get('/');
  expect(res.status()).toBe(200);
  const html = await res.text();
  expect(html).toContain('Upload files straight to S3');
  expect(html).toMatch(/Files up to [0-9.]+ [KMG]iB each/);
});

test('the page hydrates and its check button asks the server', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  // The button does nothing until the WASM has hydrated the page, so a result proves hydration.
  const button = page.getByTestId('check-health');
  await expect(async () => {
    await button.click();
    await expect(page.getByTestId('health')).toContainText('Database: ok', { timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  await expect(page.getByTestId('health')).toContainText('Bucket: ok');
  expect(errors).toEqual([]);
});

test('the health endpoint reports the database and the bucket reachable', async ({ request }) => {
  const res = await request.get('/health');
  expect(res.status()).toBe(200);
  expect(await res.json()).toEqual({ status: 'ok', database: 'ok', bucket: 'ok' });
});
