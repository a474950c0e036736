//! The browser bundle as it travels: each WASM, JS and CSS file compressed once (brotli, and gzip
//! for the rare client without it) beside the original, and served with the cache lifetime its
//! name allows. Pages themselves are never cached: they carry the user's data and a fresh nonce.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use axum::Router;
use http::header::CACHE_CONTROL;
use http::HeaderValue;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Hashed names change with their content: a browser may keep them for a year.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Unhashed names (a dev build) must be checked every time.
pub const REVALIDATE: &str = "no-cache";

const COMPRESSIBLE: [&str; 4] = ["wasm", "js", "css", "svg"];

/// What [`precompress`] did, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Precompressed {
    pub files: usize,
    pub written: usize,
    pub original_bytes: u64,
    pub brotli_bytes: u64,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether `derived` exists and is not older than `source`.
fn fresh(source: &Path, derived: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((modified(source), modified(derived)), (Some(s), Some(d)) if d >= s)
}

/// Writes `<file>.br` (brotli, best) and `<file>.gz` (gzip, best) beside every compressible file
/// in `dir` whose compressed copies are missing or older than it. Writes go to a temporary name
/// first, so a server serving the folder never sends half a file.
pub fn precompress(dir: &Path) -> io::Result<Precompressed> {
    let mut done = Precompressed::default();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !path.is_file() || !COMPRESSIBLE.contains(&ext) {
            continue;
        }
        done.files += 1;
        let (br, gz) = (with_suffix(&path, ".br"), with_suffix(&path, ".gz"));
        if !(fresh(&path, &br) && fresh(&path, &gz)) {
            let bytes = std::fs::read(&path)?;
            write_atomically(&br, &brotli_bytes(&bytes)?)?;
            write_atomically(&gz, &gzip_bytes(&bytes)?)?;
            done.written += 1;
        }
        done.original_bytes += std::fs::metadata(&path)?.len();
        done.brotli_bytes += std::fs::metadata(&br)?.len();
    }
    Ok(done)
}

pub fn brotli_bytes(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() / 3);
    let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 22, ..Default::default() };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
    Ok(out)
}

pub fn gzip_bytes(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 2), flate2::Compression::best());
    enc.write_all(bytes)?;
    enc.finish()
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = with_suffix(path, ".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

/// `/pkg/*`: the precompressed copy the browser accepts (`Accept-Encoding`), else the file, with
/// a year's cache when the names are hashed.
pub fn pkg_router(pkg_dir: PathBuf, hashed_names: bool) -> Router {
    let cache = HeaderValue::from_static(if hashed_names { IMMUTABLE } else { REVALIDATE });
    Router::new()
        .fallback_service(ServeDir::new(pkg_dir).precompressed_br().precompressed_gzip())
        .layer(SetResponseHeaderLayer::overriding(CACHE_CONTROL, cache))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_copies_are_written_once_and_decompress_to_the_original() {
        let dir = std::env::temp_dir().join(format!("s3drop-assets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let js = "export function hydrate() { /* the same words again and again */ }\n".repeat(200);
        std::fs::write(dir.join("app.js"), &js).unwrap();
        std::fs::write(dir.join("notes.txt"), "not compressed").unwrap();

        let first = precompress(&dir).unwrap();
        assert_eq!((first.files, first.written), (1, 1));
        assert!(first.brotli_bytes * 10 < first.original_bytes, "{first:?}");
        assert!(!dir.join("notes.txt.br").exists());
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &std::fs::read(dir.join("app.js.br")).unwrap()[..], &mut back).unwrap();
        assert_eq!(back, js.as_bytes());
        let mut gunzipped = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&std::fs::read(dir.join("app.js.gz")).unwrap()[..]),
            &mut gunzipped,
        )
        .unwrap();
        assert_eq!(gunzipped, js);

        assert_eq!(precompress(&dir).unwrap().written, 0, "fresh copies are kept");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn browsers_get_the_smallest_copy_they_accept_with_a_years_cache() {
        use tower::ServiceExt;
        let dir = std::env::temp_dir().join(format!("s3drop-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wasm = vec![7u8; 50_000];
        std::fs::write(dir.join("s3drop.abc123.wasm"), &wasm).unwrap();
        precompress(&dir).unwrap();

        let get = |accept: &'static str| {
            let req = http::Request::get("/s3drop.abc123.wasm").header("accept-encoding", accept);
            pkg_router(dir.clone(), true).oneshot(req.body(axum::body::Body::empty()).unwrap())
        };
        for (accept, encoding) in [("gzip, deflate, br", Some("br")), ("gzip", Some("gzip")), ("identity", None)] {
            let res = get(accept).await.unwrap();
            assert_eq!(res.status(), 200);
            let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(header("content-encoding").as_deref(), encoding, "{accept}");
            assert_eq!(header("cache-control").as_deref(), Some(IMMUTABLE));
            assert_eq!(header("content-type").as_deref(), Some("application/wasm"));
            let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
            if encoding.is_none() {
                assert_eq!(body, wasm);
            } else {
                assert!(body.len() < wasm.len() / 20, "{accept}: {} bytes", body.len());
            }
        }
        let res = pkg_router(dir.clone(), false)
            .oneshot(http::Request::get("/s3drop.abc123.wasm").body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.headers()["cache-control"], REVALIDATE, "unhashed names are checked every time");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
