// The board page: a replica of the board kept in sync over the websocket protocol
// (docs/protocol.md), drawn as plain HTML by board-view.js. Edits made while the connection
// is down wait in a queue and go out, once each, when it is back.

import { Announcer } from "./board-announce.js";
import { shorten } from "./board-dom.js";
import { Facilitation } from "./board-facilitate.js";
import { isContent, primaryText } from "./board-model.js";
import { Store } from "./board-store.js";
import { BoardView } from "./board-view.js";
import { RoundBanner } from "./board-round.js";
import { columnTitle } from "./board-forms.js";

const root = document.getElementById("board");
const boardId = root.dataset.board;
const S = JSON.parse(document.getElementById("board-strings").textContent);
const perms = {
  edit: root.dataset.canEdit === "true",
  comment: root.dataset.canComment === "true",
  facilitate: root.dataset.canFacilitate === "true",
};
const connEl = document.getElementById("conn");
const statusEl = document.getElementById("conn-status");
const queueEl = document.getElementById("conn-queue");
const presenceList = document.getElementById("presence-list");
const notice = document.getElementById("notice");
const noticeText = document.getElementById("notice-text");
const noticeUndo = document.getElementById("notice-undo");
const noticeClose = document.getElementById("notice-close");

function t(key, values = {}) {
  let text = S[key] ?? key;
  for (const [name, value] of Object.entries(values)) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}

const store = new Store();
const announcer = new Announcer(document.getElementById("announcer"), t);
const roundBanner = new RoundBanner(t);
const acks = new Map(); // op id -> seq, for undo
const undoWhenAcked = new Set();
let socket = null;
let synced = false;
let syncing = false;
let missedWhileSyncing = false;
let retry = 0;
let reconnectTimer = null;
let stopped = false;

// ------------------------------------------------------------------ sending

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN && synced) {
    socket.send(JSON.stringify(message));
    return true;
  }
  return false;
}

function newOpId() {
  return `w${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

// Unsent edits survive a reload of the page (this tab only): they are sent when the page is back.
const PENDING_KEY = `kumppani.pending.${boardId}`;
function savePending() {
  try {
    if (store.pending.size) sessionStorage.setItem(PENDING_KEY, JSON.stringify([...store.pending].map(([id, e]) => [id, e.op])));
    else sessionStorage.removeItem(PENDING_KEY);
  } catch {
    // storage unavailable: the queue lives as long as the page
  }
}
function loadPending() {
  try {
    for (const [id, op] of JSON.parse(sessionStorage.getItem(PENDING_KEY) || "[]")) store.pending.set(id, { op, epoch: 0 });
  } catch {
    // nothing saved, or unreadable
  }
}

/** Send one command; it stays queued (and shown) until the server acknowledges it. */
function submit(op) {
  const id = newOpId();
  store.pending.set(id, { op, epoch: store.epoch });
  savePending();
  send({ t: "op", id, op });
  updateQueue();
  view.schedule();
  return id;
}

function undoOp(opId) {
  const seq = acks.get(opId);
  if (seq !== undefined) submit({ type: "undo", seq });
  else if (store.pending.has(opId)) undoWhenAcked.add(opId);
}

function describe(item) {
  if (!item) return "";
  return shorten(primaryText(item), 60) || t("empty_card");
}

function whereOf(item, view) {
  const { stage, lane } = view.where(item);
  const column = view.columns.find((c) => c.id === stage);
  const row = view.lanes.find((l) => l.id === lane);
  return [column ? columnTitle(t, column) : null, row ? row.fields.title : null].filter(Boolean).join(", ");
}

const actions = {
  submit,
  created(op) {
    const id = submit(op);
    showNotice(t(op.item_type === "comment" ? "commented_self" : "added_self", { what: shorten(Object.values(op.fields)[0], 60) }), () => undoOp(id));
  },
  deleteItem(item) {
    view.localDeletes.add(item.id);
    const id = submit({ type: "item.delete", id: item.id });
    const text = item.type === "comment" ? t("deleted_comment_self")
      : isContent(item) ? t("deleted_self", { what: describe(item) }) : t("deleted_column_self", { what: describe(item) });
    showNotice(text, () => undoOp(id));
  },
  move(item, target, focusKey) {
    const op = { type: "item.move", id: item.id, stage: target.stage ?? null, lane: target.lane ?? null };
    if (target.after) op.after = target.after;
    if (target.before) op.before = target.before;
    const id = submit(op);
    // An idea moved to a column of the idea board takes that column's status.
    const column = op.stage ? store.items.get(op.stage) : null;
    if (item.type === "idea" && column?.fields.status && column.fields.status !== item.fields.status) {
      submit({ type: "item.update", id: item.id, fields: { status: column.fields.status }, base: item.seq });
    }
    view.render();
    view.focusKey(focusKey || `${item.id}:move`);
    const moved = view.view.items.get(item.id) || item;
    showNotice(t("moved_self_to", { what: describe(item), where: whereOf(moved, view.view) || t("cards_title") }), () => undoOp(id));
  },
  vote(item, delta) {
    const budget = store.board.vote_budget ?? 0;
    if (delta > 0 && store.votes.used >= budget) {
      showNotice(t("error.vote_budget"));
      return;
    }
    submit({ type: delta > 0 ? "vote.add" : "vote.remove", id: item.id });
  },
  react(item, emoji, on) {
    submit({ type: on ? "reaction.add" : "reaction.remove", id: item.id, emoji });
  },
  setEditing(id) {
    send({ t: "presence", editing: id || null });
  },
};

// Authors who write in another language than this page's: their words get lang="…".
const langs = JSON.parse(root.dataset.authorLangs || "{}");
const view = new BoardView({ root, store, t, perms, template: root.dataset.template, actions, announcer, langs });
const facilitation = new Facilitation({ store, t, announcer, submit, perms });

// ------------------------------------------------------------------ connection

function setStatus(kind) {
  connEl.dataset.state = kind;
  const text = {
    online: t("online"), connecting: t("connecting"), offline: t("offline"),
    signin: t("closed_signin"), access: t("closed_access"), version: t("closed_version"),
  }[kind];
  if (statusEl.textContent !== text) statusEl.textContent = text;
  updateQueue();
}

function updateQueue() {
  savePending();
  const count = store.pending.size;
  const offline = connEl.dataset.state !== "online";
  queueEl.textContent = count && offline ? t(count === 1 ? "queued_one" : "queued_many", { count }) : "";
}

function connect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  if (stopped) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let ws;
  try {
    ws = new WebSocket(`${scheme}://${location.host}/ws/boards/${boardId}`);
  } catch {
    scheduleReconnect(2000);
    return;
  }
  socket = ws;
  synced = false;
  syncing = false;
  setStatus(store.loaded ? "offline" : "connecting");
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify({ t: "hello", v: 1, since: store.seq || null }));
  });
  ws.addEventListener("message", (e) => {
    if (ws === socket) handle(JSON.parse(e.data));
  });
  ws.addEventListener("close", (e) => {
    if (ws !== socket) return;
    socket = null;
    synced = false;
    closed(e.code);
  });
}

function closed(code) {
  if (code === 4401) return stop("signin");
  if (code === 4403 || code === 4404) return stop("access");
  if (code === 4426) return stop("version");
  setStatus("offline");
  if (code === 4400 || code === 4408 || code === 4409) return scheduleReconnect(15000);
  // Back off, but not for long: a restarted server should see us again within seconds.
  scheduleReconnect(Math.min(4000, 400 * 2 ** retry) * (0.6 + Math.random() * 0.4));
  retry += 1;
}

function stop(kind) {
  stopped = true;
  setStatus(kind);
  view.render();
}

function scheduleReconnect(delay) {
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(connect, delay);
}

window.addEventListener("online", () => {
  if (!socket && !stopped) connect();
});

function requestSync() {
  // One sync at a time; a gap seen while one is on its way asks again when it ends.
  if (syncing) {
    missedWhileSyncing = true;
    return;
  }
  syncing = true;
  socket?.send(JSON.stringify({ t: "sync", since: store.seq }));
}

function resendPending() {
  for (const [id, { op }] of store.pending) socket?.send(JSON.stringify({ t: "op", id, op }));
}

// ------------------------------------------------------------------ messages

function handle(message) {
  switch (message.t) {
    case "welcome":
      store.me = message;
      store.names.set(message.person, message.name);
      break;
    case "snapshot":
      store.loadSnapshot(message);
      view.render();
      facilitation.update();
      break;
    case "ops":
      onOps(message.ops);
      break;
    case "synced": {
      syncing = false;
      if (missedWhileSyncing || message.seq > store.seq) {
        missedWhileSyncing = false;
        requestSync();
      }
      const wasOnline = synced;
      synced = true;
      retry = 0;
      root.setAttribute("aria-busy", "false");
      if (!wasOnline) {
        // Edits made while offline go now, with their original ids: the server applies each once.
        resendPending();
        if (view.ui.editing) send({ t: "presence", editing: view.ui.editing.id });
      }
      setStatus("online");
      if (!wasOnline) roundBanner.refresh();
      break;
    }
    case "round":
      roundBanner.update(message);
      break;
    case "ack":
      onAck(message);
      break;
    case "error":
      onError(message);
      break;
    case "presence":
      store.setPresence(message.people);
      renderPresence();
      view.schedule();
      break;
    case "presence.changed":
      store.presenceChanged(message);
      if (message.state === "joined" && !store.isMe(message.person)) announcer.remote(t("joined", { name: message.name }), false, { minor: true });
      if (message.state === "left" && !store.isMe(message.person)) announcer.remote(t("left", { name: message.name }), false, { minor: true });
      renderPresence();
      view.schedule();
      break;
    case "resync":
      requestSync();
      resendPending();
      break;
    case "votes":
      // Our own votes, sent to every tab of ours: hidden votes name no one in the events.
      if (store.loadOwnVotes(message)) {
        view.schedule();
        facilitation.update();
      }
      break;
    default:
      break;
  }
}

function onOps(events) {
  const changes = [];
  for (const event of events) {
    if (event.seq <= store.seq) continue;
    if (event.seq > store.seq + 1) {
      requestSync();
      break;
    }
    const before = event.type === "item.deleted" ? store.items.get(event.data.id) : null;
    const change = store.apply(event);
    if (before) change.item = before;
    change.mine = store.isMe(event.actor) && Boolean(event.actor);
    change.name = event.actor ? store.nameOf(event.actor) || t("former") : t("former");
    changes.push(change);
  }
  if (!changes.length) return;
  view.schedule();
  for (const change of changes) {
    if (change.type === "board.changed") facilitation.update(change);
    else if (!change.mine) {
      if (change.item && change.type !== "item.deleted") view.fresh.add(change.item.parent || change.item.id);
      announceChange(change);
    }
  }
  if (changes.some((c) => c.type === "vote.changed")) facilitation.update();
}

function concernsMe(item) {
  if (!item || !store.me) return false;
  if (store.isMe(item.author)) return true;
  const parent = item.parent ? store.items.get(item.parent) : null;
  return Boolean(parent && store.isMe(parent.author));
}

function announceChange(change) {
  const item = change.item;
  if (!item) return;
  const name = change.name;
  const current = view.view || store.view();
  const what = describe(item);
  let text = null;
  switch (change.type) {
    case "item.created":
      if (item.type === "comment") {
        text = t("commented", { name, what: describe(store.items.get(item.parent)), text: shorten(item.fields.text, 80) });
      } else if (isContent(item)) {
        const where = whereOf(item, current);
        text = where ? t("added_in", { name, what, where }) : t("added", { name, what });
      } else {
        text = t("added_column", { name, what });
      }
      break;
    case "item.restored":
      text = t("restored", { name, what });
      break;
    case "item.updated":
      if ("emotion" in change.data.fields && item.type === "stage") {
        const e = change.data.fields.emotion;
        text = t("emotion_changed", { name, what, emotion: e === null ? t("emotion_unset") : t(emotionWord(e)) });
      } else {
        text = t("edited", { name, what });
      }
      break;
    case "item.moved":
      text = t("moved_to", { name, what, where: whereOf(item, current) || t("cards_title") });
      break;
    case "item.deleted":
      text = t("deleted", { name, what });
      break;
    case "reaction.changed":
      if (change.data.on && concernsMe(item)) text = t("reacted", { name, what, emoji: change.data.emoji });
      break;
    default:
      break;
  }
  if (text) announcer.remote(text, concernsMe(item) || concernsMe(change.before));
}

function emotionWord(value) {
  return { 2: "emotion_very_good", 1: "emotion_good", 0: "emotion_neutral", "-1": "emotion_bad", "-2": "emotion_very_bad" }[String(value)];
}

function onAck(message) {
  const entry = store.pending.get(message.op);
  store.pending.delete(message.op);
  acks.set(message.op, message.seq);
  if (entry) {
    if (message.replaced && message.replaced.length) {
      const by = message.replaced[0].by;
      const name = by ? store.nameOf(by) || t("former") : t("former");
      showNotice(t("replaced", { name }), () => submit({ type: "undo", seq: message.seq }));
    }
    if (undoWhenAcked.delete(message.op)) submit({ type: "undo", seq: message.seq });
  }
  updateQueue();
  view.schedule();
}

function onError(message) {
  const entry = message.op ? store.pending.get(message.op) : null;
  if (message.op) store.pending.delete(message.op);
  undoWhenAcked.delete(message.op);
  if (entry && message.code === "rate_limited") {
    // Not applied: send it again in a moment, with the same id.
    store.pending.set(message.op, entry);
    setTimeout(() => send({ t: "op", id: message.op, op: entry.op }), 1000);
    return;
  }
  if (entry && entry.op.type === "board.set" && (message.code === "unknown_type" || message.code === "bad_message")) {
    facilitation.unsupported();
    showNotice(t("facilitate_unsupported"));
  } else if (entry || !message.op) {
    const key = `error.${message.code}`;
    showNotice(key in S ? t(key) : t("error.generic"));
  }
  if (entry && entry.op.type === "item.delete") view.localDeletes.delete(entry.op.id);
  updateQueue();
  view.schedule();
}

// ------------------------------------------------------------------ presence and notices

function renderPresence() {
  const people = [...store.people.values()].sort((a, b) => a.name.localeCompare(b.name, "fi"));
  presenceList.replaceChildren(...people.map((p) => {
    const li = document.createElement("li");
    const item = p.editing ? (view.view?.items.get(p.editing) || store.items.get(p.editing)) : null;
    const name = store.isMe(p.person) ? t("name_you", { name: p.name }) : p.name;
    const role = S[`role_${p.role}`] ? ` (${t(`role_${p.role}`)})` : "";
    li.textContent = item ? t("presence_editing", { name: name + role, what: describe(item) }) : name + role;
    return li;
  }));
}

let noticeUndoAction = null;
function showNotice(text, undo = null) {
  noticeText.textContent = text;
  noticeUndoAction = undo;
  noticeUndo.hidden = !undo;
  noticeClose.hidden = false;
  notice.classList.remove("is-empty");
}
function hideNotice() {
  noticeText.textContent = "";
  noticeUndo.hidden = true;
  noticeClose.hidden = true;
  notice.classList.add("is-empty");
}
noticeUndo.addEventListener("click", () => {
  const action = noticeUndoAction;
  noticeUndoAction = null;
  action?.();
  showNotice(t("undone"));
  noticeClose.focus();
});
noticeClose.addEventListener("click", hideNotice);
hideNotice();
notice.hidden = false;

// The shortcuts help: a modal dialog, so focus stays in it and Escape closes it.
const shortcuts = document.getElementById("shortcuts");
const shortcutsOpen = document.getElementById("shortcuts-open");
shortcutsOpen.addEventListener("click", () => shortcuts.showModal());
shortcuts.addEventListener("close", () => shortcutsOpen.focus());
root.addEventListener("keydown", (e) => {
  if (e.key === "?" && !e.target.closest("form, input, textarea, select")) {
    e.preventDefault();
    shortcuts.showModal();
  }
});

const verbosity = document.getElementById("verbosity");
verbosity.value = announcer.level;
verbosity.addEventListener("change", () => announcer.setLevel(verbosity.value));

// For the browser tests and for curious developers: the replica and the view.
window.kumppaniBoard = {
  store, view, announcer,
  get synced() {
    return synced;
  },
};
loadPending();
connect();

// The status bar stays at the top of wide screens: keep focused elements from hiding under it.
const bar = document.getElementById("board-bar");
function padForBar() {
  const sticky = getComputedStyle(bar).position === "sticky";
  document.documentElement.style.scrollPaddingTop = sticky ? `${bar.offsetHeight + 8}px` : "";
}
new ResizeObserver(padForBar).observe(bar);
window.addEventListener("resize", padForBar);
