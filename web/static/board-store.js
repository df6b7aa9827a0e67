// The board replica: the last snapshot plus every event applied in sequence order
// (docs/protocol.md §7), and the edits of this browser that the server has not yet
// acknowledged, laid over it so that the view shows them at once, online or not.

import { byOrder, COLUMN_TYPES, isContent } from "./board-model.js";

export class Store {
  constructor() {
    this.seq = 0;
    this.items = new Map();
    this.board = {};
    this.me = null;
    this.people = new Map(); // person -> presence entry
    this.names = new Map(); // person -> display name, remembered after they leave
    this.authors = {}; // person -> name or null (anonymised), from the snapshot
    this.votes = { mine: {}, totals: {}, used: 0 };
    this.votesSeq = 0;
    this.reactions = new Map(); // item -> Map(emoji -> Set(person))
    this.pending = new Map(); // op id -> { op, epoch }
    this.epoch = 0; // snapshots loaded so far
    this.clockOffset = 0; // server time minus local time, from event times
    this.loaded = false;
  }

  // ------------------------------------------------------------ loading and events

  loadSnapshot(message) {
    this.seq = message.seq;
    this.items = new Map(message.items.map((i) => [i.id, i]));
    this.board = { ...message.board };
    this.authors = { ...(message.authors || {}) };
    for (const [person, name] of Object.entries(this.authors)) if (name) this.names.set(person, name);
    const votes = message.votes || {};
    this.votes = { mine: { ...(votes.mine || {}) }, totals: { ...(votes.totals || {}) }, used: votes.used || 0 };
    this.votesSeq = message.seq;
    this.reactions = new Map();
    for (const r of message.reactions || []) this.toggleReaction(r.id, r.person, r.emoji, true);
    this.epoch += 1;
    this.loaded = true;
  }

  /** Apply one event; returns what changed, for announcements: {type, item, before, actor}. */
  apply(event) {
    const d = event.data || {};
    const change = { type: event.type, actor: event.actor, item: null, before: null, data: d };
    if (event.at) this.clockOffset = Date.parse(event.at) - Date.now();
    switch (event.type) {
      case "item.created":
      case "item.restored":
        this.items.set(d.item.id, d.item);
        change.item = d.item;
        break;
      case "item.updated": {
        const item = this.items.get(d.id);
        if (!item) break;
        change.before = { ...item, fields: { ...item.fields } };
        const fields = { ...item.fields };
        for (const [k, v] of Object.entries(d.fields || {})) {
          if (v === null) delete fields[k];
          else fields[k] = v;
        }
        const updated = { ...item, fields, version: d.version, seq: event.seq };
        this.items.set(d.id, updated);
        change.item = updated;
        break;
      }
      case "item.moved": {
        const item = this.items.get(d.id);
        if (!item) break;
        change.before = item;
        const moved = { ...item, stage: d.stage, lane: d.lane, order: d.order, version: d.version, seq: event.seq };
        this.items.set(d.id, moved);
        change.item = moved;
        break;
      }
      case "item.deleted": {
        const item = this.items.get(d.id);
        change.item = item || null;
        this.items.delete(d.id);
        break;
      }
      case "vote.changed":
        change.item = this.items.get(d.id) || null;
        if (!d.hidden) {
          if (d.total !== undefined) this.votes.totals[d.id] = d.total;
          if (this.me && d.person === this.me.person && d.count !== undefined) this.setMine(d.id, d.count);
        }
        break;
      case "reaction.changed":
        change.item = this.items.get(d.id) || null;
        this.toggleReaction(d.id, d.person, d.emoji, d.on);
        break;
      case "board.changed":
        this.applyBoard(d);
        break;
      case "author.anonymised":
        for (const [id, item] of this.items) if (item.author === d.person) this.items.set(id, { ...item, author: null });
        this.authors[d.person] = null;
        break;
      default:
        break; // redacted and unknown events only advance seq
    }
    this.seq = event.seq;
    return change;
  }

  applyBoard(d) {
    for (const key of ["title", "locked", "votes_revealed", "timer_ends_at", "archived"]) {
      if (key in d) this.board[key] = d[key];
    }
    if ("votes_revealed" in d && !d.votes_revealed) this.votes.totals = {};
    if (d.totals) this.votes.totals = { ...d.totals };
  }

  /** A `votes` frame: all our own votes as of its seq; an older one than we have changes nothing. */
  loadOwnVotes(message) {
    if (message.seq < (this.votesSeq || 0)) return false;
    this.votesSeq = message.seq;
    this.votes.mine = { ...message.mine };
    this.votes.used = message.used;
    return true;
  }

  setMine(id, count) {
    const before = this.votes.mine[id] || 0;
    if (count > 0) this.votes.mine[id] = count;
    else delete this.votes.mine[id];
    this.votes.used = Math.max(0, this.votes.used + count - before);
  }

  toggleReaction(id, person, emoji, on) {
    let byEmoji = this.reactions.get(id);
    if (!byEmoji) this.reactions.set(id, (byEmoji = new Map()));
    let people = byEmoji.get(emoji);
    if (!people) byEmoji.set(emoji, (people = new Set()));
    if (on) people.add(person);
    else people.delete(person);
    if (!people.size) byEmoji.delete(emoji);
  }

  // ------------------------------------------------------------ people

  setPresence(people) {
    this.people = new Map(people.map((p) => [p.person, p]));
    for (const p of people) this.names.set(p.person, p.name);
  }

  presenceChanged(message) {
    this.names.set(message.person, message.name);
    if (message.state === "left") this.people.delete(message.person);
    else this.people.set(message.person, { person: message.person, name: message.name, role: message.role, editing: message.editing });
  }

  /** A person's name, or null when it cannot be known (someone who has left the team). */
  nameOf(person) {
    if (!person) return null;
    if (person in this.authors && this.authors[person] === null) return null;
    return this.names.get(person) || this.authors[person] || null;
  }

  isMe(person) {
    return Boolean(this.me && person === this.me.person);
  }

  // ------------------------------------------------------------ the view: replica + pending edits

  /** Items as this person should see them now: acknowledged state with their unsent edits on top. */
  view() {
    const items = new Map(this.items);
    const placed = []; // pending creates and moves, in the order they were made
    for (const [opId, { op }] of this.pending) {
      switch (op.type) {
        case "item.create":
          if (!items.has(op.id)) {
            items.set(op.id, {
              id: op.id, type: op.item_type, fields: { ...(op.fields || {}) }, stage: op.stage ?? null, lane: op.lane ?? null,
              parent: op.parent ?? null, order: "\uffff", author: this.me?.person ?? null, version: 0, seq: 0, pending: opId,
            });
            placed.push(op);
          }
          break;
        case "item.update": {
          const item = items.get(op.id);
          if (!item) break;
          const fields = { ...item.fields };
          for (const [k, v] of Object.entries(op.fields)) {
            if (v === null) delete fields[k];
            else fields[k] = v;
          }
          items.set(op.id, { ...item, fields, pending: opId });
          break;
        }
        case "item.move": {
          const item = items.get(op.id);
          if (!item) break;
          items.set(op.id, { ...item, stage: op.stage ?? null, lane: op.lane ?? null, pending: opId });
          placed.push(op);
          break;
        }
        case "item.delete":
          items.delete(op.id);
          break;
        default:
          break;
      }
    }
    return new BoardView(items, placed, this);
  }
}

/** One consistent reading of the board for one render. */
export class BoardView {
  constructor(items, placed, store) {
    this.items = items;
    this.store = store;
    this.placed = placed;
    const all = [...items.values()];
    this.columns = all.filter((i) => COLUMN_TYPES.includes(i.type)).sort(byOrder);
    this.lanes = all.filter((i) => i.type === "lane").sort(byOrder);
    const columnIds = new Set(this.columns.map((c) => c.id));
    const laneIds = new Set(this.lanes.map((l) => l.id));
    this.cells = new Map(); // "stage|lane" -> items
    this.loose = []; // content whose column is gone: shown at the end, never lost
    this.children = new Map(); // parent -> comments
    for (const item of all) {
      if (item.parent) {
        if (!this.children.has(item.parent)) this.children.set(item.parent, []);
        this.children.get(item.parent).push(item);
        continue;
      }
      if (!isContent(item)) continue;
      const stage = item.stage && columnIds.has(item.stage) ? item.stage : null;
      const lane = item.lane && laneIds.has(item.lane) ? item.lane : null;
      if (!stage && this.columns.length) {
        this.loose.push(item);
        continue;
      }
      const key = cellKey(stage, lane);
      if (!this.cells.has(key)) this.cells.set(key, []);
      this.cells.get(key).push(item);
    }
    for (const list of this.cells.values()) list.sort(byOrder);
    for (const list of this.children.values()) list.sort(byOrder);
    this.loose.sort(byOrder);
    // Unsent creates and moves go where the person put them.
    for (const op of placed) {
      const item = items.get(op.id);
      if (!item || item.parent) continue;
      const list = this.cells.get(cellKey(item.stage, item.lane));
      if (!list) continue;
      const at = list.findIndex((i) => i.id === op.id);
      if (at < 0) continue;
      list.splice(at, 1);
      const after = op.after ? list.findIndex((i) => i.id === op.after) : -1;
      const before = op.before ? list.findIndex((i) => i.id === op.before) : -1;
      if (after >= 0) list.splice(after + 1, 0, item);
      else if (before >= 0) list.splice(before, 0, item);
      else list.push(item);
    }
  }

  cell(stage, lane) {
    return this.cells.get(cellKey(stage, lane)) || [];
  }

  comments(id) {
    return this.children.get(id) || [];
  }

  where(item) {
    // The cell an item is shown in (columns and lanes that no longer exist count as none).
    const stage = this.columns.some((c) => c.id === item.stage) ? item.stage : null;
    const lane = this.lanes.some((l) => l.id === item.lane) ? item.lane : null;
    return { stage, lane };
  }
}

export function cellKey(stage, lane) {
  return `${stage || "-"}|${lane || "-"}`;
}
