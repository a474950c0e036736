import { test, expect } from '@playwright/test';

// Where the dropzone's time goes with 100 files of 1 MiB: when each file entered each phase
// (from its data-phase, by a MutationObserver), and the page's main thread split by function
// (Chromium's sampling profiler through CDP). Run with scripts/profile-dropzone.

import { signUp, makeTransfer, dropTransfer, hydrated, uniqueEmail } from '../tests/helpers';
test('100 files of 1 MiB: each file\'s phases and the main thread\'s profile', async ({ page }) => {
  await signUp(page, uniqueEmail('profile'));
  await hydrated(page);
  await page.evaluate(() => {
    (window as any).log = [];
    const t0 = performance.now();
    new MutationObserver((ms) => {
      for (const m of ms) {
        const el = m.target as HTMLElement;
        if (m.type === 'attributes' && m.attributeName === 'data-phase') (window as any).log.push([el.dataset.name, el.dataset.phase, performance.now()]);
        for (const n of m.addedNodes) if ((n as HTMLElement).dataset?.phase) (window as any).log.push([(n as HTMLElement).dataset.name, (n as HTMLElement).dataset.phase, performance.now()]);
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-phase'] });
  });
  const files = await makeTransfer(page, Array.from({ length: 100 }, (_, i) => ({ name: `b-${i}.bin`, type: 'application/octet-stream', bytes: 'b'.repeat(64 * 1024), repeat: 16 })));
  const cdp = await page.context().newCDPSession(page);
  // The browser's own work on the main thread (style, layout, paint, event dispatch, XHR), which
  // the JS profiler lumps together as "(program)": a trace of the timeline categories.
  const traceEvents: any[] = [];
  cdp.on('Tracing.dataCollected', (d: any) => traceEvents.push(...d.value));
  const traced = new Promise<void>((done) => cdp.once('Tracing.tracingComplete', () => done()));
  await cdp.send('Tracing.start', {
    transferMode: 'ReportEvents',
    traceConfig: { includedCategories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'blink', 'loading', 'v8'] },
  });
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  const start = await page.evaluate(() => performance.now());
  await dropTransfer(page, files);
  await expect(page.getByTestId('announce')).toHaveText('100 of 100 files uploaded.', { timeout: 60_000 });
  const { profile } = await cdp.send('Profiler.stop') as any;
  await cdp.send('Tracing.end');
  await traced;
  // Self time of each complete event on the renderer's main thread, by name (children subtracted).
  const main = traceEvents.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  const onMain = traceEvents.filter((e) => main && e.pid === main.pid && e.tid === main.tid && e.ph === 'X' && e.dur)
    .sort((a, b) => a.ts - b.ts || b.dur - a.dur);
  const selfTime: Record<string, number> = {};
  const open: any[] = [];
  let topLevel = 0;
  for (const e of onMain) {
    while (open.length && open[open.length - 1].ts + open[open.length - 1].dur <= e.ts) open.pop();
    const parent = open[open.length - 1];
    if (parent) selfTime[parent.name] -= e.dur;
    else topLevel += e.dur;
    selfTime[e.name] = (selfTime[e.name] ?? 0) + e.dur;
    open.push(e);
  }
  console.log(`main thread trace: ${(topLevel / 1000).toFixed(0)} ms in top-level tasks; self time by event (ms):`);
  for (const [k, v] of Object.entries(selfTime).sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log((v / 1000).toFixed(1).padStart(8), k);
  const self: Record<string, number> = {};
  const byId = new Map<number, any>(profile.nodes.map((n: any) => [n.id, n]));
  const dt = profile.timeDeltas; let total = 0;
  profile.samples.forEach((id: number, i: number) => { const n = byId.get(id); const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}${n.callFrame.functionName ? '' : `:${n.callFrame.lineNumber}:${n.callFrame.columnNumber}`}`; self[k] = (self[k] ?? 0) + (dt[i] ?? 0); total += dt[i] ?? 0; });
  console.log(`main thread sampled for ${(total / 1000).toFixed(0)} ms; self time by function (ms):`);
  for (const [k, v] of Object.entries(self).sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((v/1000).toFixed(1).padStart(8), k);
  const log: [string, string, number][] = await page.evaluate(() => (window as any).log);
  const by: Record<string, Record<string, number>> = {};
  for (const [n, p, t] of log) (by[n] ??= {})[p] ??= t - start;
  const phases = ['waiting', 'reading', 'preparing', 'ready', 'uploading', 'checking', 'completed'];
  console.log('when each file entered each phase (ms after the drop):');
  for (const i of [0, 1, 2, 3, 10, 20, 50, 97, 98, 99]) {
    const r = by[`b-${i}.bin`] ?? {};
    console.log(`b-${i}`.padEnd(6), phases.map((p) => `${p.slice(0, 4)} ${(r[p] ?? NaN).toFixed(0).padStart(5)}`).join('  '));
  }
  console.log('JS heap after:', await page.evaluate(() => (performance as any).memory?.usedJSHeapSize));
});
