// The release scripts (scripts/deploy.sh, bundle-budget.sh, provision.sh, neon-branch.sh)
// and the workflow lint, without any account: each script runs from a copy of the
// repository's scripts in a temporary directory, with stand-ins for make, wrangler,
// strata-dev and neonctl that record every call. What is checked is the part the
// scripts own: the order of the steps, that the first failing step stops the release,
// what is refused up front, idempotent provisioning, and what is (not) printed.
//
// Run from the repo root: `node --test tests/release/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const REAL_ID = '0b5e1d2c-3f4a-4b6c-8d9e-0f1a2b3c4d5e';
const BRANCH_URL = 'postgres://app:S3cretPw@ep-cool-1.us-east-2.aws.neon.tech/neondb?sslmode=require';

const STUBS = {
  make: `echo "make $*" >> "$STUB_LOG"; exit "\${STUB_MAKE_EXIT:-0}"`,
  'strata-dev': `echo "strata-dev $* url=\${DATABASE_URL:-}" >> "$STUB_LOG"; exit "\${STUB_MIGRATE_EXIT:-0}"`,
  wrangler: `echo "wrangler $*" >> "$STUB_LOG"
case "$*" in
  "deploy --dry-run --outdir "*)
    head -c "\${STUB_BUNDLE_BYTES:-2000}" /dev/urandom > "$4/0123456789abcdef0123456789abcdef01234567-index_bg.wasm"
    echo 'export default {};' > "$4/index.js"; echo '{}' > "$4/index.js.map"; echo readme > "$4/README.md"
    echo "Total Upload: 2.00 KiB / gzip: 2.00 KiB" ;;
  "d1 migrations apply DB --remote") exit "\${STUB_D1_EXIT:-0}" ;;
  "d1 migrations apply DB --local --persist-to "*) ;;
  deploy) exit "\${STUB_DEPLOY_EXIT:-0}" ;;
  whoami) ;;
  "d1 list --json") cat "$STUB_STATE/d1.json" 2>/dev/null || echo '[]' ;;
  "d1 create "*) echo "[{\\"name\\":\\"$3\\",\\"uuid\\":\\"${REAL_ID}\\"}]" > "$STUB_STATE/d1.json"; echo "created" ;;
  "r2 bucket info "*) [ -f "$STUB_STATE/r2" ] ;;
  "r2 bucket create "*) touch "$STUB_STATE/r2" ;;
  *) echo "unexpected wrangler call: $*" >&2; exit 99 ;;
esac`,
  neonctl: `echo "neonctl $*" >> "$STUB_LOG"
case "$1 $2" in
  "me --output") ;;
  "projects list") cat "$STUB_STATE/projects.json" 2>/dev/null || echo '{"projects":[],"shared_with_you":[]}' ;;
  "projects create")
    echo "{\\"projects\\":[{\\"name\\":\\"$4\\",\\"id\\":\\"proj-42\\"}],\\"shared_with_you\\":[]}" > "$STUB_STATE/projects.json"
    echo '{"project":{"id":"proj-42","name":"'"$4"'"}}' ;;
  "branches list") cat "$STUB_STATE/branches.json" 2>/dev/null || echo '[{"name":"main","id":"br-main","default":true}]' ;;
  "branches create")
    echo "[{\\"name\\":\\"main\\",\\"id\\":\\"br-main\\"},{\\"name\\":\\"$4\\",\\"id\\":\\"br-2\\"}]" > "$STUB_STATE/branches.json"
    echo '{"branch":{"id":"br-2"},"connection_uris":[{"connection_uri":"${BRANCH_URL}"}]}' ;;
  "branches delete") echo '[{"name":"main","id":"br-main"}]' > "$STUB_STATE/branches.json"; echo '{}' ;;
  "connection-string "*) echo "${BRANCH_URL}" ;;
  *) echo "unexpected neonctl call: $*" >&2; exit 99 ;;
esac`,
};

/** A throw-away copy of the repository's release scripts, with stub tools. */
function fixture({ databaseId = REAL_ID } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-release-'));
  fs.mkdirSync(path.join(dir, 'scripts'));
  for (const name of ['deploy.sh', 'neon-local.sh', 'bundle-budget.sh', 'provision.sh', 'neon-branch.sh']) {
    fs.copyFileSync(path.join(repoRoot, 'scripts', name), path.join(dir, 'scripts', name));
    fs.chmodSync(path.join(dir, 'scripts', name), 0o755);
  }
  fs.mkdirSync(path.join(dir, 'bin'));
  for (const [name, body] of Object.entries(STUBS)) {
    fs.writeFileSync(path.join(dir, 'bin', name), `#!/usr/bin/env bash\n${body}\n`, { mode: 0o755 });
  }
  fs.mkdirSync(path.join(dir, 'state'));
  fs.writeFileSync(
    path.join(dir, 'wrangler.toml'),
    `name = "strata"\n[[d1_databases]]\nbinding = "DB"\ndatabase_name = "strata"\ndatabase_id = "${databaseId}"\n`,
  );
  const log = path.join(dir, 'calls.log');
  fs.writeFileSync(log, '');
  return {
    dir,
    run(script, args = [], env = {}) {
      const bin = path.join(dir, 'bin');
      const result = spawnSync(path.join(dir, 'scripts', script), args, {
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          STUB_LOG: log,
          STUB_STATE: path.join(dir, 'state'),
          MAKE: path.join(bin, 'make'),
          WRANGLER: path.join(bin, 'wrangler'),
          STRATA_DEV: path.join(bin, 'strata-dev'),
          NEONCTL: path.join(bin, 'neonctl'),
          ...env,
        },
      });
      return { ...result, calls: fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) };
    },
    resetLog() {
      fs.writeFileSync(log, '');
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const RELEASE_CALLS = (outdirPattern) => [
  'make --no-print-directory build host-bins',
  outdirPattern,
  'strata-dev migrate --dir migrations/pg url=postgres://u:p@db.example/x',
  'wrangler d1 migrations apply DB --remote',
  'wrangler deploy',
];

test('deploy runs build, budget, Postgres and D1 migrations, then wrangler deploy, in order', (t) => {
  const fx = fixture();
  t.after(fx.cleanup);
  const r = fx.run('deploy.sh', [], { DATABASE_URL: 'postgres://u:p@db.example/x' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.calls.length, 5, r.calls.join('\n'));
  assert.match(r.calls[1], /^wrangler deploy --dry-run --outdir \S+$/);
  assert.deepEqual([r.calls[0], ...r.calls.slice(2)], RELEASE_CALLS('').filter((_, i) => i !== 1));
  assert.match(r.stdout, /\[bundle\] total .* gzip/);
  assert.match(r.stderr, /\[deploy\] released/);
});

for (const [name, env, ranCalls, failedStep] of [
  ['the build', { STUB_MAKE_EXIT: '2' }, 1, 1],
  ['the bundle budget', { STRATA_BUNDLE_BUDGET_KIB: '1', STUB_BUNDLE_BYTES: '4096' }, 2, 2],
  ['the Postgres migrations', { STUB_MIGRATE_EXIT: '1' }, 3, 3],
  ['the D1 migrations', { STUB_D1_EXIT: '1' }, 4, 4],
  ['wrangler deploy', { STUB_DEPLOY_EXIT: '1' }, 5, 5],
]) {
  test(`a failure in ${name} stops the release there`, (t) => {
    const fx = fixture();
    t.after(fx.cleanup);
    const r = fx.run('deploy.sh', [], { DATABASE_URL: 'postgres://u:p@db.example/x', ...env });
    assert.notEqual(r.status, 0);
    assert.equal(r.calls.length, ranCalls, r.calls.join('\n'));
    assert.match(r.stderr, new RegExp(`stopped: step ${failedStep} failed`));
    assert.doesNotMatch(r.stderr, /released/);
  });
}

test('deploy refuses to start without DATABASE_URL or with the placeholder D1 id', (t) => {
  const fx = fixture();
  t.after(fx.cleanup);
  let r = fx.run('deploy.sh');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /DATABASE_URL is not set/);
  assert.deepEqual(r.calls, []);

  const placeholder = fixture({ databaseId: '00000000-0000-0000-0000-000000000000' });
  t.after(placeholder.cleanup);
  r = placeholder.run('deploy.sh', [], { DATABASE_URL: 'postgres://u:p@db.example/x' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /placeholder D1 database_id/);
  assert.deepEqual(r.calls, []);
});

test('deploy --dry-run with DATABASE_URL only lists pending migrations and never touches remote', (t) => {
  const fx = fixture({ databaseId: '00000000-0000-0000-0000-000000000000' });
  t.after(fx.cleanup);
  const r = fx.run('deploy.sh', ['--dry-run'], { DATABASE_URL: 'postgres://u:p@db.example/x' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.calls[0], 'make --no-print-directory build host-bins');
  assert.match(r.calls[1], /^wrangler deploy --dry-run --outdir /);
  assert.equal(r.calls[2], 'strata-dev migrate --dir migrations/pg --dry-run url=postgres://u:p@db.example/x');
  assert.match(r.calls[3], /^wrangler d1 migrations apply DB --local --persist-to /);
  assert.equal(r.calls.length, 4);
  assert.ok(!r.calls.some((c) => c.includes('--remote') || c === 'wrangler deploy'));
});

test('provision creates what is missing, reuses what exists, and prints no secret', (t) => {
  const fx = fixture();
  t.after(fx.cleanup);
  let r = fx.run('provision.sh', [], { STRATA_NAME: 'strata-test' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.calls.includes('wrangler d1 create strata-test'), r.calls.join('\n'));
  assert.ok(r.calls.includes('wrangler r2 bucket create strata-test'));
  assert.ok(
    r.calls.some((c) => c.startsWith('neonctl projects create --name strata-test --region-id aws-us-east-2 --no-secrets')),
  );
  assert.match(r.stdout, new RegExp(`database_id = "${REAL_ID}"`));
  assert.match(r.stdout, /NEON_PROJECT_ID = proj-42/);
  for (const secret of ['DATABASE_URL', 'API_KEYS', 'SIGNING_SECRET', 'DATABASE_URL_READ']) {
    assert.match(r.stdout, new RegExp(`wrangler secret put ${secret}`));
  }
  assert.doesNotMatch(r.stdout + r.stderr, /S3cretPw/);

  fx.resetLog();
  r = fx.run('provision.sh', [], { STRATA_NAME: 'strata-test' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!r.calls.some((c) => / create /.test(c)), r.calls.join('\n'));
  assert.match(r.stdout, new RegExp(`database_id = "${REAL_ID}"`));
});

test('neon-branch create starts from a fresh branch and prints only its URL; delete is idempotent', (t) => {
  const fx = fixture();
  t.after(fx.cleanup);
  const env = { NEON_PROJECT_ID: 'proj-42' };
  let r = fx.run('neon-branch.sh', ['create', 'preview/pr-7'], env);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${BRANCH_URL}\n`);
  assert.doesNotMatch(r.stderr, /S3cretPw/);
  assert.ok(!r.calls.some((c) => c.startsWith('neonctl branches delete')));
  assert.ok(r.calls.every((c) => c.includes('--project-id proj-42')), r.calls.join('\n'));

  fx.resetLog();
  r = fx.run('neon-branch.sh', ['create', 'preview/pr-7'], env);
  assert.equal(r.status, 0, r.stderr);
  const order = r.calls.map((c) => c.split(' ').slice(1, 3).join(' '));
  assert.deepEqual(order, ['branches list', 'branches delete', 'branches create', 'connection-string preview/pr-7']);

  fx.resetLog();
  r = fx.run('neon-branch.sh', ['delete', 'preview/pr-7'], env);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.calls.some((c) => c.startsWith('neonctl branches delete preview/pr-7')));
  fx.resetLog();
  r = fx.run('neon-branch.sh', ['delete', 'preview/pr-7'], env);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!r.calls.some((c) => c.startsWith('neonctl branches delete')));

  r = fx.run('neon-branch.sh', ['create', 'x'], {});
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /NEON_PROJECT_ID is not set/);
});

function lint(dir) {
  return spawnSync(process.execPath, [path.join(repoRoot, 'scripts/lint-workflows.mjs'), dir], { encoding: 'utf8' });
}

test('the workflow lint passes the repository workflows and fails broken ones', (t) => {
  assert.equal(lint(path.join(repoRoot, '.github/workflows')).status, 0);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-workflows-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const empty = lint(dir);
  assert.notEqual(empty.status, 0);
  assert.match(empty.stderr, /no workflow files/);

  const ci = fs.readFileSync(path.join(repoRoot, '.github/workflows/ci.yml'), 'utf8');
  const broken = [
    [ci.replace('pull_request:', 'pull_requets:'), /unknown Webhook event "pull_requets"/],
    [ci.replace('run: make test', 'run: make test ${{ secret.X }}'), /undefined variable "secret"/],
    [ci.replace('runs-on: ubuntu-24.04', 'runs-on: ubuntu-24.4'), /label "ubuntu-24.4" is unknown/],
    [ci.replace('    steps:', '   steps:'), /\[syntax-check\]/],
  ];
  // One run over all of them (loading the linter is the slow part).
  broken.forEach(([text], i) => {
    assert.notEqual(text, ci, `mutation ${i} applies`);
    fs.writeFileSync(path.join(dir, `broken-${i}.yml`), text);
  });
  const r = lint(dir);
  assert.notEqual(r.status, 0);
  broken.forEach(([, expected], i) => {
    const lines = r.stderr.split('\n').filter((l) => l.includes(`broken-${i}.yml:`));
    assert.ok(lines.some((l) => /broken-\d\.yml:\d+:\d+: /.test(l) && expected.test(l)), `broken-${i}.yml: ${expected}\n${r.stderr}`);
  });
});
