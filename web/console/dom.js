// DOM helpers. Every piece of data reaches the page as text (Node.append of a
// string, textContent, setAttribute, .value): table and column names, rows,
// object keys and error messages are whatever someone stored, never markup.

/** h("tag", {attr: value, onclick: fn}, ...children) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked" || k === "disabled" || k === "hidden" || k === "selected") el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces an element's children. */
export function put(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

/** A value of a row as text: NULL, binary and JSON shown for what they are. */
export function cellText(v) {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "object") {
    if (v && typeof v.$binary === "string" && Object.keys(v).length === 1) {
      return `<binary, ${Math.floor((v.$binary.replace(/=+$/, "").length * 3) / 4)} bytes>`;
    }
    return JSON.stringify(v);
  }
  return String(v);
}

export function bytes(n) {
  if (!Number.isFinite(n)) return "?";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}
