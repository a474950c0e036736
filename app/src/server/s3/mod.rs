//! Everything that talks S3: signing (SigV4, POST policies, presigned URLs), addressing, and the
//! server's own client. Knows nothing about users or the database.

pub mod client;
pub mod endpoint;
pub mod post_policy;
pub mod presign;
pub mod sigv4;
pub use crate::xml;

use std::sync::Arc;

pub use client::{CompletedPart, CorsRefusal, CorsRule, ObjectInfo, PartChecksums, S3Client, S3Error, StoredPart};
pub use endpoint::Endpoint;
pub use post_policy::{PostForm, PostPolicy, Success};
pub use presign::{Expiry, PartConstraints, PresignedRequest, PutConstraints};
pub use sigv4::{Credentials, PayloadHash, SignableRequest, Signer};

/// One bucket at one endpoint, with the signer for it: the unit everything here works on.
#[derive(Clone, Debug)]
pub struct Bucket {
    pub name: String,
    pub endpoint: Endpoint,
    pub signer: Arc<Signer>,
}
