// What the S3 client suites share: the stack's endpoint and credentials
// (from the integration harness, tests/api/s3.rs) and the assertions.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';

export const base = process.env.STRATA_BASE_URL;
export const apiKey = process.env.STRATA_API_KEY;
export const creds = JSON.parse(process.env.STRATA_S3_CREDENTIALS ?? 'null');
if (!base || !apiKey || !creds) throw new Error('run via the integration tests (tests/api/s3.rs)');

export const Bucket = 'strata';
export const endpoint = `${base}/s3`;
export const pair = (id) => ({ accessKeyId: id, secretAccessKey: creds[id].secret });
// The strategy's own snippet: region auto, an endpoint, credentials.
export const s3 = new S3Client({ region: 'auto', endpoint, credentials: pair('STRATATESTRW') });
export const readOnly = new S3Client({ region: 'auto', endpoint, credentials: pair('STRATATESTRO') });

export const text = async (body) => Buffer.from(await body.transformToByteArray()).toString();
export const sha256 = (b) => createHash('sha256').update(b).digest('hex');
// Names the step that failed, with the raw answer the SDK could not read.
export async function step(label, promise) {
  try {
    return await promise;
  } catch (e) {
    const raw = e.$response?.body;
    e.message = `${label}: ${e.message} (status ${e.$metadata?.httpStatusCode ?? e.$response?.statusCode}${raw && typeof raw === 'string' ? `, body ${raw}` : ''})`;
    throw e;
  }
}
export async function rejects(promise, name, status) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.name, name, `${e.name}: ${e.message}`);
    if (status) assert.equal(e.$metadata?.httpStatusCode, status);
    return e;
  }
  assert.fail(`expected ${name}`);
}
