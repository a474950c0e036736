import { test, expect, Browser, Page } from '@playwright/test';
import { execFile } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import {
  MIB, S3Traffic, hydrated, makeFile, myUploads, partCount, partSizeFor, presign, presignGet, readPart, sha256File,
  sha256Url, signUp, uniqueEmail,
} from '../tests/helpers';

// One large file through the dropzone against curl PUTting the same parts to the same Garage, at
// the same concurrency. Run through scripts/bench-large (BENCH=large); BENCH_LARGE_MIB sets the size.
const SIZE = Number(process.env.BENCH_LARGE_MIB ?? 2048) * MIB;
const CONCURRENCY = 4; // the large server's UPLOAD_PART_CONCURRENCY, which the page follows
const NAME = 'large-bench.bin';
const run = promisify(execFile);

test.use({ baseURL: process.env.E2E_LARGE_URL });

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
const rate = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

/** Chromium's renderer processes: from CDP where this Chromium has SystemInfo, else from /proc. */
async function rendererPids(browser: Browser): Promise<{ pids: number[]; source: string }> {
  try {
    const cdp = await browser.newBrowserCDPSession();
    try {
      const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
      const pids = processInfo.filter((p) => p.type === 'renderer').map((p) => p.id);
      if (pids.length) return { pids, source: 'SystemInfo.getProcessInfo' };
    } finally {
      await cdp.detach();
    }
  } catch {
    // No SystemInfo domain here: look for the processes instead.
  }
  const pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return /chrom/i.test(path.basename(argv[0])) && argv.includes('--type=renderer');
    } catch {
      return false; // gone meanwhile
    }
  });
  return { pids, source: '/proc (every Chromium renderer on this machine)' };
}

function residentBytes(pid: number): number | undefined {
  try {
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined; // gone meanwhile
  }
}

/**
 * Samples, every second until stopped: the page's JS heap (CDP Runtime.getHeapUsage, with the
 * ArrayBuffer backing stores where this Chromium reports them) and the resident memory of its
 * renderer processes (VmRSS, summed).
 */
async function sampleMemory(page: Page, browser: Browser) {
  const cdp = await page.context().newCDPSession(page);
  const { pids, source } = await rendererPids(browser);
  const series = { heapUsed: [] as number[], heapTotal: [] as number[], backingStore: [] as number[], rendererRss: [] as number[] };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      try {
        const heap: { usedSize: number; totalSize: number; backingStorageSize?: number } = await cdp.send('Runtime.getHeapUsage');
        series.heapUsed.push(heap.usedSize);
        series.heapTotal.push(heap.totalSize);
        if (heap.backingStorageSize !== undefined) series.backingStore.push(heap.backingStorageSize);
      } catch {
        // The page is busy navigating or closing: skip this sample.
      }
      const rss = pids.map(residentBytes).filter((b): b is number => b !== undefined);
      if (rss.length) series.rendererRss.push(rss.reduce((a, b) => a + b, 0));
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - started))));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await cdp.detach().catch(() => {});
      return { series, renderers: `${pids.length} renderer(s), from ${source}` };
    },
  };
}

function minMaxLast(name: string, values: number[]): string {
  if (!values.length) return `  ${name.padEnd(34)} no samples`;
  return `  ${name.padEnd(34)} min ${mb(Math.min(...values)).padStart(8)}  max ${mb(Math.max(...values)).padStart(8)}  last ${mb(values[values.length - 1]).padStart(8)} MB`;
}

test('one large file (2 GiB): the dropzone against curl PUTting the same parts, 4 at a time', async ({ page, browser, baseURL }) => {
  test.setTimeout(3_600_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3drop-bench-large-'));
  const keys: string[] = [];
  try {
    await signUp(page, uniqueEmail('bench-large'));
    await hydrated(page);
    const partSize = partSizeFor(SIZE);
    const parts = partCount(SIZE, partSize);
    const file = makeFile(dir, NAME, SIZE, 'bench-large');

    // The browser's SHA-256, which the page runs over every part before it asks to send it.
    const browserSha = await page.evaluate(async () => {
      const buf = new Uint8Array(64 * 1024 * 1024);
      for (let i = 0; i < buf.length; i += 65_536) globalThis.crypto.getRandomValues(buf.subarray(i, i + 65_536));
      await globalThis.crypto.subtle.digest('SHA-256', buf); // warm-up
      const t0 = performance.now();
      for (let i = 0; i < 8; i++) await globalThis.crypto.subtle.digest('SHA-256', buf);
      return (8 * buf.length) / 1e6 / ((performance.now() - t0) / 1000);
    });

    // The dropzone: from picking the file to the server's answer to the completion (hashing,
    // signing, the PUTs and S3 assembling the parts), with memory sampled meanwhile.
    const s3 = new S3Traffic(page);
    const memory = await sampleMemory(page, browser);
    const completed = page.waitForResponse((r) => r.url().includes('/api/uploads/complete') && r.status() === 200, { timeout: 0 });
    const t0 = Date.now();
    await page.setInputFiles('#file-input', file);
    await completed;
    const dropzoneMs = Date.now() - t0;
    const mem = await memory.stop();
    const row = page.locator(`li.file[data-name="${NAME}"]`);
    await expect(row).toHaveAttribute('data-phase', 'completed');
    await expect(row).toHaveAttribute('data-parts', `${parts}/${parts}`);
    const attempts = [...s3.parts.values()].reduce((a, p) => a + p.attempts, 0);
    const upload = (await myUploads(page.request, baseURL!)).find((r) => r.file_name === NAME);
    keys.push(upload.object_key);
    expect(upload.status).toBe('completed');

    // curl: the same parts, hashed and written out beforehand (untimed), PUT with URLs signed
    // beforehand through the same server functions, CONCURRENCY at a time. Only the PUTs are timed.
    const partsDir = path.join(dir, 'parts');
    fs.mkdirSync(partsDir);
    const sums: string[] = [];
    let nodeHashMs = 0;
    for (let n = 1; n <= parts; n++) {
      const bytes = readPart(file, n, SIZE, partSize);
      const h0 = performance.now();
      sums.push(createHash('sha256').update(bytes).digest('base64'));
      nodeHashMs += performance.now() - h0;
      fs.writeFileSync(path.join(partsDir, String(n)), bytes);
    }
    const asked = await page.request.post('/api/uploads/request', {
      headers: { origin: baseURL! },
      form: {
        file_name: 'curl-large.bin', size: String(SIZE), content_type: 'application/octet-stream',
        last_modified: String(Date.now()), first_part_sha256: sums[0],
      },
    });
    expect(asked.status(), await asked.text()).toBe(200);
    const ticket = await asked.json();
    keys.push(ticket.object_key);
    expect(ticket.send.Multipart).toMatchObject({ part_size: partSize, part_count: parts });
    const signed: { part_number: number; url: string; headers: [string, string][] }[] = [];
    for (let i = 0; i < parts; i += 16) {
      const batch = sums.slice(i, i + 16).map((sha256, j) => ({ part_number: i + j + 1, sha256 }));
      const res = await page.request.post('/api/uploads/parts', { headers: { origin: baseURL! }, data: { id: ticket.upload_id, parts: batch } });
      expect(res.status(), await res.text()).toBe(200);
      signed.push(...(await res.json()).parts);
    }
    expect(signed).toHaveLength(parts);

    const t1 = Date.now();
    let next = 0;
    const codes: string[] = [];
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < signed.length) {
        const p = signed[next++];
        // -T streams the file with its Content-Length; no Expect: 100-continue round trip.
        const args = ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Expect:', '-T', path.join(partsDir, String(p.part_number))];
        for (const [k, v] of p.headers) args.push('-H', `${k}: ${v}`);
        args.push(p.url);
        codes.push((await run('curl', args)).stdout);
      }
    }));
    const curlMs = Date.now() - t1;
    expect(codes.filter((c) => c !== '200'), 'curl PUTs not answered 200').toEqual([]);
    const t2 = Date.now();
    const done = await page.request.post('/api/uploads/complete', { headers: { origin: baseURL! }, form: { id: ticket.upload_id } });
    expect(done.status(), await done.text()).toBe(200);
    const completeMs = Date.now() - t2;
    expect((await done.json()).status).toBe('completed');

    // The dropzone's object holds the file's bytes.
    const stored = await sha256Url(presignGet(upload.object_key));
    expect(stored.status).toBe(200);
    expect(stored.sha256).toBe(await sha256File(file));

    const line = (name: string, ms: number) =>
      `${name.padEnd(52)} ${(ms / 1000).toFixed(2).padStart(8)} s  ${rate(SIZE, ms).toFixed(1).padStart(7)} MB/s`;
    console.log(`\n${SIZE / MIB} MiB (${mb(SIZE)} MB) in ${parts} parts of ${partSize / MIB} MiB, ${CONCURRENCY} at a time, to ${process.env.S3_ENDPOINT}`);
    console.log(line('dropzone (hash + sign + PUT + complete, Chromium)', dropzoneMs));
    console.log(line('curl PUTs (parts hashed and signed beforehand)', curlMs));
    console.log(`dropzone / curl throughput: ${(rate(SIZE, dropzoneMs) / rate(SIZE, curlMs)).toFixed(2)} (time ${(dropzoneMs / curlMs).toFixed(2)}x)`);
    console.log(`dropzone: ${attempts} part PUTs for ${parts} parts, at most ${s3.maxInFlight} in flight; curl's completion took ${completeMs} ms`);
    console.log(`SHA-256: browser (crypto.subtle.digest, 64 MiB x 8) ${browserSha.toFixed(0)} MB/s, node ${rate(SIZE, nodeHashMs).toFixed(0)} MB/s`);
    console.log(`memory during the dropzone upload, every second (${mem.series.heapUsed.length} samples; ${mem.renderers}):`);
    console.log(minMaxLast('JS heap used (Runtime.getHeapUsage)', mem.series.heapUsed));
    console.log(minMaxLast('JS heap total', mem.series.heapTotal));
    if (mem.series.backingStore.length) console.log(minMaxLast('ArrayBuffer backing stores', mem.series.backingStore));
    console.log(minMaxLast('renderer RSS (VmRSS, summed)', mem.series.rendererRss));
  } finally {
    // Two objects of this size per run would fill the local Garage's disk.
    for (const key of keys) await fetch(presign('DELETE', key), { method: 'DELETE' }).catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
