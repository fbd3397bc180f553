// aws-chunked uploads signed chunk by chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD
// and -TRAILER). Neither the JS SDK nor boto3 sends them (they send
// STREAMING-UNSIGNED-PAYLOAD-TRAILER, or a SHA-256 over http), so the
// requests are signed here by @smithy/signature-v4, the SDK's own SigV4
// implementation: the seed signature with `sign`, each chunk with
// `signEvent` (its string to sign is aws-chunked's: AWS4-HMAC-SHA256-PAYLOAD,
// the previous signature, the hash of no headers, the chunk's hash), the
// trailer with `signString`. Strata's signer is not used, so it is checked
// against an independent implementation. Run by tests/api/s3.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash, createHmac } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { SignatureV4 } from '@smithy/signature-v4';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { Bucket, endpoint, creds, s3, sha256, rejects } from './s3-common.mjs';

// The hash adapter the SDK uses on Node (@smithy/hash-node), on node:crypto.
class Sha256 {
  constructor(secret) { this.h = secret ? createHmac('sha256', secret) : createHash('sha256'); }
  update(data) { this.h.update(data); }
  async digest() { return new Uint8Array(this.h.digest()); }
}

const signer = new SignatureV4({
  credentials: { accessKeyId: 'STRATATESTRW', secretAccessKey: creds.STRATATESTRW.secret },
  region: 'auto', service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: false,
});
const hex = (b) => createHash('sha256').update(b).digest('hex');
const crc32b64 = (b) => { const out = Buffer.alloc(4); out.writeUInt32BE(crc32(b)); return out.toString('base64'); };

// PUT `payload` as aws-chunked in `chunkSize` chunks; `mode` picks the
// payload mode; `tamper` may change the framed body before it is sent.
async function putChunked(key, payload, { mode, chunkSize = 64 * 1024, extraHeaders = {}, trailer, tamper }) {
  const url = new URL(`${endpoint}/${Bucket}/${key}`);
  const signingDate = new Date();
  const signed = mode.startsWith('STREAMING-AWS4');
  const frames = [];
  for (let i = 0; i < payload.length; i += chunkSize) frames.push(payload.subarray(i, i + chunkSize));
  frames.push(Buffer.alloc(0));
  const headers = {
    host: url.host,
    'content-encoding': 'aws-chunked',
    'x-amz-content-sha256': mode,
    'x-amz-decoded-content-length': String(payload.length),
    ...(trailer ? { 'x-amz-trailer': trailer.name } : {}),
    ...extraHeaders,
  };
  // The framed length is known before signing: the signatures are 64 hex digits.
  const sigExt = signed ? ';chunk-signature='.length + 64 : 0;
  const trailerText = trailer ? `${trailer.name}:${trailer.value}\r\n` : '';
  const trailerSigText = trailer && signed ? `x-amz-trailer-signature:${'0'.repeat(64)}\r\n` : '';
  let length = 0;
  for (const f of frames) length += f.length.toString(16).length + sigExt + 2 + f.length + (f.length ? 2 : 0);
  length += Buffer.byteLength(trailerText) + trailerSigText.length + 2;
  headers['content-length'] = String(length);
  const request = await signer.sign({
    method: 'PUT', protocol: url.protocol, hostname: url.hostname, port: Number(url.port),
    path: url.pathname, query: {}, headers,
  }, { signingDate });
  let prior = /Signature=([0-9a-f]{64})/.exec(request.headers.authorization)[1];
  const parts = [];
  for (const f of frames) {
    let ext = '';
    if (signed) {
      prior = await signer.signEvent({ headers: new Uint8Array(0), payload: f }, { signingDate, priorSignature: prior });
      ext = `;chunk-signature=${prior}`;
    }
    parts.push(Buffer.from(`${f.length.toString(16)}${ext}\r\n`), f);
    if (f.length) parts.push(Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(trailerText));
  if (trailer && signed) {
    const longDate = signingDate.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const scope = `${longDate.slice(0, 8)}/auto/s3/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256-TRAILER', longDate, scope, prior, hex(trailerText.replace('\r\n', '\n'))].join('\n');
    parts.push(Buffer.from(`x-amz-trailer-signature:${await signer.sign(toSign, { signingDate })}\r\n`));
  }
  parts.push(Buffer.from('\r\n'));
  let body = Buffer.concat(parts);
  assert.equal(body.length, length);
  if (tamper) body = tamper(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'PUT', headers: request.headers }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const payload = Buffer.alloc(200_000);
for (let i = 0; i < payload.length; i++) payload[i] = (i * 13) % 241;

async function stored(key) {
  const get = await s3.send(new GetObjectCommand({ Bucket, Key: key }));
  return Buffer.from(await get.Body.transformToByteArray());
}

test('STREAMING-AWS4-HMAC-SHA256-PAYLOAD: chunk signatures checked, the object is exactly the payload', async () => {
  const res = await putChunked('chunked/signed', payload, { mode: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' });
  assert.equal(res.status, 200, res.text);
  assert.equal(sha256(await stored('chunked/signed')), sha256(payload));
  // One byte of the second chunk changed: its signature no longer holds.
  const bad = await putChunked('chunked/signed-bad', payload, {
    mode: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    tamper: (b) => { const i = b.indexOf('\r\n', 70_000) - 10; b[i] ^= 1; return b; },
  });
  assert.equal(bad.status, 403, bad.text);
  assert.match(bad.text, /<Code>SignatureDoesNotMatch<\/Code>/);
  await rejects(s3.send(new HeadObjectCommand({ Bucket, Key: 'chunked/signed-bad' })), 'NotFound', 404);
});

test('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER with a signed CRC32 trailer', async () => {
  const trailer = { name: 'x-amz-checksum-crc32', value: crc32b64(payload) };
  const res = await putChunked('chunked/signed-trailer', payload, { mode: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', trailer });
  assert.equal(res.status, 200, res.text);
  assert.equal(sha256(await stored('chunked/signed-trailer')), sha256(payload));
  // A wrong CRC, correctly signed: BadDigest, nothing stored.
  const wrong = await putChunked('chunked/signed-trailer-bad', payload, {
    mode: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', trailer: { ...trailer, value: crc32b64(Buffer.from('other')) },
  });
  assert.equal(wrong.status, 400, wrong.text);
  assert.match(wrong.text, /<Code>BadDigest<\/Code>/);
  await rejects(s3.send(new HeadObjectCommand({ Bucket, Key: 'chunked/signed-trailer-bad' })), 'NotFound', 404);
});

test('a checksum header in a -TRAILER mode is verified, not ignored', async () => {
  const mode = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
  const ok = await putChunked('chunked/header-crc', payload, { mode, extraHeaders: { 'x-amz-checksum-crc32': crc32b64(payload) } });
  assert.equal(ok.status, 200, ok.text);
  const bad = await putChunked('chunked/header-crc-bad', payload, { mode, extraHeaders: { 'x-amz-checksum-crc32': 'AAAAAA==' } });
  assert.equal(bad.status, 400, bad.text);
  assert.match(bad.text, /<Code>BadDigest<\/Code>/);
  await rejects(s3.send(new HeadObjectCommand({ Bucket, Key: 'chunked/header-crc-bad' })), 'NotFound', 404);
  // A header and a trailer checksum at once: refused.
  const small = payload.subarray(0, 100);
  const both = await putChunked('chunked/header-and-trailer', small, {
    mode, extraHeaders: { 'x-amz-checksum-crc32': crc32b64(small) },
    trailer: { name: 'x-amz-checksum-crc32', value: crc32b64(small) },
  });
  assert.equal(both.status, 400, both.text);
  assert.match(both.text, /<Code>InvalidRequest<\/Code>/);
});
