// Small DOM helpers for the board view. Text always goes in through textContent.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, v);
  for (const child of children) if (child) node.append(child);
  return node;
}

/**
 * Make `list`'s children the nodes for `entries` ({key, sig, build}), reusing an existing node
 * (from anywhere on the board: `pool`) when its signature is unchanged, so that focus, scroll
 * anchoring and open forms survive remote changes.
 */
export function reconcile(list, entries, pool) {
  const nodes = entries.map(({ key, sig, build }) => {
    const old = pool.get(key);
    if (old && old.dataset.sig === sig) {
      pool.delete(key);
      return old;
    }
    const node = build();
    node.dataset.key = key;
    node.dataset.sig = sig;
    return node;
  });
  const wanted = new Set(nodes);
  for (const child of [...list.children]) if (!wanted.has(child)) child.remove();
  nodes.forEach((node, i) => {
    const at = list.children[i];
    if (at !== node) list.insertBefore(node, at || null);
  });
}

export function newId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function shorten(text, length = 60) {
  const clean = String(text || "").replace(/\s+/g, " ").trim();
  return clean.length > length ? `${clean.slice(0, length - 1)}…` : clean;
}
