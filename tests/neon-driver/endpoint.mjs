// Starting and stopping neon-local for the driver tests (not a test file itself).
//
// The binary is $NEON_LOCAL_BIN, else $CARGO_TARGET_DIR/debug/neon-local, else
// target/debug/neon-local (build it first: cargo build -p neon-local).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function endpointBinary() {
  if (process.env.NEON_LOCAL_BIN) return path.resolve(repoRoot, process.env.NEON_LOCAL_BIN);
  const targetDir = process.env.CARGO_TARGET_DIR
    ? path.resolve(repoRoot, process.env.CARGO_TARGET_DIR)
    : path.join(repoRoot, 'target');
  return path.join(targetDir, 'debug', 'neon-local');
}

const running = new Set();

// Belt and braces: never leave an endpoint behind, even if `after` does not run.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts neon-local on a free port with `args` (plus `--listen 127.0.0.1:0 --quiet`) and
 * resolves with `{ ready, child, stop, stderr }`: `ready` is its parsed ready line
 * (`sql_url`, `ws_proxy`, `database_url`, `pg_port`), `stop()` a clean SIGTERM shutdown.
 */
export async function startEndpoint(args = []) {
  const bin = endpointBinary();
  if (!existsSync(bin)) {
    throw new Error(`${bin} not found: build it first (cargo build -p neon-local) or set NEON_LOCAL_BIN`);
  }
  const child = spawn(bin, ['--listen', '127.0.0.1:0', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stderrTail = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderrTail = stderrTail.concat(chunk.split('\n')).slice(-30);
  });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`neon-local not ready after 60 s\n${stderrTail.join('\n')}`)), 60_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`neon-local exited early (${code ?? signal})\n${stderrTail.join('\n')}`));
    });
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      try {
        const parsed = JSON.parse(line);
        assert.equal(parsed.event, 'ready');
        resolve(parsed);
      } catch (e) {
        reject(new Error(`bad ready line ${JSON.stringify(line)}: ${e.message}`));
      }
    });
  });
  return {
    ready,
    child,
    stderr: () => stderrTail.join('\n'),
    /** SIGTERM (clean shutdown: the endpoint stops its PostgreSQL), SIGKILL if it hangs. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    /** The endpoint process's resident memory in bytes (Linux). */
    rssBytes() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kib = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
      return kib * 1024;
    },
  };
}
