#!/usr/bin/env node
// Drops the "name" custom section from a wasm file, in place (run by
// `make build` after worker-build).
//
// Why: worker-build always runs wasm-opt with --debuginfo, which keeps the
// function names — ~130 KiB raw, ~40 KiB gzip of Strata's upload that the
// runtime never needs. Without them a panic still logs its message and
// location (console_error_panic_hook); the stack shows wasm function indices
// instead of names. Only that one section is removed, byte for byte: the
// code, data and every other section are copied unchanged.
//
//   node scripts/strip-wasm-names.mjs build/index_bg.wasm
import fs from "node:fs";

const file = process.argv[2];
if (!file) {
  console.error("usage: strip-wasm-names.mjs FILE.wasm");
  process.exit(2);
}
const wasm = fs.readFileSync(file);
if (wasm.length < 8 || wasm.readUInt32LE(0) !== 0x6d736100) {
  console.error(`strip-wasm-names: ${file} is not a wasm module`);
  process.exit(1);
}

let pos = 8;
function leb() {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (pos >= wasm.length) throw new Error("truncated LEB128");
    const byte = wasm[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    if (!(byte & 0x80)) return value;
    shift += 7;
  }
}

const kept = [wasm.subarray(0, 8)];
let dropped = 0;
while (pos < wasm.length) {
  const start = pos;
  const id = wasm[pos++];
  const size = leb();
  const body = pos;
  const end = body + size;
  if (end > wasm.length) throw new Error(`section at ${start} runs past the end`);
  let name = null;
  if (id === 0) {
    const length = leb();
    name = wasm.subarray(pos, pos + length).toString("utf8");
  }
  if (name === "name") dropped += end - start;
  else kept.push(wasm.subarray(start, end));
  pos = end;
}
if (dropped > 0) {
  const tmp = `${file}.strip-tmp`;
  fs.writeFileSync(tmp, Buffer.concat(kept));
  fs.renameSync(tmp, file);
}
console.error(`strip-wasm-names: ${file}: ${dropped ? `dropped the name section (${(dropped / 1024).toFixed(1)} KiB)` : "no name section"}`);
