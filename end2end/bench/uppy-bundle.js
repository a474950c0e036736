// Bundles uppy-entry.js (Uppy 6 and its AwsS3 plugin) into one IIFE script for page.addScriptTag,
// with esbuild's JS API. `node bench/uppy-bundle.js` builds it and prints its size.
const esbuild = require('esbuild');
const path = require('path');

/** The script's text: run in a page, it puts `Uppy` and `AwsS3` on `window`. */
async function bundleUppy() {
  const out = await esbuild.build({
    entryPoints: [path.join(__dirname, 'uppy-entry.js')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    minify: true,
    legalComments: 'none',
    define: { 'process.env.NODE_ENV': '"production"' },
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0].text;
}

module.exports = { bundleUppy };

if (require.main === module) {
  bundleUppy().then(
    (js) => console.log(`Uppy bundle: ${js.length} bytes (${(Buffer.byteLength(js) / 1024).toFixed(1)} KiB)`),
    (e) => { console.error(e); process.exit(1); },
  );
}
