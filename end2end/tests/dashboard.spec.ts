import { test, expect } from '@playwright/test';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MIB, dropFiles, hydrated, signUp, throttleUploads, uniqueEmail } from './helpers';

// What users of Uppy's Dashboard or FilePond take for granted: folders, paste, drops anywhere,
// the focus kept where the keyboard user is, and each file's fate told to screen readers.

test('a chosen folder queues every file in it, shown with its path, and each uploads', async ({ page }) => {
  await signUp(page, uniqueEmail('folder'));
  await hydrated(page);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3drop-folder-'));
  fs.mkdirSync(path.join(dir, 'holiday', 'day two'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'holiday', 'notes.txt'), 'first day');
  fs.writeFileSync(path.join(dir, 'holiday', 'day two', 'more notes.txt'), 'second day');
  await page.locator('#folder-input').setInputFiles(path.join(dir, 'holiday'));
  for (const name of ['holiday/notes.txt', 'holiday/day two/more notes.txt']) {
    await expect(page.locator(`li.file[data-name="${name}"]`)).toHaveAttribute('data-phase', 'completed', { timeout: 20_000 });
  }
  // The history keeps the file's own name.
  await expect(page.locator('#history tbody tr').first()).toBeVisible();
  await expect(page.locator('#history')).toContainText('more notes.txt');
});

test('a folder dropped from the desktop is walked: every file in it and its sub-folders is queued with its path', async ({ page }) => {
  await signUp(page, uniqueEmail('dropdir'));
  await hydrated(page);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3drop-dropdir-'));
  fs.mkdirSync(path.join(dir, 'trip', 'second day'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'trip', 'plan.txt'), 'the plan');
  fs.writeFileSync(path.join(dir, 'trip', 'second day', 'log.txt'), 'what happened');
  // A real drag from outside the page, as the operating system gives it: Chromium's input
  // domain, carrying the folder's path (the page sees a directory entry, not a file).
  const box = (await page.getByTestId('dropzone').boundingBox())!;
  const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  const cdp = await page.context().newCDPSession(page);
  const data = { items: [], files: [path.join(dir, 'trip')], dragOperationsMask: 1 };
  for (const type of ['dragEnter', 'dragOver', 'drop']) {
    await cdp.send('Input.dispatchDragEvent', { type: type as 'dragEnter' | 'dragOver' | 'drop', ...at, data });
  }
  for (const name of ['trip/plan.txt', 'trip/second day/log.txt']) {
    await expect(page.locator(`li.file[data-name="${name}"]`)).toHaveAttribute('data-phase', 'completed', { timeout: 20_000 });
  }
  // The folder itself is not taken for a file.
  await expect(page.locator('li.file')).toHaveCount(2);
});

test('a file pasted anywhere on the page uploads', async ({ page }) => {
  await signUp(page, uniqueEmail('paste'));
  await hydrated(page);
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['pasted from the clipboard'], 'pasted.txt', { type: 'text/plain' }));
    document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  await expect(page.locator('li.file[data-name="pasted.txt"]')).toHaveAttribute('data-phase', 'completed', { timeout: 20_000 });
});

test('files dragged over the page show a drop overlay, and a drop outside the dropzone is taken', async ({ page }) => {
  await signUp(page, uniqueEmail('overlay'));
  await hydrated(page);
  const overlay = page.locator('.drop-overlay');
  await expect(overlay).toBeHidden();
  const dt = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped on the heading'], 'anywhere.txt', { type: 'text/plain' }));
    return dt;
  });
  const heading = page.getByRole('heading', { name: 'Your uploads' });
  await heading.dispatchEvent('dragover', { dataTransfer: dt });
  await expect(overlay).toBeVisible();
  await heading.dispatchEvent('drop', { dataTransfer: dt });
  await expect(overlay).toBeHidden();
  await expect(page.locator('li.file[data-name="anywhere.txt"]')).toHaveAttribute('data-phase', 'completed', { timeout: 20_000 });
});

test('after Cancel the focus is on Retry, after Retry on Cancel, and each fate is announced once', async ({ page }) => {
  await signUp(page, uniqueEmail('focus'));
  await hydrated(page);
  const release = await throttleUploads(page, 64 * 1024);
  await dropFiles(page, [{ name: 'slow.bin', type: 'application/octet-stream', bytes: 'f'.repeat(MIB), repeat: 2 }]);
  const row = page.locator('li.file[data-name="slow.bin"]');
  await expect(row).toHaveAttribute('data-phase', 'uploading', { timeout: 10_000 });
  const said = page.getByTestId('file-announce');
  await expect(said).toHaveText('slow.bin: uploading.');

  // Keyboard only: focus Cancel and press Enter.
  await row.getByRole('button', { name: 'Cancel' }).focus();
  await page.keyboard.press('Enter');
  await expect(row).toHaveAttribute('data-phase', 'cancelled');
  await expect(row.getByRole('button', { name: 'Retry' })).toBeFocused();
  await expect(said).toHaveText('slow.bin: cancelled.');

  await page.keyboard.press('Enter');
  await expect(row).toHaveAttribute('data-phase', 'uploading', { timeout: 10_000 });
  await expect(row.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await release();
  await expect(row).toHaveAttribute('data-phase', 'completed', { timeout: 20_000 });
  await expect(said).toHaveText('slow.bin: completed.');
});

test('an image shows a thumbnail made in the browser, and an upload shows its speed and time left', async ({ page }) => {
  await signUp(page, uniqueEmail('thumb'));
  await hydrated(page);
  // A 2x2 PNG.
  const png = Array.from(Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64'));
  await dropFiles(page, [{ name: 'tiny.png', type: 'image/png', bytes: png }]);
  const thumb = page.locator('li.file[data-name="tiny.png"] img.thumb');
  await expect(thumb).toHaveAttribute('src', /^blob:/);
  await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(2);

  const release = await throttleUploads(page, 128 * 1024);
  await dropFiles(page, [{ name: 'timed.bin', type: 'application/octet-stream', bytes: 't'.repeat(MIB), repeat: 2 }]);
  const row = page.locator('li.file[data-name="timed.bin"]');
  await expect(row).toHaveAttribute('data-phase', 'uploading', { timeout: 10_000 });
  await expect(row.locator('.speed')).toHaveText(/^[0-9.]+ (bytes|KiB|MiB)\/s, [0-9]+ (s|min) left$/, { timeout: 10_000 });
  await expect(page.getByTestId('overall-speed')).toHaveText(/\/s, [0-9]+ (s|min) left$/);
  await expect(page.getByTestId('overall')).toContainText('%');
  await release();
  await expect(row).toHaveAttribute('data-phase', 'completed', { timeout: 20_000 });
  await expect(row.locator('.speed')).toHaveText('');
});
