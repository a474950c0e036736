import { test, expect, Page } from '@playwright/test';
import { execFile } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { signUp, makeTransfer, hydrated, uniqueEmail } from '../tests/helpers';
import { timeUppy } from './uppy';

const FILES = Number(process.env.BENCH_FILES ?? 100);
const MIB = 1024 * 1024;
const CONCURRENCY = 3; // the dropzone's MAX_IN_FLIGHT
const run = promisify(execFile);

/** Mean duration of each kind of upload request `page` made, from the browser's resource timing. */
function requestPhases(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const kinds: Record<string, number[]> = {};
    for (const e of performance.getEntriesByType('resource') as PerformanceResourceTiming[]) {
      const k = e.name.includes('/api/uploads/request') ? 'ticket' : e.name.includes('/api/uploads/confirm') ? 'confirm'
        : e.name.includes(':3900/') ? 'S3 POST' : e.name.includes('/api/uploads/mine') ? 'history' : null;
      if (k) (kinds[k] ??= []).push(e.duration);
    }
    return Object.entries(kinds).map(([k, v]) => `${k} ${v.length}x ${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(1)} ms`);
  });
}

/**
 * How well `page` kept its `places` upload places busy: the time from its first S3 POST's start to
 * its last one's end, and the share of that time places stood empty (waiting for a hash, a
 * ticket, or the page to start the next send). The rest of a run is before and after the sends.
 */
function sendWindow(page: Page, places: number): Promise<{ ms: number; idle: number; refill: string }> {
  return page.evaluate((places) => {
    const posts = (performance.getEntriesByType('resource') as PerformanceResourceTiming[])
      .filter((e) => e.name.includes(':3900/'));
    const start = Math.min(...posts.map((e) => e.startTime));
    const end = Math.max(...posts.map((e) => e.responseEnd));
    const busy = posts.reduce((sum, e) => sum + e.duration, 0);
    // How long a place stood empty after each POST ended, until the next POST started (the
    // first start after that end not yet claimed): the page's own delay between two sends.
    const starts = posts.map((e) => e.startTime).sort((a, b) => a - b).slice(places);
    const ends = posts.map((e) => e.responseEnd).sort((a, b) => a - b);
    const gaps = starts.map((s, i) => s - ends[i]).sort((a, b) => a - b);
    const q = (p: number) => gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))] ?? NaN;
    const refill = `median ${q(0.5).toFixed(1)}, p90 ${q(0.9).toFixed(1)}, max ${q(1).toFixed(1)} ms, ` +
      `${gaps.reduce((a, b) => a + b, 0).toFixed(0)} ms in all`;
    return { ms: end - start, idle: 1 - busy / (places * (end - start)), refill };
  }, places);
}

/**
 * Drops `files` on the dropzone and times, in the page's clock as Uppy's run is timed, from the
 * drop to the moment the summary line says `done`. Waiting for the words from the test runner
 * instead (an `expect` that polls at 100, 250, 500, then every 1,000 ms) added up to a second
 * to a run of about three.
 */
async function timeDrop(page: Page, files: Awaited<ReturnType<typeof makeTransfer>>, done: string): Promise<number> {
  return page.evaluate(async ({ dataTransfer, done }) => {
    const announce = document.getElementById('announce')!;
    const zone = document.querySelector('[data-testid="dropzone"]')!;
    const finished = new Promise<number>((resolve) => {
      const check = () => announce.textContent === done && resolve(performance.now());
      new MutationObserver(check).observe(announce, { childList: true, characterData: true, subtree: true });
    });
    const t0 = performance.now();
    for (const type of ['dragenter', 'dragover', 'drop']) {
      zone.dispatchEvent(new DragEvent(type, { dataTransfer, bubbles: true, cancelable: true }));
    }
    const timeout = new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`not "${done}" after 10 min: "${announce.textContent}"`)), 600_000));
    return (await Promise.race([finished, timeout])) - t0;
  }, { dataTransfer: files, done });
}

test('100 files of 1 MiB: the dropzone against Uppy 6 and raw curl POSTs to the same S3', async ({ browser, page, baseURL }) => {
  await signUp(page, uniqueEmail('bench'));
  await hydrated(page);

  // Uppy 6 runs after the dropzone unless BENCH_UPPY_FIRST=1: the order is a knob, to show that
  // neither client gains from going first (a warm server, a bucket with fewer objects).
  const uppyFirst = process.env.BENCH_UPPY_FIRST === '1';
  const runUppy = async () => {
    // Uppy 6 (@uppy/core + @uppy/aws-s3), CONCURRENCY files at a time, the same bytes through the
    // same server functions (ticket, S3, confirm; see bench/uppy.ts), in the same Chromium. Its own
    // context, with the app's CSP bypassed so that the injected Uppy script runs; its own user.
    const uppyContext = await browser.newContext({ baseURL, bypassCSP: true });
    const uppyPage = await uppyContext.newPage();
    await signUp(uppyPage, uniqueEmail('bench-uppy'));
    await hydrated(uppyPage);
    const uppy = await timeUppy(uppyPage, FILES, CONCURRENCY);
    expect(uppy.errors).toEqual([]);
    expect(uppy.uploaded).toBe(FILES);
    expect(uppy.confirms).toEqual(Array(FILES).fill(200));
    const uppyPhases = await requestPhases(uppyPage);
    const uppyWindow = await sendWindow(uppyPage, CONCURRENCY);
    await uppyContext.close();
    return [uppy, uppyPhases, uppyWindow] as const;
  };
  const uppyBefore = uppyFirst ? await runUppy() : undefined;

  // The dropzone: from the drop to the last confirmation (tickets, S3 POSTs and HEAD checks).
  const files = await makeTransfer(page, Array.from({ length: FILES }, (_, i) => ({
    name: `bench-${i}.bin`, type: 'application/octet-stream', bytes: 'b'.repeat(64 * 1024), repeat: 16,
  })));
  // Keep every request's timing (the browser keeps 250 by default; 100 files make 300 or more).
  await page.evaluate(() => performance.setResourceTimingBufferSize(10_000));
  const dropzoneMs = await timeDrop(page, files, `${FILES} of ${FILES} files uploaded.`);
  // Where the dropzone's time goes: mean duration of each kind of request, from the browser.
  const phases = await requestPhases(page);
  const dropzoneWindow = await sendWindow(page, CONCURRENCY);

  // curl: the same bytes, POSTed with tickets signed beforehand, CONCURRENCY at a time.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3drop-bench-'));
  const file = path.join(dir, 'one-mib.bin');
  fs.writeFileSync(file, Buffer.alloc(MIB, 'b'));
  const sha256 = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('base64');
  const tickets = [];
  for (let i = 0; i < FILES; i++) {
    const res = await page.request.post('/api/uploads/request', {
      headers: { origin: baseURL! },
      form: { file_name: `curl-${i}.bin`, size: String(MIB), content_type: 'application/octet-stream', sha256 },
    });
    expect(res.status()).toBe(200);
    tickets.push(await res.json());
  }
  const t1 = Date.now();
  let next = 0;
  const codes: string[] = [];
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < tickets.length) {
      const t = tickets[next++];
      const args = ['-s', '-o', '/dev/null', '-w', '%{http_code}'];
      for (const [k, v] of t.send.Post.fields) args.push('--form-string', `${k}=${v}`);
      args.push('-F', `file=@${file}`, t.send.Post.url);
      codes.push((await run('curl', args)).stdout);
    }
  }));
  const curlMs = Date.now() - t1;
  expect(codes.every((c) => c === '201')).toBe(true);

  const [uppy, uppyPhases, uppyWindow] = uppyBefore ?? (await runUppy());

  const mb = FILES; // MiB
  const line = (name: string, ms: number) =>
    `${name.padEnd(44)} ${(ms / 1000).toFixed(2).padStart(7)} s  ${(mb / (ms / 1000)).toFixed(1).padStart(7)} MiB/s  ${(ms / FILES).toFixed(1).padStart(7)} ms/file`;
  console.log(`\n${FILES} files x 1 MiB, ${CONCURRENCY} at a time, to ${process.env.S3_ENDPOINT}`);
  console.log(line('dropzone (ticket + POST + confirm, Chromium)', dropzoneMs));
  console.log(line('Uppy 6 (ticket + POST + confirm, Chromium)', uppy.ms));
  console.log(line('curl POSTs (tickets signed beforehand)', curlMs));
  console.log(`dropzone / curl: ${(dropzoneMs / curlMs).toFixed(2)}x`);
  console.log(`dropzone / Uppy: ${(dropzoneMs / uppy.ms).toFixed(2)}x`);
  console.log(`dropzone requests, mean time each: ${phases.join(', ')}`);
  console.log(`Uppy requests, mean time each: ${uppyPhases.join(', ')}`);
  const sends = (name: string, total: number, w: { ms: number; idle: number; refill: string }) =>
    console.log(`${name} S3 POSTs: ${w.ms.toFixed(0)} ms from the first start to the last end, the ${CONCURRENCY} places ` +
      `idle ${(100 * w.idle).toFixed(0)} % of it; before and after: ${(total - w.ms).toFixed(0)} ms; ` +
      `from a POST's end to the next start: ${w.refill}`);
  sends('dropzone', dropzoneMs, dropzoneWindow);
  sends('Uppy', uppy.ms, uppyWindow);
  fs.rmSync(dir, { recursive: true });
});
