// SHA-256 of each Blob the dropzone sends, off the page's main thread: reading a file and hashing
// it there took about 3 ms per MiB, in the way of the events that start the next upload.
// Message in: [id, blob]. Out: [id, digest] (an ArrayBuffer), or [id, null, what went wrong].
onmessage = async ({ data: [id, blob] }) => {
  try {
    postMessage([id, await crypto.subtle.digest('SHA-256', await blob.arrayBuffer())]);
  } catch (e) {
    postMessage([id, null, String((e && e.message) || e)]);
  }
};
