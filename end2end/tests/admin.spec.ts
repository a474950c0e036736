import { test, expect } from '@playwright/test';
import * as fs from 'fs';
import { signUp, signIn, dropFiles, hydrated, uniqueEmail } from './helpers';
import { ADMIN_EMAIL } from '../global-setup';

test('an admin finds a user\'s upload in the history and downloads the same bytes', async ({ browser }) => {
  const name = `quarterly-${Date.now()}.txt`;
  const contents = 'numbers the admin wants to see\n';

  const userPage = await (await browser.newContext()).newPage();
  const email = uniqueEmail('user');
  await signUp(userPage, email);
  await hydrated(userPage);
  await dropFiles(userPage, [{ name, type: 'text/plain', bytes: contents }]);
  await expect(userPage.locator(`li.file[data-name="${name}"]`)).toHaveAttribute('data-phase', 'completed', { timeout: 20_000 });
  // A user has no admin page.
  await userPage.goto('/admin');
  await expect(userPage.getByTestId('admin-error')).toHaveText('Only administrators may do this.');

  const adminContext = await browser.newContext({ acceptDownloads: true });
  const admin = await adminContext.newPage();
  await signIn(admin, ADMIN_EMAIL);
  await admin.getByRole('link', { name: 'Admin' }).click();
  await admin.getByLabel('File name').fill(name.slice(0, 12).toUpperCase());
  await admin.getByLabel('User email').fill(email);
  await admin.getByRole('button', { name: 'Filter' }).click();
  const row = admin.getByTestId('history').locator('tbody tr');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(name);
  await expect(row).toContainText(email);
  await expect(row).toHaveAttribute('data-status', 'completed');
  await expect(admin.getByTestId('totals')).toContainText('completed');

  const [download] = await Promise.all([admin.waitForEvent('download'), row.getByRole('link', { name: 'Download' }).click()]);
  expect(download.suggestedFilename()).toBe(name);
  expect(fs.readFileSync(await download.path()).toString()).toBe(contents);
});
