//! The S3-compatible API (`/s3`): what S3 clients (the AWS SDKs, `aws s3`,
//! rclone, boto3) send and expect, decided on the host.
//!
//! * [`credentials`]: the `S3_CREDENTIALS` secret, parsed and validated once.
//! * [`sigv4`]: AWS Signature Version 4, in the `Authorization` header and in
//!   presigned query strings; what the payload is promised to be.
//! * [`chunked`]: `aws-chunked` bodies (the SDKs' default for streams),
//!   decoded as a streaming state machine with bounded buffers.
//! * [`checksum`]: the flexible checksums (`x-amz-checksum-*`).
//! * [`error`]: S3's XML errors and the statuses S3 uses.
//! * [`copy`]: CopyObject and UploadPartCopy, streamed store to store.
//! * [`xml`]: the XML bodies S3 answers with (listings, buckets) and the
//!   two it reads (DeleteObjects, CompleteMultipartUpload), bounded and
//!   held to S3's schema.
//! * [`service`]: one request parsed into an operation, and its answer.
//!
//! Objects live in the same bucket as `/v1/objects`, with the same
//! metadata: the S3 routes reuse [`crate::objects`].

pub mod checksum;
pub mod chunked;
pub mod copy;
pub mod credentials;
pub mod error;
pub mod service;
pub mod sigv4;
pub mod xml;

pub use error::S3Error;

/// The setting naming the one bucket the S3 API serves.
pub const BUCKET_SETTING: &str = "S3_BUCKET";
/// The bucket's name when `S3_BUCKET` is not set.
pub const DEFAULT_BUCKET: &str = "strata";
/// The region Strata answers for (SigV4 scopes may also say `us-east-1`
/// or nothing).
pub const REGION: &str = "auto";
/// The path prefix of the S3 API.
pub const PATH_PREFIX: &str = "/s3";
