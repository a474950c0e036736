//! Signatures per second on one core: a POST policy (JSON + base64 + HMAC) and a presigned PUT
//! (canonical request + SHA-256 + HMAC), plus the cost of deriving the signing key that the cache
//! saves. Run with `cargo bench -p server --bench signing`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::server::s3::post_policy::{PostPolicy, Success};
use app::server::s3::presign::{Expiry, PutConstraints};
use app::server::s3::sigv4::derive_signing_key;
use app::server::s3::{Bucket, Credentials, Endpoint, Signer};

fn measure(name: &str, mut f: impl FnMut(u64)) {
    // Warm up, then run for about two seconds.
    for i in 0..1_000 {
        f(i);
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..1_000 {
            f(n);
            n += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{name:<40} {:>12.0} per second   {:>8.2} µs each", n as f64 / secs, secs * 1e6 / n as f64);
}

fn main() {
    let bucket = Bucket {
        name: "s3drop".into(),
        endpoint: Endpoint::custom("http://127.0.0.1:3900", true).unwrap(),
        signer: Arc::new(Signer::new(
            Credentials {
                access_key_id: "GK0123456789abcdef01234567".into(),
                secret_access_key: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
                session_token: None,
            },
            "garage",
        )),
    };
    let now = time::OffsetDateTime::now_utc();
    let expiry = Expiry::secs(900).unwrap();
    println!("signing on one core (single thread), {}", std::env::consts::ARCH);
    measure("POST policy (form fields + signature)", |i| {
        let key = format!("uploads/0b7c5f0e-user/{i:016x}/holiday photo.jpg");
        let form = PostPolicy::for_key(key, expiry)
            .content_type("image/jpeg")
            .length_range(1, 100 << 20)
            .success(Success::Status(201))
            .sign(&bucket, now)
            .unwrap();
        black_box(form);
    });
    measure("presigned PUT URL", |i| {
        let key = format!("uploads/0b7c5f0e-user/{i:016x}/holiday photo.jpg");
        let c = PutConstraints { content_type: "image/jpeg".into(), content_length: 1 << 20, checksum_sha256: None };
        black_box(bucket.presign_put(&key, &c, expiry, now));
    });
    measure("signing key derivation (uncached)", |i| {
        black_box(derive_signing_key("secret", if i % 2 == 0 { "20261121" } else { "20261122" }, "garage", "s3"));
    });
}
