// The board view: a replica of the board kept in sync over the websocket protocol
// (docs/protocol.md), drawn as plain HTML: a section per stage, a list per lane.
// Remote changes are announced politely and never move focus or scroll.

const root = document.getElementById("board");
const boardId = root.dataset.board;
const canEdit = root.dataset.canEdit === "true";
const canComment = root.dataset.canComment === "true";
const S = JSON.parse(document.getElementById("board-strings").textContent);
const statusEl = document.getElementById("conn-status");
const announcer = document.getElementById("announcer");
const presenceList = document.getElementById("presence-list");

const state = {
  seq: 0,
  items: new Map(),
  me: null,
  people: new Map(),
  pending: new Map(), // op id -> {op, description}
  socket: null,
  retry: 0,
  synced: false,
};

function t(key, values = {}) {
  let text = S[key] ?? key;
  for (const [name, value] of Object.entries(values)) text = text.replaceAll(`{${name}}`, value);
  return text;
}

function newId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ------------------------------------------------------------------ announcements

let announceQueue = [];
let announceTimer = null;
function announce(text) {
  announceQueue.push(text);
  if (announceTimer) return;
  // At most one announcement every three seconds, so a busy workshop does not drown a screen reader.
  const flush = () => {
    if (!announceQueue.length) { announceTimer = null; return; }
    const items = announceQueue;
    announceQueue = [];
    announcer.textContent = items.length > 3 ? t("many_changes", { count: String(items.length) }) : items.join(" ");
    announceTimer = setTimeout(flush, 3000);
  };
  announceTimer = setTimeout(flush, 300);
}

function nameOf(personId) {
  if (!personId) return t("former");
  if (state.me && personId === state.me.person) return t("you");
  return state.people.get(personId)?.name || t("someone");
}

// ------------------------------------------------------------------ connection

function setStatus(kind) {
  statusEl.dataset.state = kind;
  const queued = state.pending.size;
  statusEl.textContent = kind === "online" ? t("online")
    : kind === "offline" ? (queued ? t("offline_queued", { count: String(queued) }) : t("offline"))
    : t("connecting");
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/boards/${boardId}`);
  state.socket = socket;
  state.synced = false;
  state.syncing = false;
  setStatus("connecting");
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ t: "hello", v: 1, since: state.seq || null }));
  });
  socket.addEventListener("message", (e) => handle(JSON.parse(e.data)));
  socket.addEventListener("close", (e) => {
    state.socket = null;
    state.synced = false;
    if (e.code === 4401 || e.code === 4403 || e.code === 4404) {
      setStatus("offline");
      statusEl.textContent = t("closed_access");
      return;
    }
    setStatus("offline");
    const delay = Math.min(10000, 500 * 2 ** state.retry) * (0.5 + Math.random() / 2);
    state.retry += 1;
    setTimeout(connect, delay);
  });
}

function send(message) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN && state.synced) {
    state.socket.send(JSON.stringify(message));
    return true;
  }
  return false;
}

function submit(op, description) {
  const id = newId();
  state.pending.set(id, { op, description });
  if (!send({ t: "op", id, op })) setStatus("offline");
  return id;
}

function requestSync() {
  // One sync at a time; a gap seen while one is on its way asks again when it ends.
  if (state.syncing) { state.missedWhileSyncing = true; return; }
  state.syncing = true;
  state.socket?.send(JSON.stringify({ t: "sync", since: state.seq }));
}

function handle(message) {
  switch (message.t) {
    case "welcome":
      state.me = message;
      break;
    case "snapshot":
      state.seq = message.seq;
      state.items = new Map(message.items.map((i) => [i.id, i]));
      state.board = message.board;
      render();
      break;
    case "ops":
      for (const event of message.ops) {
        if (event.seq <= state.seq) continue;
        if (event.seq > state.seq + 1) { requestSync(); return; }
        apply(event);
      }
      break;
    case "synced":
      state.syncing = false;
      if (state.missedWhileSyncing || message.seq > state.seq) { state.missedWhileSyncing = false; requestSync(); }
      state.synced = true;
      state.retry = 0;
      setStatus("online");
      root.setAttribute("aria-busy", "false");
      // Edits made while offline go now, with their original ids: the server applies each once.
      for (const [id, { op }] of state.pending) state.socket.send(JSON.stringify({ t: "op", id, op }));
      break;
    case "ack": {
      const pending = state.pending.get(message.op);
      state.pending.delete(message.op);
      if (message.replaced && message.replaced.length && pending) {
        showNotice(t("replaced", { name: nameOf(message.replaced[0].by) }), message.seq);
      }
      if (statusEl.dataset.state !== "online" && state.synced) setStatus("online");
      break;
    }
    case "error":
      if (message.op) state.pending.delete(message.op);
      showNotice(message.message, null);
      break;
    case "presence":
      state.people = new Map(message.people.map((p) => [p.person, p]));
      renderPresence();
      break;
    case "presence.changed":
      if (message.state === "left") state.people.delete(message.person);
      else state.people.set(message.person, message);
      if (message.state === "joined" && message.person !== state.me?.person) announce(t("joined", { name: message.name }));
      renderPresence();
      break;
    case "resync":
      requestSync();
      break;
  }
}

// ------------------------------------------------------------------ applying events

function apply(event) {
  const d = event.data;
  const mine = state.me && event.actor === state.me.person;
  const who = nameOf(event.actor);
  let text = null;
  switch (event.type) {
    case "item.created":
    case "item.restored":
      state.items.set(d.item.id, d.item);
      text = t(event.type === "item.created" ? "added" : "restored", { name: who, what: describe(d.item) });
      break;
    case "item.updated": {
      const item = state.items.get(d.id);
      if (item) {
        item.fields = { ...item.fields, ...d.fields };
        for (const [k, v] of Object.entries(d.fields)) if (v === null) delete item.fields[k];
        item.version = d.version;
        text = t("edited", { name: who, what: describe(item) });
      }
      break;
    }
    case "item.moved": {
      const item = state.items.get(d.id);
      if (item) {
        Object.assign(item, { stage: d.stage, lane: d.lane, order: d.order, version: d.version });
        text = t("moved", { name: who, what: describe(item) });
      }
      break;
    }
    case "author.anonymised":
      for (const item of state.items.values()) if (item.author === d.person) item.author = null;
      break;
    case "item.deleted": {
      const item = state.items.get(d.id);
      if (item) text = t("deleted", { name: who, what: describe(item) });
      state.items.delete(d.id);
      break;
    }
  }
  state.seq = event.seq;
  renderPreservingFocus();
  if (text && !mine) announce(text);
}

function describe(item) {
  const text = item.fields.text || item.fields.title || item.fields.name || "";
  return text.length > 40 ? text.slice(0, 40) + "…" : text;
}

// ------------------------------------------------------------------ rendering

function byOrder(a, b) {
  return a.order < b.order ? -1 : a.order > b.order ? 1 : a.id < b.id ? -1 : 1;
}

function itemsOfType(type) {
  return [...state.items.values()].filter((i) => i.type === type).sort(byOrder);
}

function cellItems(stage, lane) {
  return [...state.items.values()]
    .filter((i) => !i.parent && i.stage === stage && i.lane === lane && i.type !== "stage" && i.type !== "lane")
    .sort(byOrder);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== false && v !== null && v !== undefined) node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function renderPreservingFocus() {
  // Re-rendering must not move focus or scroll: remember what had focus and put it back.
  const active = document.activeElement;
  const key = active?.dataset?.focusKey;
  const editing = root.querySelector("form[data-editing]");
  if (editing) return; // never re-render under someone who is typing; the form re-renders on close
  const scroll = window.scrollY;
  render();
  window.scrollTo(0, scroll);
  if (key) {
    const again = root.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    if (again) again.focus({ preventScroll: true });
    else if (active && active.dataset.neighbour) {
      const neighbour = root.querySelector(`[data-focus-key="${CSS.escape(active.dataset.neighbour)}"]`);
      if (neighbour) { neighbour.focus({ preventScroll: true }); announce(t("focus_moved")); }
    }
  }
}

function render() {
  const stages = itemsOfType("stage");
  const lanes = itemsOfType("lane");
  const grid = el("div", { class: "journey" });
  grid.style.setProperty("--stages", String(Math.max(stages.length, 1))); // CSSOM: allowed under our CSP
  if (!stages.length) {
    grid.append(renderCell(null, null, t("cards")));
  }
  for (const stage of stages) {
    const section = el("section", { class: "stage", "aria-labelledby": `stage-${stage.id}` },
      el("h2", { id: `stage-${stage.id}`, text: stage.fields.title }));
    if (!lanes.length) section.append(renderCell(stage, null, stage.fields.title));
    for (const lane of lanes) section.append(renderCell(stage, lane, lane.fields.title));
    grid.append(section);
  }
  root.replaceChildren(grid);
}

function renderCell(stage, lane, label) {
  const cards = cellItems(stage?.id ?? null, lane?.id ?? null);
  const headingId = `cell-${stage?.id ?? "x"}-${lane?.id ?? "x"}`;
  const cell = el("div", { class: `cell lane-${lane?.fields.kind ?? "none"}`, role: "group", "aria-labelledby": headingId },
    el("h3", { id: headingId, text: lane ? lane.fields.title : label }));
  const list = el("ul", { class: "cards" });
  cards.forEach((card, index) => {
    const neighbour = cards[index + 1] || cards[index - 1];
    list.append(renderCard(card, stage, lane, neighbour));
  });
  cell.append(list);
  if (canEdit) {
    cell.append(el("button", {
      type: "button", class: "add", "data-focus-key": `add-${headingId}`,
      "aria-label": t("add_card_in", { cell: `${stage ? stage.fields.title + ", " : ""}${label}` }),
      onclick: (e) => openEditor(cell, null, stage, lane, e.currentTarget),
    }, document.createTextNode(t("add_card"))));
  }
  return cell;
}

function renderCard(card, stage, lane, neighbour) {
  const text = card.fields.text || card.fields.title || card.fields.name || "";
  const article = el("article", { class: `card colour-${card.fields.colour || "yellow"}`, "aria-label": text || t("empty_card") },
    el("p", { class: "card-text", text }),
    el("p", { class: "card-meta", text: t("by", { name: nameOf(card.author) }) }));
  const editor = [...state.people.values()].find((p) => p.editing === card.id && p.person !== state.me?.person);
  if (editor) article.append(el("p", { class: "editing-now", text: t("is_editing", { name: editor.name }) }));
  if (canEdit) {
    const actions = el("div", { class: "card-actions" },
      el("button", { type: "button", "data-focus-key": `edit-${card.id}`, "data-neighbour": neighbour ? `edit-${neighbour.id}` : "",
        "aria-label": t("edit_named", { what: describe(card) }),
        onclick: (e) => openEditor(e.currentTarget.closest("li"), card, stage, lane, e.currentTarget) }, document.createTextNode(t("edit"))),
      el("button", { type: "button", "data-focus-key": `move-${card.id}`, "data-neighbour": neighbour ? `move-${neighbour.id}` : "",
        "aria-label": t("move_named", { what: describe(card) }),
        onclick: (e) => openMover(e.currentTarget.closest("li"), card, e.currentTarget) }, document.createTextNode(t("move"))),
      el("button", { type: "button", "data-focus-key": `delete-${card.id}`, "data-neighbour": neighbour ? `edit-${neighbour.id}` : "",
        "aria-label": t("delete_named", { what: describe(card) }),
        onclick: () => deleteCard(card) }, document.createTextNode(t("delete"))));
    article.append(actions);
  }
  return el("li", { "data-item": card.id }, article);
}

function openEditor(container, card, stage, lane, opener) {
  const form = el("form", { class: "editor", "data-editing": "true" });
  const id = `editor-${newId()}`;
  const textarea = el("textarea", { id, rows: "3", maxlength: "4000", required: true });
  textarea.value = card ? card.fields.text || "" : "";
  const close = () => { form.remove(); renderPreservingFocus(); opener?.isConnected && opener.focus(); };
  form.append(
    el("label", { for: id, text: card ? t("edit_label") : t("new_label") }), textarea,
    el("div", { class: "editor-actions" },
      el("button", { type: "submit", class: "primary" }, document.createTextNode(t("save"))),
      el("button", { type: "button", onclick: close }, document.createTextNode(t("cancel")))));
  form.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); close(); } });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = textarea.value.trim();
    if (!text) return;
    if (card) {
      submit({ type: "item.update", id: card.id, fields: { text }, base: card.seq ?? state.seq }, "edit");
      card.fields = { ...card.fields, text };
    } else {
      const itemId = newId();
      const op = { type: "item.create", id: itemId, item_type: "card", fields: { text } };
      if (stage) op.stage = stage.id;
      if (lane) op.lane = lane.id;
      submit(op, "create");
    }
    send({ t: "presence", editing: null });
    form.remove();
    render();
    const again = opener?.dataset.focusKey && root.querySelector(`[data-focus-key="${CSS.escape(opener.dataset.focusKey)}"]`);
    (again || opener)?.focus?.();
  });
  container.append(form);
  if (card) send({ t: "presence", editing: card.id });
  textarea.focus();
}

function openMover(container, card, opener) {
  const stages = itemsOfType("stage");
  const lanes = itemsOfType("lane");
  const form = el("form", { class: "mover", "data-editing": "true" });
  const stageSel = el("select", { id: `move-stage-${card.id}` });
  for (const s of stages) stageSel.append(el("option", { value: s.id, selected: s.id === card.stage, text: s.fields.title }));
  const laneSel = el("select", { id: `move-lane-${card.id}` });
  for (const l of lanes) laneSel.append(el("option", { value: l.id, selected: l.id === card.lane, text: l.fields.title }));
  const posSel = el("select", { id: `move-pos-${card.id}` });
  const fillPositions = () => {
    posSel.replaceChildren(el("option", { value: "", text: t("position_last") }), el("option", { value: "first", text: t("position_first") }));
    for (const other of cellItems(stageSel.value || null, laneSel.value || null)) {
      if (other.id !== card.id) posSel.append(el("option", { value: other.id, text: t("position_after", { what: describe(other) }) }));
    }
  };
  stageSel.addEventListener("change", fillPositions);
  laneSel.addEventListener("change", fillPositions);
  fillPositions();
  const close = () => { form.remove(); renderPreservingFocus(); opener?.isConnected && opener.focus(); };
  form.append(el("fieldset", {},
    el("legend", { text: t("move_named", { what: describe(card) }) }),
    stages.length ? el("label", { for: stageSel.id, text: t("stage") }) : null, stages.length ? stageSel : null,
    lanes.length ? el("label", { for: laneSel.id, text: t("lane") }) : null, lanes.length ? laneSel : null,
    el("label", { for: posSel.id, text: t("position") }), posSel,
    el("div", { class: "editor-actions" },
      el("button", { type: "submit", class: "primary" }, document.createTextNode(t("move_here"))),
      el("button", { type: "button", onclick: close }, document.createTextNode(t("cancel"))))));
  form.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); close(); } });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const stage = stageSel.value || null;
    const lane = laneSel.value || null;
    const cell = cellItems(stage, lane).filter((i) => i.id !== card.id);
    const op = { type: "item.move", id: card.id, stage, lane };
    if (posSel.value === "first") { if (cell[0]) op.before = cell[0].id; else delete op.before; }
    else if (posSel.value) {
      op.after = posSel.value;
      const index = cell.findIndex((i) => i.id === posSel.value);
      if (cell[index + 1]) op.before = cell[index + 1].id;
    }
    submit(op, "move");
    form.remove();
    render();
    const again = root.querySelector(`[data-focus-key="move-${CSS.escape(card.id)}"]`);
    (again || opener)?.focus?.();
    announce(t("moved_self"));
  });
  container.append(form);
  (stages.length ? stageSel : posSel).focus();
}

function deleteCard(card) {
  const id = submit({ type: "item.delete", id: card.id }, "delete");
  showNotice(t("deleted_self", { what: describe(card) }), null, { type: "item.restore", id: card.id }, id);
}

// ------------------------------------------------------------------ presence and notices

function renderPresence() {
  const people = [...state.people.values()].sort((a, b) => a.name.localeCompare(b.name));
  presenceList.replaceChildren(...people.map((p) => {
    const item = p.editing ? state.items.get(p.editing) : null;
    const text = item ? t("presence_editing", { name: p.name, what: describe(item) }) : p.name;
    return el("li", { text: p.person === state.me?.person ? `${text} (${t("you")})` : text });
  }));
}

const notice = document.getElementById("notice");
const noticeText = document.getElementById("notice-text");
const noticeUndo = document.getElementById("notice-undo");
let undoAction = null;
function showNotice(text, seq, undoOp = null) {
  noticeText.textContent = text;
  undoAction = seq ? { type: "undo", seq } : undoOp;
  noticeUndo.hidden = !undoAction;
  notice.hidden = false;
  notice.setAttribute("role", "status");
}
noticeUndo.addEventListener("click", () => {
  if (undoAction) submit(undoAction, "undo");
  notice.hidden = true;
});
document.getElementById("notice-close").addEventListener("click", () => { notice.hidden = true; });

window.kumppaniBoard = state; // for the browser tests
connect();
