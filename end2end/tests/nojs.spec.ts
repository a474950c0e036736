import { test, expect } from '@playwright/test';
import { PASSWORD, uniqueEmail } from './helpers';

test.use({ javaScriptEnabled: false });

test('without JavaScript the plain form uploads, S3 redirects back and the profile shows it completed', async ({ page, baseURL }) => {
  const email = uniqueEmail('nojs');
  // Sign-up works as a plain form post too.
  await page.goto('/signup');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel(/Password/).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.goto('/profile');
  await expect(page.getByRole('heading', { name: 'Your uploads' })).toBeVisible();
  await page.getByText('No JavaScript? Send one file with a plain form').click();
  const form = page.getByTestId('plain-form');
  await form.locator('input[type=file]').setInputFiles({ name: 'plain été.txt', mimeType: 'text/plain', buffer: Buffer.from('sent without javascript') });
  await form.getByRole('button', { name: 'Upload', exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`^${baseURL}/profile\\?uploaded=`));
  await expect(page.getByTestId('flash')).toHaveText('Uploaded plain été.txt.');
  const row = page.getByTestId('upload-list').locator('tr', { hasText: 'plain été.txt' });
  await expect(row).toHaveAttribute('data-status', 'completed');
});
