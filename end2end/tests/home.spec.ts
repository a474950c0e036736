import { test, expect } from '@playwright/test';

test('the home page is server-rendered with the upload limits', async ({ request }) => {
  const res = await request.get('/');
  expect(res.status()).toBe(200);
  const html = await res.text();
  expect(html).toContain('Upload files straight to S3');
  expect(html).toMatch(/Files up to [0-9.]+ [KMG]iB each/);
});

test('the check button is a plain form the server answers, with no WASM on the page', async ({ page }) => {
  const errors: string[] = [];
  const wasm: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasm.push(r.url()); });
  await page.goto('/');
  await page.getByTestId('check-health').click();
  await expect(page).toHaveURL(/\/\?check=1$/);
  await expect(page.getByTestId('health')).toContainText('Database: ok');
  await expect(page.getByTestId('health')).toContainText('Bucket: ok');
  await expect(page.getByTestId('health')).toContainText('Uploads from this site: ok');
  expect(errors).toEqual([]);
  expect(wasm).toEqual([]);
});

test('the health endpoint reports the database and the bucket reachable', async ({ request }) => {
  const res = await request.get('/health');
  expect(res.status()).toBe(200);
  // The test server applied the CORS rule for its own origin at start: browsers may upload.
  expect(await res.json()).toEqual({ status: 'ok', database: 'ok', bucket: 'ok', cors: 'ok' });
});
