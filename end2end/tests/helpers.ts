import { Page, APIRequestContext, expect } from '@playwright/test';
import * as crypto from 'crypto';

export const PASSWORD = 'a long enough password';

export function uniqueEmail(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}@example.com`;
}

export async function signUp(page: Page, email: string, invite?: string): Promise<void> {
  await page.goto(invite ? `/signup?invite=${invite}` : '/signup');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel(/Password/).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/profile/);
  await expect(page.getByTestId('signed-in-as')).toHaveText(email.toLowerCase());
}

export async function signIn(page: Page, email: string): Promise<void> {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/profile/);
}

/** Waits until the WASM has hydrated the page (the dropzone answers to events only then). */
export async function hydrated(page: Page): Promise<void> {
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached', timeout: 30_000 });
}

type FileSpec = { name: string; type: string; bytes: number[] | string; repeat?: number };

/** Drops files on the dropzone with a real `drop` event carrying a DataTransfer. */
export async function dropFiles(page: Page, files: FileSpec[]): Promise<void> {
  await dropTransfer(page, await makeTransfer(page, files));
}

/** A DataTransfer holding these files, made in the page. */
export async function makeTransfer(page: Page, files: FileSpec[]) {
  return page.evaluateHandle((specs) => {
    const dt = new DataTransfer();
    for (const s of specs) {
      let part: BlobPart = typeof s.bytes === 'string' ? s.bytes : new Uint8Array(s.bytes);
      const parts: BlobPart[] = Array(s.repeat ?? 1).fill(part);
      dt.items.add(new File(parts, s.name, { type: s.type }));
    }
    return dt;
  }, files);
}

export async function dropTransfer(page: Page, dataTransfer: Awaited<ReturnType<typeof makeTransfer>>): Promise<void> {
  const zone = page.getByTestId('dropzone');
  await zone.dispatchEvent('dragenter', { dataTransfer });
  await zone.dispatchEvent('dragover', { dataTransfer });
  await zone.dispatchEvent('drop', { dataTransfer });
}

/** The caller's uploads, through the server function the page itself uses. */
export async function myUploads(request: APIRequestContext, baseURL: string): Promise<any[]> {
  const res = await request.post('/api/uploads/mine', { headers: { origin: baseURL }, form: {} });
  expect(res.status()).toBe(200);
  return res.json();
}

/** A presigned GET written here from the SigV4 spec: an independent client for the bucket. */
export function presignGet(key: string): string {
  const env = process.env;
  const endpoint = new URL(env.S3_ENDPOINT!);
  const region = env.S3_REGION!;
  const now = new Date();
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${region}/s3/aws4_request`;
  const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  const path = `/${env.S3_BUCKET}/` + key.split('/').map(enc).join('/');
  const query: [string, string][] = [
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    ['X-Amz-Credential', `${env.AWS_ACCESS_KEY_ID}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', '60'],
    ['X-Amz-SignedHeaders', 'host'],
  ];
  const qs = query.map(([k, v]) => `${enc(k)}=${enc(v)}`).sort().join('&');
  const canonical = ['GET', path, qs, `host:${endpoint.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const hash = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
  const hmac = (k: crypto.BinaryLike, s: string) => crypto.createHmac('sha256', k).update(s).digest();
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, hash(canonical)].join('\n');
  let key_ = hmac(`AWS4${env.AWS_SECRET_ACCESS_KEY}`, date);
  for (const part of [region, 's3', 'aws4_request']) key_ = hmac(key_, part);
  const sig = crypto.createHmac('sha256', key_).update(toSign).digest('hex');
  return `${endpoint.origin}${path}?${qs}&X-Amz-Signature=${sig}`;
}
