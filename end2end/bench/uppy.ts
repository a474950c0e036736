import { Page } from '@playwright/test';
import { bundleUppy } from './uppy-bundle.js';

export type UppyRun = {
  /** From `addFiles` to the last confirmation answered, in the page's clock. */
  ms: number;
  /** Files Uppy reports as uploaded. */
  uploaded: number;
  /** Each file's confirmation status, in the order they were answered. */
  confirms: number[];
  /** Uppy's upload errors and failed files, in words. */
  errors: string[];
};

/**
 * Uploads `count` files of 1 MiB (the bytes the dropzone's bench files hold) with Uppy 6 and its
 * AwsS3 plugin, `limit` files at a time, through our own server functions, from `page`: an app
 * page of a signed-in user, in a context created with `bypassCSP` (the app's CSP admits only its
 * own nonce scripts). For each file, in Uppy's queue, AwsS3 calls `signRequest`, which hashes the
 * file (base64 SHA-256, crypto.subtle) and asks `/api/uploads/request` for a ticket, and hands
 * AwsS3 the ticket's POST policy (`{url, fields}`) or presigned PUT (`{url, headers}`); AwsS3
 * sends the file to S3; on `upload-success`, `/api/uploads/confirm` gets the ticket's id.
 */
export async function timeUppy(page: Page, count: number, limit: number): Promise<UppyRun> {
  await page.addScriptTag({ content: await bundleUppy() });
  return page.evaluate(async ({ count, limit }) => {
    const { Uppy, AwsS3 } = window as any;
    // A server function called as the dropzone calls it: a form POST (the browser sends Origin).
    const call = (endpoint: string, fields: Record<string, string>) =>
      fetch(`/api/${endpoint}`, {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
      });
    const base64 = (buf: ArrayBuffer) => {
      let s = '';
      for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
      return btoa(s);
    };
    const errors: string[] = [];
    const uploadIds = new Map<string, string>(); // Uppy's file id -> our upload id
    const confirms: Promise<number>[] = [];

    const uppy = new Uppy({ autoProceed: false });
    uppy.use(AwsS3, {
      limit,
      // The key Uppy proposes only finds the file again in signRequest: the ticket's key wins.
      generateObjectKey: (file: any) => file.id,
      async signRequest(req: any) {
        if (req.method !== 'PUT' || 'uploadId' in req) throw new Error(`unexpected S3 request: ${req.method}`);
        const file = uppy.getFile(req.key);
        const sha256 = base64(await crypto.subtle.digest('SHA-256', await file.data.arrayBuffer()));
        const res = await call('uploads/request', {
          file_name: file.name, size: String(file.size), content_type: file.type, sha256,
        });
        if (res.status !== 200) throw new Error(`ticket for ${file.name}: ${res.status} ${await res.text()}`);
        const ticket = await res.json();
        uploadIds.set(file.id, ticket.upload_id);
        const { Post, Put } = ticket.send;
        if (Post) return { url: Post.url, fields: Object.fromEntries(Post.fields) };
        if (Put) return { url: Put.url, headers: Object.fromEntries(Put.headers), key: ticket.object_key };
        throw new Error(`ticket for ${file.name}: not a single request (${Object.keys(ticket.send)})`);
      },
    });
    uppy.on('upload-success', (file: any) => {
      confirms.push(call('uploads/confirm', { id: uploadIds.get(file.id)! }).then((r) => r.status, () => 0));
    });
    uppy.on('upload-error', (file: any, err: any) => errors.push(`${file?.name}: ${err?.message ?? err}`));

    const MIB = 1024 * 1024;
    const files = Array.from({ length: count }, (_, i) =>
      new File(Array(16).fill('b'.repeat(MIB / 16)), `uppy-${i}.bin`, { type: 'application/octet-stream' }));

    // Room for every request's timing (the default buffer keeps 250 entries).
    performance.setResourceTimingBufferSize(10 * count + 100);
    const t0 = performance.now();
    uppy.addFiles(files.map((data) => ({ name: data.name, type: data.type, data, source: 'bench' })));
    const result = await uppy.upload();
    const statuses = await Promise.all(confirms);
    const ms = performance.now() - t0;
    for (const f of result?.failed ?? []) errors.push(`${f.name}: ${f.error}`);
    uppy.destroy();
    return { ms, uploaded: result?.successful?.length ?? 0, confirms: statuses, errors };
  }, { count, limit });
}
