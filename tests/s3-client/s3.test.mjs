// The S3-compatible API (/s3) with the AWS SDK for JavaScript v3 at its
// default settings (since 3.729 it sends a CRC32 with every upload: as a
// header for strings and buffers, as an aws-chunked trailer for streams).
// Run by the integration harness (tests/api/s3.rs) against its live stack:
//   STRATA_BASE_URL        the worker
//   STRATA_API_KEY         an admin API key (to read through /v1/objects)
//   STRATA_S3_CREDENTIALS  S3_CREDENTIALS: STRATATESTRW (read-write), STRATATESTRO (read-only)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import {
  S3Client, PutObjectCommand, GetObjectCommand, HeadObjectCommand, DeleteObjectCommand,
  ListObjectsV2Command, ListObjectsCommand, ListBucketsCommand, HeadBucketCommand,
  GetBucketLocationCommand, DeleteObjectsCommand, CreateMultipartUploadCommand,
  UploadPartCommand, CompleteMultipartUploadCommand, AbortMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Upload } from '@aws-sdk/lib-storage';
import {
  base, apiKey, Bucket, endpoint, s3, readOnly, text, sha256, step, rejects,
} from './s3-common.mjs';

test('PutObject of a string, readable through /v1/objects with its metadata', async () => {
  const put = await s3.send(new PutObjectCommand({
    Bucket, Key: 'hello/r2.txt', Body: 'Hello R2!', ContentType: 'text/plain', Metadata: { owner: 'ada' },
  }));
  assert.match(put.ETag, /^"[0-9a-f]+"$/);
  const get = await s3.send(new GetObjectCommand({ Bucket, Key: 'hello/r2.txt' }));
  assert.equal(await text(get.Body), 'Hello R2!');
  assert.equal(get.ContentType, 'text/plain');
  assert.deepEqual(get.Metadata, { owner: 'ada' });
  assert.equal(get.ETag, put.ETag);
  const res = await fetch(`${base}/v1/objects/hello/r2.txt`, { headers: { Authorization: `Bearer ${apiKey}` } });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'Hello R2!');
  assert.equal(res.headers.get('x-strata-meta-owner'), 'ada');
});

test('PutObject of a buffer and of a stream (aws-chunked, CRC32 trailer) store exactly the payload', async () => {
  const bytes = Buffer.alloc(300_000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) % 251;
  await s3.send(new PutObjectCommand({ Bucket, Key: 'bin/buffer', Body: bytes }));
  let get = await s3.send(new GetObjectCommand({ Bucket, Key: 'bin/buffer' }));
  assert.equal(sha256(Buffer.from(await get.Body.transformToByteArray())), sha256(bytes));

  await s3.send(new PutObjectCommand({
    Bucket, Key: 'bin/stream', Body: Readable.from([bytes.subarray(0, 100_000), bytes.subarray(100_000)]),
    ContentLength: bytes.length,
  }));
  get = await s3.send(new GetObjectCommand({ Bucket, Key: 'bin/stream' }));
  const back = Buffer.from(await get.Body.transformToByteArray());
  assert.equal(back.length, bytes.length);
  assert.equal(sha256(back), sha256(bytes));
  assert.equal(get.ContentEncoding, undefined, 'aws-chunked is framing, not the object\'s encoding');

  const ranged = await s3.send(new GetObjectCommand({ Bucket, Key: 'bin/stream', Range: 'bytes=10-19' }));
  assert.equal(ranged.ContentRange, `bytes 10-19/${bytes.length}`);
  assert.deepEqual(Buffer.from(await ranged.Body.transformToByteArray()), bytes.subarray(10, 20));
});

test('a wrong checksum is BadDigest and stores nothing', async () => {
  await rejects(s3.send(new PutObjectCommand({
    Bucket, Key: 'bad/crc', Body: 'payload', ChecksumCRC32: 'AAAAAA==',
  })), 'BadDigest', 400);
  await rejects(s3.send(new HeadObjectCommand({ Bucket, Key: 'bad/crc' })), 'NotFound', 404);
});

test('HeadObject, conditionals, DeleteObject, NoSuchKey', async () => {
  const put = await s3.send(new PutObjectCommand({ Bucket, Key: 'cond.txt', Body: 'v1' }));
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'cond.txt' }));
  assert.equal(head.ContentLength, 2);
  assert.equal(head.ETag, put.ETag);
  // A 304 has no body, so the SDK cannot name it: its status says it.
  const notModified = await s3.send(new GetObjectCommand({ Bucket, Key: 'cond.txt', IfNoneMatch: put.ETag })).catch((e) => e);
  assert.equal(notModified.$metadata?.httpStatusCode, 304);
  await rejects(s3.send(new GetObjectCommand({ Bucket, Key: 'cond.txt', IfMatch: '"nope"' })), 'PreconditionFailed', 412);
  await rejects(s3.send(new GetObjectCommand({ Bucket, Key: 'cond.txt', Range: 'bytes=100-200' })), 'InvalidRange', 416);
  await s3.send(new DeleteObjectCommand({ Bucket, Key: 'cond.txt' }));
  const missing = await rejects(s3.send(new GetObjectCommand({ Bucket, Key: 'cond.txt' })), 'NoSuchKey', 404);
  // The SDK reports Strata's request id (x-amz-request-id), the one its log line names.
  assert.match(missing.$metadata?.requestId ?? '', /^[0-9a-f]{32}$/);
  await rejects(s3.send(new HeadObjectCommand({ Bucket, Key: 'cond.txt' })), 'NotFound', 404);
  await rejects(s3.send(new GetObjectCommand({ Bucket: 'other', Key: 'x' })), 'NoSuchBucket', 404);
});

test('an error names the request id Strata assigned, in its body and its headers', async () => {
  // Unsigned: refused before any store is touched.
  const res = await fetch(`${endpoint}/${Bucket}/anything`, { headers: { 'x-request-id': 'client-chosen-id' } });
  assert.equal(res.status, 403);
  const body = await res.text();
  const inBody = /<RequestId>([^<]*)<\/RequestId>/.exec(body)?.[1];
  assert.equal(inBody, res.headers.get('x-request-id'), body);
  assert.equal(inBody, res.headers.get('x-amz-request-id'), body);
  // A client's own valid id is kept as the request's id (the pipeline's rule), so it is that one.
  assert.equal(inBody, 'client-chosen-id');
});

test('ListObjectsV2 and ListObjects page with prefix and delimiter; the bucket operations', async () => {
  for (const k of ['list/a.txt', 'list/b.txt', 'list/sub/c.txt']) {
    await s3.send(new PutObjectCommand({ Bucket, Key: k, Body: k }));
  }
  const page = await step('ListObjectsV2 delimiter', s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'list/', Delimiter: '/' })));
  assert.deepEqual(page.Contents.map((o) => o.Key), ['list/a.txt', 'list/b.txt']);
  assert.deepEqual(page.CommonPrefixes.map((p) => p.Prefix), ['list/sub/']);
  assert.equal(page.KeyCount, 3);
  const keys = [];
  let token;
  do {
    const p = await step('ListObjectsV2 pages', s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'list/', MaxKeys: 2, ContinuationToken: token })));
    keys.push(...p.Contents.map((o) => o.Key));
    token = p.IsTruncated ? p.NextContinuationToken : undefined;
  } while (token);
  assert.deepEqual(keys, ['list/a.txt', 'list/b.txt', 'list/sub/c.txt']);
  const v1 = await step('ListObjects', s3.send(new ListObjectsCommand({ Bucket, Prefix: 'list/' })));
  assert.equal(v1.Contents.length, 3);

  const buckets = await step('ListBuckets', s3.send(new ListBucketsCommand({})));
  assert.deepEqual(buckets.Buckets.map((b) => b.Name), [Bucket]);
  await step('HeadBucket', s3.send(new HeadBucketCommand({ Bucket })));
  const loc = await step('GetBucketLocation', s3.send(new GetBucketLocationCommand({ Bucket })));
  assert.equal(loc.LocationConstraint, 'auto');

  const del = await step('DeleteObjects', s3.send(new DeleteObjectsCommand({
    Bucket, Delete: { Objects: [{ Key: 'list/a.txt' }, { Key: 'list/b.txt' }] },
  })));
  assert.deepEqual(del.Deleted.map((d) => d.Key).sort(), ['list/a.txt', 'list/b.txt']);
  const after = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'list/' }));
  assert.deepEqual(after.Contents.map((o) => o.Key), ['list/sub/c.txt']);
});

test('a read-only credential reads but cannot write; bad credentials are refused', async () => {
  await s3.send(new PutObjectCommand({ Bucket, Key: 'ro.txt', Body: 'x' }));
  const get = await readOnly.send(new GetObjectCommand({ Bucket, Key: 'ro.txt' }));
  assert.equal(await text(get.Body), 'x');
  await rejects(readOnly.send(new PutObjectCommand({ Bucket, Key: 'ro.txt', Body: 'y' })), 'AccessDenied', 403);
  await rejects(readOnly.send(new DeleteObjectCommand({ Bucket, Key: 'ro.txt' })), 'AccessDenied', 403);
  const wrong = new S3Client({ region: 'auto', endpoint, credentials: { accessKeyId: 'STRATATESTRW', secretAccessKey: 'not-the-secret-at-all-0000000000000000' } });
  await rejects(wrong.send(new GetObjectCommand({ Bucket, Key: 'ro.txt' })), 'SignatureDoesNotMatch', 403);
  const unknown = new S3Client({ region: 'auto', endpoint, credentials: { accessKeyId: 'NOSUCHKEY', secretAccessKey: 'x'.repeat(40) } });
  await rejects(unknown.send(new GetObjectCommand({ Bucket, Key: 'ro.txt' })), 'InvalidAccessKeyId', 403);
  const res = await fetch(`${endpoint}/${Bucket}/ro.txt`);
  assert.equal(res.status, 403);
  assert.match(await res.text(), /<Code>AccessDenied<\/Code>/);
});

test('presigned GET and PUT URLs work with plain fetch', async () => {
  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: 'presigned.txt' }), { expiresIn: 300 });
  let res = await fetch(putUrl, { method: 'PUT', body: 'signed body' });
  assert.equal(res.status, 200, await res.text());
  const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'presigned.txt' }), { expiresIn: 300 });
  res = await fetch(getUrl);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'signed body');
  res = await fetch(getUrl.replace(/X-Amz-Signature=[0-9a-f]+/, `X-Amz-Signature=${'0'.repeat(64)}`));
  assert.equal(res.status, 403);
  assert.match(await res.text(), /SignatureDoesNotMatch/);
});

test('multipart upload: create, parts, complete; abort', async () => {
  const Key = 'multi/big.bin';
  const part1 = Buffer.alloc(5 * 1024 * 1024, 'a');
  const part2 = Buffer.from('the last part');
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key, ContentType: 'application/x-test' }));
  assert.ok(UploadId);
  const p1 = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: part1 }));
  const p2 = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 2, Body: part2 }));
  const done = await s3.send(new CompleteMultipartUploadCommand({
    Bucket, Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] },
  }));
  assert.ok(done.ETag);
  const get = await s3.send(new GetObjectCommand({ Bucket, Key }));
  const back = Buffer.from(await get.Body.transformToByteArray());
  assert.equal(sha256(back), sha256(Buffer.concat([part1, part2])));
  assert.equal(get.ContentType, 'application/x-test');

  const other = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'multi/aborted' }));
  await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: 'multi/aborted', UploadId: other.UploadId }));
});

test('lib-storage Upload of 64 MiB from a stream (multipart, 4 parts in parallel), SHA-256 checked on download', async () => {
  const Key = 'multi/upload-64mib.bin';
  const size = 64 * 1024 * 1024;
  const hash = createHash('sha256');
  // Deterministic, not all one byte: 1 MiB blocks, each numbered.
  async function* blocks() {
    for (let i = 0; i < size / (1024 * 1024); i++) {
      const block = Buffer.alloc(1024 * 1024, i % 251);
      block.writeUInt32BE(i, 0);
      hash.update(block);
      yield block;
    }
  }
  const upload = new Upload({ client: s3, params: { Bucket, Key, Body: Readable.from(blocks()) } });
  const done = await upload.done();
  assert.equal(done.Key, Key);
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key }));
  assert.equal(head.ContentLength, size);
  const get = await s3.send(new GetObjectCommand({ Bucket, Key }));
  const down = createHash('sha256');
  for await (const chunk of get.Body) down.update(chunk);
  assert.equal(down.digest('hex'), hash.digest('hex'));
});

test('response-* overrides, and a presigned URL past its expiry', async () => {
  await s3.send(new PutObjectCommand({ Bucket, Key: 'override.txt', Body: 'o', ContentType: 'text/plain' }));
  const get = await s3.send(new GetObjectCommand({
    Bucket, Key: 'override.txt', ResponseContentType: 'application/x-override', ResponseContentDisposition: 'attachment',
  }));
  assert.equal(get.ContentType, 'application/x-override');
  assert.equal(get.ContentDisposition, 'attachment');
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'override.txt' }), { expiresIn: 1 });
  await new Promise((r) => setTimeout(r, 2100));
  const res = await fetch(url);
  assert.equal(res.status, 403);
  assert.match(await res.text(), /Request has expired/);
  const week = await fetch(url.replace('X-Amz-Expires=1&', 'X-Amz-Expires=604801&'));
  assert.equal(week.status, 400);
  assert.match(await week.text(), /AuthorizationQueryParametersError/);
});

test('browsers: /s3 preflights allow the SDK\'s headers; ETag and x-amz-meta-* are exposed', async () => {
  // One of the test stack's CORS_ALLOWED_ORIGINS (tests/api/cors.rs).
  const origin = 'https://app.strata.test';
  const pre = await fetch(`${endpoint}/${Bucket}/cors.txt`, {
    method: 'OPTIONS',
    headers: {
      origin, 'access-control-request-method': 'PUT',
      'access-control-request-headers': 'authorization,x-amz-date,x-amz-content-sha256,x-amz-meta-owner,amz-sdk-invocation-id,x-amz-checksum-crc32,content-type',
    },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), origin);
  const allowed = pre.headers.get('access-control-allow-headers').toLowerCase();
  for (const h of ['authorization', 'x-amz-date', 'x-amz-content-sha256', 'x-amz-meta-owner', 'amz-sdk-invocation-id', 'x-amz-checksum-crc32']) {
    assert.ok(allowed.includes(h), `${h} not in ${allowed}`);
  }
  await s3.send(new PutObjectCommand({ Bucket, Key: 'cors.txt', Body: 'c', Metadata: { owner: 'ada' } }));
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'cors.txt' }), { expiresIn: 60 });
  const res = await fetch(url, { headers: { origin } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), origin);
  const exposed = res.headers.get('access-control-expose-headers').toLowerCase().split(/,\s*/);
  for (const h of ['etag', 'x-amz-meta-owner']) assert.ok(exposed.includes(h), `${h} not in ${exposed}`);
});
