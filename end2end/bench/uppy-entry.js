// What the Uppy leg of uploads.bench.ts injects into the app's page: Uppy 6's core and its S3
// uploader, on `window` (bundled by uppy-bundle.js; nothing else of Uppy, no UI).
import Uppy from '@uppy/core';
import AwsS3 from '@uppy/aws-s3';

window.Uppy = Uppy;
window.AwsS3 = AwsS3;
