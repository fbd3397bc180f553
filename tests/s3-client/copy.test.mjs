// CopyObject and UploadPartCopy with the AWS SDK for JavaScript v3 at its
// default settings, and the checksums it sends when asked for CRC64NVME.
// Run by tests/api/s3.rs, like s3.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import {
  PutObjectCommand, GetObjectCommand, HeadObjectCommand, CopyObjectCommand,
  CreateMultipartUploadCommand, UploadPartCopyCommand, CompleteMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import {
  base, apiKey, Bucket, s3, readOnly, text, sha256, step, rejects,
} from './s3-common.mjs';

// S3 wants the copy source URL-encoded; the SDK sends it as given.
const source = (key) => `${Bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;

test('CopyObject keeps the source\'s metadata (COPY) or takes the request\'s (REPLACE)', async () => {
  const Key = 'copy/src ü+?&#.txt';
  const put = await s3.send(new PutObjectCommand({
    Bucket, Key, Body: 'copy me', ContentType: 'text/plain', Metadata: { owner: 'ada' },
  }));
  const copied = await step('CopyObject', s3.send(new CopyObjectCommand({
    Bucket, Key: 'copy/dst.txt', CopySource: source(Key),
  })));
  assert.equal(copied.CopyObjectResult.ETag, put.ETag);
  assert.ok(copied.CopyObjectResult.LastModified instanceof Date);
  let get = await s3.send(new GetObjectCommand({ Bucket, Key: 'copy/dst.txt' }));
  assert.equal(await text(get.Body), 'copy me');
  assert.equal(get.ContentType, 'text/plain');
  assert.deepEqual(get.Metadata, { owner: 'ada' });
  // One bucket: the copy is the /v1/objects object too.
  const res = await fetch(`${base}/v1/objects/copy/dst.txt`, { headers: { Authorization: `Bearer ${apiKey}` } });
  assert.equal(await res.text(), 'copy me');
  assert.equal(res.headers.get('x-strata-meta-owner'), 'ada');

  await step('CopyObject REPLACE', s3.send(new CopyObjectCommand({
    Bucket, Key: 'copy/dst.txt', CopySource: source(Key), MetadataDirective: 'REPLACE',
    ContentType: 'text/csv', Metadata: { team: 'x' },
  })));
  get = await s3.send(new GetObjectCommand({ Bucket, Key: 'copy/dst.txt' }));
  assert.equal(await text(get.Body), 'copy me');
  assert.equal(get.ContentType, 'text/csv');
  assert.deepEqual(get.Metadata, { team: 'x' });
  // Onto itself only with REPLACE (otherwise nothing would change).
  await rejects(s3.send(new CopyObjectCommand({ Bucket, Key, CopySource: source(Key) })), 'InvalidRequest', 400);
  await s3.send(new CopyObjectCommand({
    Bucket, Key, CopySource: source(Key), MetadataDirective: 'REPLACE', Metadata: { owner: 'bob' },
  }));
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key }));
  assert.deepEqual(head.Metadata, { owner: 'bob' });
});

test('CopyObject conditions fail with 412 and copy nothing; errors of the source', async () => {
  const put = await s3.send(new PutObjectCommand({ Bucket, Key: 'copy/cond-src', Body: 'v1' }));
  const Key = 'copy/cond-dst';
  await rejects(s3.send(new CopyObjectCommand({
    Bucket, Key, CopySource: source('copy/cond-src'), CopySourceIfMatch: '"0123456789abcdef0123456789abcdef"',
  })), 'PreconditionFailed', 412);
  await rejects(s3.send(new CopyObjectCommand({
    Bucket, Key, CopySource: source('copy/cond-src'), CopySourceIfNoneMatch: put.ETag,
  })), 'PreconditionFailed', 412);
  await rejects(s3.send(new CopyObjectCommand({
    Bucket, Key, CopySource: source('copy/cond-src'), CopySourceIfModifiedSince: new Date(Date.now() + 3600_000),
  })), 'PreconditionFailed', 412);
  await rejects(s3.send(new CopyObjectCommand({
    Bucket, Key, CopySource: source('copy/cond-src'), CopySourceIfUnmodifiedSince: new Date('2001-01-01'),
  })), 'PreconditionFailed', 412);
  await rejects(s3.send(new HeadObjectCommand({ Bucket, Key })), 'NotFound', 404);
  const ok = await s3.send(new CopyObjectCommand({
    Bucket, Key, CopySource: source('copy/cond-src'), CopySourceIfMatch: put.ETag,
  }));
  assert.equal(ok.CopyObjectResult.ETag, put.ETag);

  await rejects(s3.send(new CopyObjectCommand({ Bucket, Key, CopySource: source('copy/missing') })), 'NoSuchKey', 404);
  await rejects(s3.send(new CopyObjectCommand({ Bucket, Key, CopySource: 'other/copy/cond-src' })), 'NoSuchBucket', 404);
  await rejects(s3.send(new CopyObjectCommand({
    Bucket, Key, CopySource: `${source('copy/cond-src')}?versionId=abc`,
  })), 'NotImplemented', 501);
  await rejects(s3.send(new CopyObjectCommand({
    Bucket, Key, CopySource: source('copy/cond-src'), MetadataDirective: 'MOVE',
  })), 'InvalidArgument', 400);
});

test('a read-only credential cannot copy', async () => {
  await s3.send(new PutObjectCommand({ Bucket, Key: 'copy/ro-src', Body: 'r' }));
  await rejects(readOnly.send(new CopyObjectCommand({
    Bucket, Key: 'copy/ro-dst', CopySource: source('copy/ro-src'),
  })), 'AccessDenied', 403);
  await rejects(s3.send(new HeadObjectCommand({ Bucket, Key: 'copy/ro-dst' })), 'NotFound', 404);
});

test('UploadPartCopy: parts copied from ranges of an object, completed, byte-exact', async () => {
  const src = Buffer.alloc(6 * 1024 * 1024 + 100);
  for (let i = 0; i < src.length; i++) src[i] = (i * 31) % 253;
  await s3.send(new PutObjectCommand({ Bucket, Key: 'copy/parts-src', Body: src }));
  const Key = 'copy/parts-dst';
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
  const cut = 5 * 1024 * 1024;
  const p1 = await step('UploadPartCopy 1', s3.send(new UploadPartCopyCommand({
    Bucket, Key, UploadId, PartNumber: 1, CopySource: source('copy/parts-src'), CopySourceRange: `bytes=0-${cut - 1}`,
  })));
  const p2 = await step('UploadPartCopy 2', s3.send(new UploadPartCopyCommand({
    Bucket, Key, UploadId, PartNumber: 2, CopySource: source('copy/parts-src'), CopySourceRange: `bytes=${cut}-${src.length - 1}`,
  })));
  await rejects(s3.send(new UploadPartCopyCommand({
    Bucket, Key, UploadId, PartNumber: 3, CopySource: source('copy/parts-src'), CopySourceRange: `bytes=0-${src.length}`,
  })), 'InvalidArgument', 400);
  await s3.send(new CompleteMultipartUploadCommand({
    Bucket, Key, UploadId,
    MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.CopyPartResult.ETag }, { PartNumber: 2, ETag: p2.CopyPartResult.ETag }] },
  }));
  const get = await s3.send(new GetObjectCommand({ Bucket, Key }));
  assert.equal(sha256(Buffer.from(await get.Body.transformToByteArray())), sha256(src));
});

test('CRC64NVME, as header and as trailer, is verified; a mismatch stores nothing', async () => {
  const bytes = Buffer.alloc(200_000, 7);
  await s3.send(new PutObjectCommand({ Bucket, Key: 'crc64/buffer', Body: bytes, ChecksumAlgorithm: 'CRC64NVME' }));
  await s3.send(new PutObjectCommand({
    Bucket, Key: 'crc64/stream', Body: Readable.from([bytes]), ContentLength: bytes.length, ChecksumAlgorithm: 'CRC64NVME',
  }));
  for (const Key of ['crc64/buffer', 'crc64/stream']) {
    const get = await s3.send(new GetObjectCommand({ Bucket, Key }));
    assert.equal(sha256(Buffer.from(await get.Body.transformToByteArray())), sha256(bytes));
  }
  await rejects(s3.send(new PutObjectCommand({
    Bucket, Key: 'crc64/bad', Body: bytes, ChecksumCRC64NVME: 'AAAAAAAAAAA=',
  })), 'BadDigest', 400);
  await rejects(s3.send(new HeadObjectCommand({ Bucket, Key: 'crc64/bad' })), 'NotFound', 404);
});
