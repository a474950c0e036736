import { Page, APIRequestContext, Request, expect } from '@playwright/test';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

export const PASSWORD = 'a long enough password';
export const MIB = 1024 * 1024;

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

// An independent S3 client for the bucket, written here from the SigV4 spec (path style, as the
// local Garage is addressed): presigned URLs with the credentials scripts/test exported.

/** RFC 3986 encoding, as SigV4 wants it. */
const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

function presignPath(method: string, urlPath: string, query: Record<string, string>, expiresSecs: number): string {
  const env = process.env;
  const endpoint = new URL(env.S3_ENDPOINT!);
  const region = env.S3_REGION!;
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${region}/s3/aws4_request`;
  const params: [string, string][] = [
    ...Object.entries(query),
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    ['X-Amz-Credential', `${env.AWS_ACCESS_KEY_ID}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(expiresSecs)],
    ['X-Amz-SignedHeaders', 'host'],
  ];
  // Sorted by encoded name, then value: the canonical query string, sent exactly as signed.
  const qs = params
    .map(([k, v]) => [enc(k), enc(v)])
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : av > bv ? 1 : 0) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonical = [method, urlPath, qs, `host:${endpoint.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const hash = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
  const hmac = (k: crypto.BinaryLike, s: string) => crypto.createHmac('sha256', k).update(s).digest();
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, hash(canonical)].join('\n');
  let signingKey = hmac(`AWS4${env.AWS_SECRET_ACCESS_KEY}`, date);
  for (const part of [region, 's3', 'aws4_request']) signingKey = hmac(signingKey, part);
  const sig = crypto.createHmac('sha256', signingKey).update(toSign).digest('hex');
  return `${endpoint.origin}${urlPath}?${qs}&X-Amz-Signature=${sig}`;
}

/** A presigned request on one object: `presign('DELETE', key)`, `presign('GET', key, { partNumber: '1' })`. */
export function presign(method: string, key: string, query: Record<string, string> = {}, expiresSecs = 60): string {
  return presignPath(method, `/${process.env.S3_BUCKET}/` + key.split('/').map(enc).join('/'), query, expiresSecs);
}

/** A presigned request on the bucket itself: `presignBucket('GET', { uploads: '', prefix })`. */
export function presignBucket(method: string, query: Record<string, string> = {}, expiresSecs = 60): string {
  return presignPath(method, `/${enc(process.env.S3_BUCKET!)}`, query, expiresSecs);
}

/** A presigned GET of one object. */
export function presignGet(key: string): string {
  return presign('GET', key);
}

const xmlText = (s: string) =>
  s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

/** The bucket's unfinished multipart uploads under `prefix` (ListMultipartUploads, first page). */
export async function listMultipartUploads(prefix: string): Promise<{ key: string; uploadId: string }[]> {
  const res = await fetch(presignBucket('GET', { uploads: '', prefix }));
  const body = await res.text();
  expect(res.status, body).toBe(200);
  return [...body.matchAll(/<Upload>([\s\S]*?)<\/Upload>/g)].map(([, upload]) => ({
    key: xmlText(/<Key>([\s\S]*?)<\/Key>/.exec(upload)?.[1] ?? ''),
    uploadId: xmlText(/<UploadId>([\s\S]*?)<\/UploadId>/.exec(upload)?.[1] ?? ''),
  }));
}

/** Hex SHA-256 of a file on disk, read as a stream. */
export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: MIB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Fetches `url` and hashes the body as it arrives: status, hex SHA-256 and length. */
export async function sha256Url(url: string): Promise<{ status: number; sha256: string; bytes: number }> {
  const res = await fetch(url);
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  const reader = res.body?.getReader();
  for (;;) {
    const chunk = await reader?.read();
    if (!chunk || chunk.done) break;
    hash.update(chunk.value);
    bytes += chunk.value.length;
  }
  return { status: res.status, sha256: hash.digest('hex'), bytes };
}

/**
 * Writes `sizeBytes` deterministic pseudo-random bytes to `dir/name` and returns the path: an
 * AES-128-CTR keystream keyed by `seed`, 1 MiB at a time (hundreds of MiB in well under a second).
 * The same seed gives the same bytes; another seed, other bytes.
 */
export function makeFile(dir: string, name: string, sizeBytes: number, seed: number | string): string {
  const file = path.join(dir, name);
  const key = crypto.createHash('sha256').update(`s3drop-e2e:${seed}`).digest().subarray(0, 16);
  const keystream = crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(MIB);
  const fd = fs.openSync(file, 'w');
  try {
    for (let left = sizeBytes; left > 0; left -= MIB) {
      const chunk = keystream.update(left >= MIB ? zeros : zeros.subarray(0, left));
      for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off);
    }
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

/** `length` bytes of `file` from `start`. */
export function readRange(file: string, start: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const fd = fs.openSync(file, 'r');
  try {
    for (let off = 0; off < length; ) {
      const n = fs.readSync(fd, buf, off, length - off, start + off);
      if (n === 0) throw new Error(`${file} ends before byte ${start + length}`);
      off += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

/** The uploader's part size for a file of `size` bytes (app/src/model.rs `part_size_for`). */
export function partSizeFor(size: number): number {
  return Math.max(8 * MIB, Math.ceil(Math.ceil(size / 10_000) / MIB) * MIB);
}

export function partCount(size: number, partSize = partSizeFor(size)): number {
  return Math.max(1, Math.ceil(size / partSize));
}

/** Part `n`'s bytes (1-based), read from the file on disk. */
export function readPart(file: string, n: number, size: number, partSize = partSizeFor(size)): Buffer {
  const start = (n - 1) * partSize;
  return readRange(file, start, Math.min(partSize, size - start));
}

/** Throttles the page's uploads through CDP; the returned function lifts the throttle. */
export async function throttleUploads(page: Page, bytesPerSecond: number): Promise<() => Promise<void>> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: bytesPerSecond,
  });
  return async () => {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  };
}

/** One request the page sent to S3 (CORS preflights aside), or how one ended. */
export type S3Event = {
  kind: 'start' | 'ok' | 'fail';
  /** The request's number, in the order they started: a request's start and end share it. */
  seq: number;
  method: string;
  /** The object key, decoded; a form POST's from its `key` field if the request was routed (see `routeS3`), else the bucket path. */
  key: string;
  /** For a part PUT: its number and S3's multipart upload id. */
  part?: number;
  uploadId?: string;
  /** S3's status when it answered; `ok` is a 2xx whose exchange finished. */
  status?: number;
  /** For a `fail`: the browser's network error (`net::ERR_ABORTED` for an aborted request), if no answer came. */
  error?: string;
};

export type PartStats = {
  attempts: number;
  /** Attempts answered 2xx. */
  successes: number;
  /** Each attempt's status, or its network error, in order of the answers. */
  results: (number | string)[];
  inFlight: number;
  /** The most attempts of this part in flight at once. */
  maxInFlight: number;
};

/**
 * Watches the page's requests to S3 from Playwright's network events: every request in `events`
 * (in order), and for part PUTs (`?partNumber=N&uploadId=…`) the attempts, successes and results
 * per part number, and how many were in flight at once. A request stops being in flight when its
 * answer arrives or it fails.
 */
export class S3Traffic {
  readonly events: S3Event[] = [];
  readonly parts = new Map<number, PartStats>();
  /** Part PUTs in flight now, and the most there were at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** The most S3 requests of any kind (parts, whole-file PUTs and POSTs) waiting for an answer at once. */
  maxPending = 0;
  private readonly open = new Map<Request, S3Event>();
  private readonly started = new WeakMap<Request, S3Event>();
  private starts = 0;
  private readonly statuses = new Map<Request, number>();
  private readonly origin = new URL(process.env.S3_ENDPOINT!).origin;

  constructor(page: Page) {
    page.on('request', (r) => {
      const e = this.describe(r);
      if (!e) return;
      this.events.push(e);
      this.open.set(r, e);
      this.started.set(r, e);
      this.maxPending = Math.max(this.maxPending, this.open.size);
      if (e.part === undefined) return;
      const p = this.part(e.part);
      p.attempts++;
      p.maxInFlight = Math.max(p.maxInFlight, ++p.inFlight);
      this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    });
    page.on('response', (res) => {
      if (!this.open.has(res.request())) return;
      this.statuses.set(res.request(), res.status());
      this.settle(res.request(), res.status());
    });
    page.on('requestfinished', (r) => {
      const status = this.statuses.get(r) ?? 0;
      this.end(r, status >= 200 && status < 300 ? 'ok' : 'fail');
    });
    page.on('requestfailed', (r) => {
      const error = r.failure()?.errorText ?? 'failed';
      this.settle(r, error);
      this.end(r, 'fail', error);
    });
  }

  /** S3 requests still waiting for an answer (parts or not). */
  get pending(): number {
    return this.open.size;
  }

  /** A position in `events`, to ask later what happened after it. */
  mark(): number {
    return this.events.length;
  }

  /** The requests started after `mark`. */
  startedSince(mark: number): S3Event[] {
    return this.events.slice(mark).filter((e) => e.kind === 'start');
  }

  /** How the request that `start` began ended, once it has. */
  outcome(start: S3Event): S3Event | undefined {
    return this.events.find((e) => e.seq === start.seq && e.kind !== 'start');
  }

  /** How the requests for `key` ended, in order. */
  outcomes(key: string): S3Event[] {
    return this.events.filter((e) => e.key === key && e.kind !== 'start');
  }

  /** Part numbers started after `mark` (of one multipart upload when `uploadId` is given). */
  partsStartedSince(mark: number, uploadId?: string): number[] {
    return this.startedSince(mark)
      .filter((e) => e.part !== undefined && (uploadId === undefined || e.uploadId === uploadId))
      .map((e) => e.part!);
  }

  /** Part numbers S3 answered 2xx for so far (of one multipart upload when `uploadId` is given). */
  succeeded(uploadId?: string): Set<number> {
    return new Set(
      this.events.filter((e) => e.kind === 'ok' && e.part !== undefined && (uploadId === undefined || e.uploadId === uploadId)).map((e) => e.part!),
    );
  }

  /** Part numbers being sent right now. */
  partsInFlight(): Set<number> {
    return new Set([...this.open.values()].filter((e) => e.part !== undefined).map((e) => e.part!));
  }

  /** The multipart upload ids the part PUTs went to, in order of first use. */
  uploadIds(): string[] {
    return [...new Set(this.events.filter((e) => e.uploadId).map((e) => e.uploadId!))];
  }

  private part(n: number): PartStats {
    let p = this.parts.get(n);
    if (!p) this.parts.set(n, (p = { attempts: 0, successes: 0, results: [], inFlight: 0, maxInFlight: 0 }));
    return p;
  }

  private describe(r: Request): S3Event | undefined {
    const url = new URL(r.url());
    if (url.origin !== this.origin || r.method() === 'OPTIONS') return undefined;
    const bucketPath = `/${process.env.S3_BUCKET}/`;
    // A form POST goes to the bucket and names the object in its `key` field: in the body, which
    // Playwright has only for routed requests.
    const formKey = r.method() === 'POST' ? /name="key"\r\n\r\n([^\r]*)\r\n/.exec(r.postData() ?? '')?.[1] : undefined;
    const key = formKey ?? (url.pathname.startsWith(bucketPath) ? decodeURIComponent(url.pathname.slice(bucketPath.length)) : url.pathname);
    const part = url.searchParams.get('partNumber');
    return {
      kind: 'start',
      seq: this.starts++,
      method: r.method(),
      key,
      ...(part !== null && r.method() === 'PUT' ? { part: Number(part), uploadId: url.searchParams.get('uploadId') ?? '' } : {}),
    };
  }

  /** The request is no longer in flight: its answer came, or it failed before one did. */
  private settle(r: Request, result: number | string) {
    const e = this.open.get(r);
    if (!e) return;
    this.open.delete(r);
    if (e.part === undefined) return;
    const p = this.part(e.part);
    p.results.push(result);
    p.inFlight--;
    this.inFlight--;
  }

  private end(r: Request, kind: 'ok' | 'fail', error?: string) {
    const status = this.statuses.get(r);
    this.settle(r, status ?? 'no answer');
    this.statuses.delete(r);
    const e = this.started.get(r);
    if (!e) return;
    this.events.push({ ...e, kind, ...(status !== undefined ? { status } : {}), ...(error !== undefined ? { error } : {}) });
    if (kind === 'ok' && e.part !== undefined) this.part(e.part).successes++;
  }
}

/**
 * Routes the page's S3 requests through Playwright unchanged. Only for routed requests does
 * Chromium hand Playwright the body of a form with a file in it, and so S3Traffic a POST's key.
 */
export async function routeS3(page: Page): Promise<void> {
  await page.route(`${new URL(process.env.S3_ENDPOINT!).origin}/**`, (route) => route.continue());
}

/** A ticket the page asked our server for: the file's name, and the upload it was given. */
export type TicketCall = { name: string; uploadId?: string; objectKey?: string };

/**
 * The page's calls to our upload API, from Playwright's network events: the tickets it asked for
 * (`/api/uploads/request-many` or `/api/uploads/request`, in order) and the uploads it cancelled
 * (`/api/uploads/cancel`, by id).
 */
export class UploadCalls {
  readonly tickets: TicketCall[] = [];
  readonly cancelled: string[] = [];
  private readonly answers: Promise<void>[] = [];

  constructor(page: Page) {
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname;
      const form = new URLSearchParams(r.postData() ?? '');
      if (path === '/api/uploads/request-many') {
        // The dropzone asks for the tickets of files hashed together in one call.
        const calls: TicketCall[] = (r.postDataJSON()?.files ?? []).map((f: any) => ({ name: f.file_name ?? '' }));
        this.tickets.push(...calls);
        this.answers.push(
          r.response().then(async (res) => {
            if (!res?.ok()) return;
            const answers = await res.json();
            calls.forEach((call, i) => {
              const ticket = answers[i]?.Ok;
              call.uploadId = ticket?.upload_id;
              call.objectKey = ticket?.object_key;
            });
          }).catch(() => {}),
        );
      } else if (path === '/api/uploads/request') {
        const call: TicketCall = { name: form.get('file_name') ?? '' };
        this.tickets.push(call);
        this.answers.push(
          r.response().then(async (res) => {
            if (!res?.ok()) return;
            const ticket = await res.json();
            call.uploadId = ticket.upload_id;
            call.objectKey = ticket.object_key;
          }).catch(() => {}),
        );
      } else if (path === '/api/uploads/cancel') {
        this.cancelled.push(form.get('id') ?? '');
      }
    });
  }

  /** The tickets asked for `name` so far, with the answers read. */
  async ticketsFor(name: string): Promise<TicketCall[]> {
    await Promise.all(this.answers);
    return this.tickets.filter((t) => t.name === name);
  }
}
