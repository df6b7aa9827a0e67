// The board drawn as HTML: a section per column (stage, theme or picture) with a heading, a
// group per lane, a list of cards in each. Read in document order it is the linear view:
// stage by stage, lane by lane. Wide screens lay the same elements out as a grid.
// Remote changes re-render in place: focus stays where the person left it, and nodes are reused
// so that the browser's scroll anchoring keeps what they look at where it was.

import {
  addableTypes, addFields, CURVE_TEMPLATES, editableFields, EMOTIONS, emotionKey, FIELDS, isContent,
  newColumnType, PERSONA_FIELDS, primaryText,
} from "./board-model.js";
import { cellKey } from "./board-store.js";
import { el, newId, reconcile, shorten, svg } from "./board-dom.js";
import { columnTitle, itemForm, placeForm } from "./board-forms.js";
import { StageNav } from "./board-stages.js";

export const REACTIONS = [
  ["👍", "reaction_thumbs"],
  ["❤️", "reaction_heart"],
  ["💡", "reaction_idea"],
  ["❓", "reaction_question"],
];
const SHOWN_FIELDS = { card: ["touchpoint", "critical", "emotion"], finding: [], idea: ["status", "cornerstone", "progress"], test: ["status", "result", "when", "progress"] };
const DETAIL_FIELDS = { idea: ["text"], test: ["what", "with_whom", "measure", "learned"] };

export class BoardView {
  constructor({ root, store, t, perms, template, actions, announcer, langs = {} }) {
    this.langs = langs;
    this.root = root;
    this.store = store;
    this.t = t;
    this.perms = perms;
    this.template = template;
    this.actions = actions;
    this.announcer = announcer;
    this.ui = { adding: null, editing: null, moving: null, placing: null, reacting: null, menu: null, addMenu: null, comments: new Set(), forms: new Map() };
    this.stage = null; // on a phone, the stage shown (the stage picker)
    this.structSig = null;
    this.lists = new Map();
    this.scheduled = false;
    this.localDeletes = new Set();
    this.fresh = new Set(); // items someone else just changed: drawn with a short highlight
    this.stageNav = new StageNav(this);
    root.addEventListener("keydown", (e) => this.onKeydown(e));
  }

  get editable() {
    return this.perms.edit && !this.store.board.locked && !this.store.board.archived;
  }

  get commentable() {
    return this.perms.comment && !this.store.board.locked && !this.store.board.archived;
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.render();
    });
  }

  // ------------------------------------------------------------------ rendering

  render() {
    if (!this.store.loaded) return; // "Loading…" stays until the first snapshot
    const view = this.store.view();
    this.view = view;
    const focus = this.captureFocus();
    // The element with focus is the person's anchor: whatever changes above it, it stays put on screen.
    const anchor = focus?.element;
    const anchorTop = anchor ? anchor.getBoundingClientRect().top : null;
    const pool = new Map();
    for (const li of this.root.querySelectorAll("li[data-key]")) pool.set(li.dataset.key, li);
    this.closeStaleForms(view);
    const sig = this.structureSignature(view);
    if (sig !== this.structSig) {
      this.buildStructure(view);
      this.structSig = sig;
    }
    for (const [key, { list, stage, lane, column, laneItem }] of this.lists) {
      const items = key === "loose" ? view.loose : view.cell(stage, lane);
      reconcile(list, items.map((item, index) => this.entry(item, { column, lane: laneItem, index, count: items.length, view })), pool);
    }
    if (this.layout(view) === "lanes") this.stageNav.apply();
    this.restoreFocus(focus, view);
    if (anchorTop !== null && anchorTop >= 0 && anchorTop < window.innerHeight && document.activeElement === anchor) {
      const moved = anchor.getBoundingClientRect().top - anchorTop;
      if (Math.abs(moved) > 1) window.scrollBy(0, moved);
    }
  }

  closeStaleForms(view) {
    const gone = (id) => id && !view.items.has(id);
    const ui = this.ui;
    if (ui.editing && gone(ui.editing.id)) this.closeForm("edit", ui.editing.id, false);
    if (gone(ui.moving)) ui.moving = null;
    if (gone(ui.placing)) this.closeForm("place", ui.placing, false);
    if (gone(ui.reacting)) ui.reacting = null;
    if (gone(ui.menu)) ui.menu = null;
    for (const id of ui.comments) if (gone(id)) ui.comments.delete(id);
    if (!this.editable) {
      if (ui.adding) this.closeForm("add", ui.adding.key, false);
      if (ui.editing && ui.editing.id) this.closeForm("edit", ui.editing.id, false);
      ui.moving = null;
      if (ui.placing) this.closeForm("place", ui.placing, false);
    }
  }

  structureSignature(view) {
    return JSON.stringify([
      this.layout(view),
      view.columns.map((c) => [c.id, c.type, c.fields]),
      view.lanes.map((l) => [l.id, l.fields]),
      view.columns.map((c) => view.cell(c.id, null).length > 0),
      view.loose.length > 0,
      this.editable,
      this.commentable,
      this.ui.adding?.key ?? null,
      this.ui.addMenu,
      this.ui.editing && this.isStructural(this.ui.editing.id) ? this.ui.editing.id : null,
    ]);
  }

  isStructural(id) {
    const item = this.view?.items.get(id);
    return Boolean(item && !isContent(item) && item.type !== "comment");
  }

  layout(view) {
    if (!view.columns.length) return "list";
    return view.lanes.length ? "lanes" : "columns";
  }

  buildStructure(view) {
    const t = this.t;
    const layout = this.layout(view);
    this.lists = new Map();
    const parts = [];
    if (layout === "lanes" && view.columns.length > 1) parts.push(this.stageNav.build(view));
    else if (view.columns.length > 1) {
      parts.push(el("nav", { class: "jump", "aria-label": t("jump_label") },
        el("ul", {}, ...view.columns.map((c, i) => el("li", {}, el("a", { href: `#col-${c.id}`, text: `${i + 1}. ${columnTitle(t, c)}` }))))));
    }
    const grid = el("div", { class: `board-grid layout-${layout}` });
    const columns = Math.max(view.columns.length, 1);
    grid.style.setProperty("--columns", String(columns)); // CSSOM: allowed under our CSP
    const other = view.columns.some((c) => view.cell(c.id, null).length > 0);
    grid.style.setProperty("--rows", String(1 + view.lanes.length + (other && view.lanes.length ? 1 : 0)));
    if (CURVE_TEMPLATES.has(this.template) && view.columns.some((c) => c.type === "stage")) grid.append(this.buildCurve(view));
    if (layout === "list") {
      const heading = t(this.template === "persona" ? "personas_title" : "cards_title");
      const section = el("section", { class: "column", id: "col-all", "aria-labelledby": "col-all-title", tabindex: "-1" },
        el("div", { class: "column-head" }, el("h2", { id: "col-all-title", text: heading })));
      if (view.lanes.length) for (const lane of view.lanes) section.append(this.buildCell(view, null, lane));
      section.append(this.buildCell(view, null, null, { labelled: "col-all-title" }));
      grid.append(section);
    }
    view.columns.forEach((column, index) => grid.append(this.buildColumn(view, column, index, other)));
    parts.push(el("div", { class: "board-scroll" }, grid));
    if (view.loose.length) {
      const section = el("section", { class: "column loose", "aria-labelledby": "col-loose-title" },
        el("h2", { id: "col-loose-title", text: t("loose_title") }),
        el("p", { class: "help", text: t("loose_help") }));
      const list = el("ul", { class: "cards" });
      section.append(list);
      this.lists.set("loose", { list, stage: null, lane: null, column: null, laneItem: null });
      parts.push(section);
    }
    const columnType = newColumnType(this.template);
    if (columnType && this.editable) parts.push(this.buildAddColumn(columnType));
    this.root.replaceChildren(...parts);
    if (layout === "lanes") this.stageNav.attach(grid.parentElement);
  }

  buildColumn(view, column, index, other) {
    const t = this.t;
    const titleId = `col-${column.id}-title`;
    const head = el("div", { class: "column-head" });
    if (column.type === "picture") {
      // A shipped picture by its name (web/static/pictures/), or a symbol the team typed. The heading
      // below names it, so the image itself is decorative.
      const picture = column.fields.picture || "";
      if (/^[a-z0-9_-]{2,40}$/.test(picture)) {
        const img = el("img", { src: `/static/pictures/${picture}.svg`, alt: "", class: "picture", width: "120", height: "90" });
        img.addEventListener("error", () => img.remove());
        head.append(img);
      } else if (picture) head.append(el("span", { class: "picture-symbol", "aria-hidden": "true", text: picture }));
    }
    head.append(el("h2", { id: titleId }, el("span", { class: "col-number", text: `${index + 1}. ` }), columnTitle(t, column)));
    const description = column.fields.description || column.fields.text || column.fields.why;
    if (description) head.append(el("p", { class: "column-text", text: description }));
    if (column.type === "stage" && CURVE_TEMPLATES.has(this.template)) head.append(this.buildEmotion(column));
    if (this.editable && newColumnType(this.template) === column.type) head.append(this.columnActions(column));
    if (this.editable && view.lanes.length) head.append(this.addMenu(view, column));
    if (this.ui.editing?.id === column.id) head.append(this.editForm(column, null));
    const section = el("section", { class: `column type-${column.type}`, id: `col-${column.id}`, "aria-labelledby": titleId, tabindex: "-1" }, head);
    if (view.lanes.length) {
      for (const lane of view.lanes) section.append(this.buildCell(view, column, lane));
      if (other) section.append(this.buildCell(view, column, null, { otherRow: true }));
    } else {
      section.append(this.buildCell(view, column, null, { labelled: titleId }));
    }
    return section;
  }

  buildEmotion(column) {
    const t = this.t;
    const value = column.fields.emotion;
    const id = `emotion-${column.id}`;
    if (!this.editable) {
      return el("p", { class: "emotion-text" }, `${t("emotion_label")}: `,
        el("strong", { text: value === undefined ? t("emotion_unset") : t(emotionKey(value)) }));
    }
    const select = el("select", { id, "data-focus-key": `col:${column.id}:emotion` });
    select.append(el("option", { value: "", text: t("emotion_unset") }));
    for (const n of EMOTIONS) select.append(el("option", { value: String(n), selected: value === n, text: t(emotionKey(n)) }));
    select.addEventListener("change", () => {
      const next = select.value === "" ? null : Number(select.value);
      this.actions.submit({ type: "item.update", id: column.id, fields: { emotion: next }, base: column.seq });
    });
    return el("p", { class: "field emotion-field" }, el("label", { for: id, text: t("emotion_label") }), select);
  }

  // Keyboard users add a card to any row of a stage from this one menu; pointer users also get a
  // button in the cell they point at (out of the tab order, so a stage is not six tab stops).
  addMenu(view, column) {
    const t = this.t;
    const type = addableTypes(this.template)[0];
    const open = this.ui.addMenu === column.id;
    const stage = columnTitle(t, column);
    const wrap = el("div", { class: "add-menu" }, el("button", {
      type: "button", class: "add", "data-focus-key": `addmenu:${column.id}`, "aria-expanded": String(open),
      "aria-controls": open ? `addmenu-${column.id}` : null, "aria-label": t("add_in", { what: t(`add.${type}`), where: stage }),
      onclick: () => this.toggleAddMenu(column.id),
    }, `+ ${t(`add.${type}`)}`));
    if (!open) return wrap;
    const list = el("ul", { class: "add-menu-list" });
    const group = el("div", { id: `addmenu-${column.id}`, role: "group", "aria-label": t("add_in", { what: t(`add.${type}`), where: stage }) }, list);
    for (const lane of view.lanes) {
      const where = `${stage}, ${lane.fields.title}`;
      const formKey = `${cellKey(column.id, lane.id)}:${type}`;
      list.append(el("li", {}, el("button", { type: "button", "data-focus-key": `addto:${formKey}`, onclick: () => {
        this.ui.addMenu = null;
        this.openForm("add", formKey, { stage: column.id, lane: lane.id, type, where });
      } }, lane.fields.title)));
    }
    group.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        this.toggleAddMenu(column.id);
      }
    });
    wrap.append(group);
    return wrap;
  }

  toggleAddMenu(id) {
    const opening = this.ui.addMenu !== id;
    this.ui.addMenu = opening ? id : null;
    this.render();
    if (opening) this.root.querySelector(`#addmenu-${CSS.escape(id)} button`)?.focus();
    else this.focusKey(`addmenu:${id}`);
  }

  columnActions(column) {
    const t = this.t;
    const name = columnTitle(t, column);
    return el("p", { class: "column-actions" },
      el("button", { type: "button", "data-focus-key": `col:${column.id}:edit`, "aria-label": t("edit_column_named", { what: name }),
        onclick: () => this.openForm("edit", column.id) }, t("edit")),
      el("button", { type: "button", "data-focus-key": `col:${column.id}:delete`, "aria-label": t("delete_column_named", { what: name }),
        onclick: () => this.actions.deleteItem(column) }, t("delete")));
  }

  buildCurve(view) {
    const t = this.t;
    const stages = view.columns;
    const width = stages.length * 100;
    const y = (e) => 50 - e * 20;
    const chart = svg("svg", {
      viewBox: `0 0 ${width} 100`, preserveAspectRatio: "none", role: "img", class: "curve-svg",
      "aria-labelledby": "curve-title", "aria-describedby": "curve-list", focusable: "false",
    });
    chart.append(svg("rect", { x: 0, y: 0, width, height: 50, class: "curve-good" }));
    chart.append(svg("rect", { x: 0, y: 50, width, height: 50, class: "curve-bad" }));
    chart.append(svg("line", { x1: 0, y1: 50, x2: width, y2: 50, class: "curve-zero", "vector-effect": "non-scaling-stroke" }));
    let path = "";
    let open = false;
    stages.forEach((stage, i) => {
      const e = stage.fields.emotion;
      if (typeof e !== "number") {
        open = false;
        return;
      }
      path += `${open ? "L" : "M"} ${i * 100 + 50} ${y(e)} `;
      open = true;
    });
    if (path) chart.append(svg("path", { d: path, class: "curve-line", "vector-effect": "non-scaling-stroke" }));
    stages.forEach((stage, i) => {
      const e = stage.fields.emotion;
      if (typeof e === "number") {
        chart.append(svg("path", { d: `M ${i * 100 + 50} ${y(e)} h 0`, class: "curve-dot", "vector-effect": "non-scaling-stroke" }));
      }
    });
    const list = el("ol", { id: "curve-list", class: "curve-list" }, ...stages.map((stage) => {
      const e = stage.fields.emotion;
      return el("li", {}, el("span", { class: "curve-stage", text: `${columnTitle(t, stage)}: ` }),
        el("strong", { text: typeof e === "number" ? t(emotionKey(e)) : t("emotion_unset") }));
    }));
    return el("figure", { class: "curve" },
      el("figcaption", {}, el("h2", { id: "curve-title", text: t("curve_title") }), el("p", { class: "help", text: t("curve_help") })),
      el("div", { class: "curve-chart" },
        el("span", { class: "curve-axis curve-axis-good", "aria-hidden": "true", text: t("curve_good") }),
        chart,
        el("span", { class: "curve-axis curve-axis-bad", "aria-hidden": "true", text: t("curve_bad") })),
      list);
  }

  buildCell(view, column, lane, { labelled = null, otherRow = false } = {}) {
    const t = this.t;
    const key = cellKey(column?.id ?? null, lane?.id ?? null);
    const headingId = `cell-${key.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    const where = [column ? columnTitle(t, column) : null, lane ? lane.fields.title : otherRow ? t("other_row") : null].filter(Boolean).join(", ");
    const cell = el("div", { class: `cell lane-${lane?.fields.kind ?? "none"}`, role: "group" });
    if (lane || otherRow) {
      cell.append(el("h3", { id: headingId, text: lane ? lane.fields.title : t("other_row") }));
      cell.setAttribute("aria-labelledby", headingId);
    } else if (labelled) {
      cell.setAttribute("aria-labelledby", labelled);
    }
    const list = el("ul", { class: "cards" });
    cell.append(list);
    this.lists.set(key, { list, stage: column?.id ?? null, lane: lane?.id ?? null, column, laneItem: lane });
    if (this.editable && !otherRow) {
      const pointerOnly = Boolean(column && lane);
      const buttons = el("p", { class: pointerOnly ? "add-buttons add-hover" : "add-buttons" });
      for (const type of addableTypes(this.template)) {
        const formKey = `${key}:${type}`;
        buttons.append(el("button", {
          type: "button", class: "add", "data-focus-key": `add:${formKey}`, "aria-expanded": String(this.ui.adding?.key === formKey),
          tabindex: pointerOnly ? "-1" : null,
          "aria-label": where ? t("add_in", { what: t(`add.${type}`), where }) : null,
          onclick: () => this.openForm("add", formKey, { stage: column?.id ?? null, lane: lane?.id ?? null, type, where }),
        }, t(`add.${type}`)));
      }
      cell.append(buttons);
      if (this.ui.adding && this.ui.adding.key.startsWith(`${key}:`)) cell.append(this.addForm(this.ui.adding));
    }
    return cell;
  }

  buildAddColumn(type) {
    const t = this.t;
    const key = `column:${type}`;
    const wrap = el("div", { class: "add-column" },
      el("button", { type: "button", class: "add", "data-focus-key": `add:${key}`, "aria-expanded": String(this.ui.adding?.key === key),
        onclick: () => this.openForm("add", key, { stage: null, lane: null, type, where: "" }) }, t(`add.${type}`)));
    if (this.ui.adding?.key === key) wrap.append(this.addForm(this.ui.adding));
    return wrap;
  }

  // ------------------------------------------------------------------ items

  entry(item, ctx) {
    const store = this.store;
    const ui = this.ui;
    const comments = ctx.view.comments(item.id);
    const editor = this.editorOf(item.id);
    const open = [ui.editing?.id === item.id ? ui.editing.field || "all" : "", ui.moving === item.id, ui.placing === item.id,
      ui.reacting === item.id, ui.comments.has(item.id), ui.menu === item.id];
    const moving = ui.moving === item.id ? [ctx.index, ctx.count, ctx.column?.id, ctx.lane?.id, ctx.view.columns.length, ctx.view.lanes.length] : null;
    const reactions = this.reactionSummary(item.id);
    const sig = JSON.stringify([
      item.version, item.fields, item.stage, item.lane, Boolean(item.pending), item.author, store.nameOf(item.author),
      editor?.name ?? null, store.votes.mine[item.id] || 0, store.votes.totals[item.id] ?? null, store.board.votes_revealed,
      reactions, comments.map((c) => [c.id, c.version, c.fields.text, c.author, store.nameOf(c.author), Boolean(c.pending), editorNameOf(store, c.id)]),
      open, moving, this.editable, this.commentable, ctx.lane?.fields.kind ?? null, store.board.vote_budget ?? 0,
    ]);
    return { key: item.id, sig, build: () => this.buildItem(item, ctx, comments, editor, reactions) };
  }

  editorOf(id) {
    for (const p of this.store.people.values()) if (p.editing === id && !this.store.isMe(p.person)) return p;
    return null;
  }

  reactionSummary(id) {
    const byEmoji = this.store.reactions.get(id);
    if (!byEmoji) return [];
    return REACTIONS.map(([emoji]) => [emoji, byEmoji.get(emoji)?.size || 0, Boolean(this.store.me && byEmoji.get(emoji)?.has(this.store.me.person))])
      .filter(([, n]) => n > 0);
  }

  // The author's language where it is not the page's (undefined leaves the attribute out).
  langOf(person) {
    return (person && this.langs[person]) || undefined;
  }

  authorText(person) {
    if (!person) return this.t("former");
    const name = this.store.nameOf(person);
    if (!name) return this.t("former");
    return this.store.isMe(person) ? this.t("name_you", { name }) : name;
  }

  buildItem(item, ctx, comments, editor, reactions) {
    const t = this.t;
    const textId = `it-${item.id}`;
    const colour = item.fields.colour;
    const article = el("article", {
      class: `card type-${item.type}${colour ? ` colour-${colour}` : ""}${item.fields.key ? " is-key" : ""}${item.pending ? " is-pending" : ""}`,
      "aria-labelledby": textId,
    });
    if (item.type === "persona") this.personaBody(article, item, ctx, textId);
    else this.cardBody(article, item, textId);
    const meta = el("p", { class: "card-meta" }, t("by", { name: this.authorText(item.author) }));
    if (item.pending) meta.append(" · ", el("span", { class: "pending", text: t("pending") }));
    article.append(meta);
    if (editor) article.append(el("p", { class: "editing-now", text: t("is_editing", { name: editor.name }) }));
    const budget = this.store.board.vote_budget ?? 0;
    const mine = this.store.votes.mine[item.id] || 0;
    const total = this.store.votes.totals[item.id];
    if (budget > 0 && (mine || (this.store.board.votes_revealed && total))) {
      const parts = [];
      if (mine) parts.push(t("votes_mine", { count: mine }));
      if (this.store.board.votes_revealed) parts.push(t("votes_total", { count: total || 0 }));
      article.append(el("p", { class: "votes-line", text: parts.join(" · ") }));
    }
    if (reactions.length) {
      const line = el("p", { class: "reactions-line" }, el("span", { class: "visually-hidden", text: `${t("reactions")}: ` }));
      reactions.forEach(([emoji, count], i) => {
        if (i) line.append(" ");
        const label = REACTIONS.find(([e]) => e === emoji)[1];
        line.append(el("span", { class: "reaction" }, el("span", { "aria-hidden": "true", text: emoji }),
          el("span", { class: "visually-hidden", text: t(label) }), ` ${count}`));
      });
      article.append(line);
    }
    article.append(this.itemActions(item, ctx, comments));
    if (this.ui.editing?.id === item.id && !this.ui.editing.field) article.append(this.editForm(item, ctx.lane));
    if (this.ui.moving === item.id) article.append(this.moveMenu(item, ctx));
    if (this.ui.placing === item.id) article.append(this.placeFormFor(item));
    if (this.ui.reacting === item.id) article.append(this.reactionPicker(item));
    if (this.ui.comments.has(item.id)) article.append(this.commentsPanel(item, comments));
    return el("li", { class: this.fresh.delete(item.id) ? "item fresh" : "item" }, article);
  }

  cardBody(article, item, textId) {
    const t = this.t;
    const primary = primaryText(item);
    if (item.type === "question") {
      article.append(el("p", { class: "card-kind", text: t("type.question") }));
    } else if (item.type === "test") {
      article.append(el("p", { class: "card-kind", text: t("type.test") }));
    }
    article.append(el("p", { class: item.type === "idea" ? "card-text card-title" : "card-text", id: textId, text: primary || t("empty_card"),
      lang: primary ? this.langOf(item.author) : undefined }));
    const tags = [];
    if (item.fields.key) tags.push(t(item.type === "finding" ? "key_finding" : "key_card"));
    for (const name of SHOWN_FIELDS[item.type] || []) {
      const value = item.fields[name];
      if (value === undefined || value === null) continue;
      const shown = FIELDS[item.type][name] === "emotion" ? t(emotionKey(value)) : FIELDS[item.type][name] === "choice" ? t(`choice.${name}.${value}`) : value;
      tags.push(`${t(`field.${name}`)}: ${shown}`);
    }
    if (item.fields.colour) tags.push(`${t("field.colour")}: ${t(`choice.colour.${item.fields.colour}`)}`);
    if (item.type === "test" && item.fields.idea_ref) {
      const idea = this.view?.items.get(item.fields.idea_ref);
      if (idea) tags.push(`${t("field.idea_ref")}: ${shorten(idea.fields.title, 40)}`);
    }
    if (tags.length) article.append(el("p", { class: "card-tags", text: tags.join(" · ") }));
    const details = (DETAIL_FIELDS[item.type] || []).filter((name) => item.fields[name]);
    if (details.length) {
      const dl = el("dl", { class: "card-fields" });
      for (const name of details) dl.append(el("dt", { text: t(`field.${name}`) }), el("dd", { text: item.fields[name] }));
      article.append(dl);
    }
  }

  personaBody(article, item, ctx, textId) {
    const t = this.t;
    const head = el("div", { class: "persona-head" });
    if (item.fields.avatar) head.append(el("span", { class: "avatar", "aria-hidden": "true", text: item.fields.avatar }));
    head.append(el(ctx.lane ? "h4" : "h3", { id: textId, class: "persona-name", text: item.fields.name || t("untitled"),
      lang: item.fields.name ? this.langOf(item.author) : undefined }));
    article.append(head);
    if (this.editable) article.append(el("div", { class: "persona-name-edit" }, this.personaFieldEdit(item, "name", t("edit_name"))));
    const dl = el("dl", { class: "persona-fields" });
    for (const name of ["avatar", "segment", ...PERSONA_FIELDS]) {
      const value = item.fields[name];
      const empty = value === undefined || value === null || value === "";
      const shown = empty ? null : name === "segment" ? `${value} – ${t(`choice.segment.${value}`)}` : String(value);
      const dd = el("dd", {}, empty ? el("span", { class: "muted", text: t("not_written") }) : el("span", { class: "field-value", text: shown,
        lang: name === "segment" ? undefined : this.langOf(item.author) }));
      if (this.editable) dd.append(" ", this.personaFieldEdit(item, name, t("edit")));
      dl.append(el("dt", { text: t(`field.${name}`) }), dd);
    }
    article.append(dl);
  }

  personaFieldEdit(item, name, text) {
    const t = this.t;
    if (this.ui.editing?.id === item.id && this.ui.editing.field === name) return this.editForm(item, null, name);
    const label = name === "name"
      ? t("edit_name_named", { what: item.fields.name || "" })
      : t("edit_field_named", { field: t(`field.${name}`), what: item.fields.name || "" });
    return el("button", {
      type: "button", class: "small", "data-focus-key": `${item.id}:field:${name}`, "aria-label": label,
      onclick: () => this.openForm("edit", item.id, { field: name }),
    }, text);
  }

  // A card is one tab stop: its "Actions" button. The actions open below it (a disclosure, so
  // they stay ordinary buttons) and stay open while one of them is in use; Escape closes them.
  itemActions(item, ctx, comments) {
    const t = this.t;
    const what = shorten(primaryText(item), 40) || t("empty_card");
    const open = this.ui.menu === item.id;
    const groupId = `actions-${item.id}`;
    const toggle = el("button", {
      type: "button", class: "card-menu", "data-focus-key": `${item.id}:menu`, "aria-expanded": String(open),
      "aria-controls": open ? groupId : null, "aria-label": t("actions_named", { what }), "aria-keyshortcuts": "E M Delete V C R",
      onclick: () => this.toggleMenu(item.id),
    }, el("span", { "aria-hidden": "true", class: "card-menu-icon", text: "⋯" }), " ", t("actions"));
    const wrap = el("div", { class: "card-actions-wrap" }, toggle);
    if (!open) return wrap;
    const actions = this.actionButtons(item, comments, what);
    actions.id = groupId;
    actions.setAttribute("role", "group");
    actions.setAttribute("aria-label", t("actions_named", { what }));
    actions.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        this.toggleMenu(item.id);
      }
    });
    wrap.append(actions);
    return wrap;
  }

  toggleMenu(id, focusFirst = true) {
    const opening = this.ui.menu !== id;
    this.ui.menu = opening ? id : null;
    this.render();
    if (opening && focusFirst) this.root.querySelector(`li[data-key="${CSS.escape(id)}"] .card-actions button`)?.focus();
    else if (!opening) this.focusKey(`${id}:menu`);
  }

  actionButtons(item, comments, what) {
    const t = this.t;
    const actions = el("div", { class: "card-actions" });
    const button = (action, text, label, onclick, extra = {}) => el("button", {
      type: "button", "data-focus-key": `${item.id}:${action}`, "aria-label": label, onclick, ...extra,
    }, text);
    if (this.editable && item.type !== "persona") {
      actions.append(button("edit", t("edit"), t("edit_named", { what }), () => this.openForm("edit", item.id)));
    }
    if (this.editable) {
      actions.append(button("move", t("move"), t("move_named", { what }), () => this.toggleMove(item.id), { "aria-expanded": String(this.ui.moving === item.id || this.ui.placing === item.id) }));
      actions.append(button("delete", t("delete"), t("delete_named", { what }), () => this.actions.deleteItem(item)));
      if ((this.store.board.vote_budget ?? 0) > 0) {
        actions.append(button("vote", t("vote"), t("vote_named", { what }), () => this.actions.vote(item, +1)));
        if (this.store.votes.mine[item.id]) actions.append(button("unvote", t("unvote"), t("unvote_named", { what }), () => this.actions.vote(item, -1)));
      }
    }
    if (this.perms.comment || comments.length) {
      actions.append(button("comments", t("comments_count", { count: comments.length }), t("comments_named", { what, count: comments.length }),
        () => this.toggleComments(item.id), { "aria-expanded": String(this.ui.comments.has(item.id)) }));
    }
    if (this.commentable) {
      actions.append(button("react", t("react"), t("react_named", { what }), () => this.toggleReact(item.id), { "aria-expanded": String(this.ui.reacting === item.id) }));
    }
    return actions;
  }

  moveMenu(item, ctx) {
    const t = this.t;
    const view = ctx.view;
    const { stage, lane } = view.where(item);
    const cell = view.cell(stage, lane);
    const index = cell.findIndex((i) => i.id === item.id);
    const colIndex = view.columns.findIndex((c) => c.id === stage);
    const laneIndex = view.lanes.findIndex((l) => l.id === lane);
    const options = [];
    if (index > 0) options.push(["up", t("move_up"), { stage, lane, before: cell[index - 1].id, after: cell[index - 2]?.id }]);
    if (index >= 0 && index < cell.length - 1) options.push(["down", t("move_down"), { stage, lane, after: cell[index + 1].id, before: cell[index + 2]?.id }]);
    if (colIndex > 0) options.push(["prev-col", t("move_prev_col", { name: columnTitle(t, view.columns[colIndex - 1]) }), { stage: view.columns[colIndex - 1].id, lane }]);
    if (colIndex >= 0 && colIndex < view.columns.length - 1) options.push(["next-col", t("move_next_col", { name: columnTitle(t, view.columns[colIndex + 1]) }), { stage: view.columns[colIndex + 1].id, lane }]);
    if (laneIndex > 0) options.push(["prev-lane", t("move_prev_lane", { name: view.lanes[laneIndex - 1].fields.title }), { stage, lane: view.lanes[laneIndex - 1].id }]);
    if (laneIndex >= 0 && laneIndex < view.lanes.length - 1) options.push(["next-lane", t("move_next_lane", { name: view.lanes[laneIndex + 1].fields.title }), { stage, lane: view.lanes[laneIndex + 1].id }]);
    const what = shorten(primaryText(item), 40) || t("empty_card");
    const close = () => {
      this.ui.moving = null;
      this.render();
      this.focusKey(`${item.id}:move`);
    };
    const menu = el("div", { class: "move-menu", role: "group", "aria-label": t("move_named", { what }) });
    const list = el("ul", {});
    for (const [name, text, target] of options) {
      list.append(el("li", {}, el("button", { type: "button", "data-move": name, onclick: () => {
        this.ui.moving = null;
        this.actions.move(item, target);
      } }, text)));
    }
    list.append(el("li", {}, el("button", { type: "button", "data-move": "choose", onclick: () => {
      this.ui.moving = null;
      this.openForm("place", item.id);
    } }, t("choose_place_open"))));
    list.append(el("li", {}, el("button", { type: "button", "data-move": "cancel", onclick: close }, t("cancel"))));
    menu.append(list);
    menu.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        close();
      }
    });
    return menu;
  }

  toggleMove(id) {
    const ui = this.ui;
    const opening = ui.moving !== id && ui.placing !== id;
    if (ui.placing) this.closeForm("place", ui.placing, false);
    ui.moving = opening ? id : null;
    this.render();
    if (opening) this.root.querySelector(`li[data-key="${CSS.escape(id)}"] .move-menu button`)?.focus();
    else this.focusKey(`${id}:move`);
  }

  toggleComments(id) {
    const ui = this.ui;
    if (ui.comments.has(id)) ui.comments.delete(id);
    else ui.comments.add(id);
    this.render();
    const opened = ui.comments.has(id);
    if (opened && this.commentable) this.root.querySelector(`li[data-key="${CSS.escape(id)}"] .comment-form textarea`)?.focus();
    else this.focusKey(`${id}:comments`);
  }

  toggleReact(id) {
    this.ui.reacting = this.ui.reacting === id ? null : id;
    this.render();
    if (this.ui.reacting) this.root.querySelector(`li[data-key="${CSS.escape(id)}"] .reaction-picker button`)?.focus();
    else this.focusKey(`${id}:react`);
  }

  reactionPicker(item) {
    const t = this.t;
    const mine = new Set(this.reactionSummary(item.id).filter(([, , m]) => m).map(([e]) => e));
    const picker = el("div", { class: "reaction-picker", role: "group", "aria-label": t("react_named", { what: shorten(primaryText(item), 40) }) });
    for (const [emoji, label] of REACTIONS) {
      picker.append(el("button", {
        type: "button", "aria-pressed": String(mine.has(emoji)), "data-focus-key": `${item.id}:reaction:${label}`,
        onclick: () => {
          this.actions.react(item, emoji, !mine.has(emoji));
          this.ui.reacting = null;
          this.render();
          this.focusKey(`${item.id}:react`);
        },
      }, el("span", { "aria-hidden": "true", text: emoji }), " ", t(label)));
    }
    picker.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        this.toggleReact(item.id);
      }
    });
    return picker;
  }

  commentsPanel(item, comments) {
    const t = this.t;
    const panel = el("section", { class: "comments", "aria-label": t("comments_named", { what: shorten(primaryText(item), 40), count: comments.length }) });
    const list = el("ul", { class: "comment-list" });
    if (!comments.length) list.append(el("li", { class: "muted", text: t("no_comments") }));
    for (const c of comments) {
      const li = el("li", {}, el("p", { class: "comment-text", text: c.fields.text || "", lang: c.fields.text ? this.langOf(c.author) : undefined }),
        el("p", { class: "card-meta" }, t("by", { name: this.authorText(c.author) }), c.pending ? ` · ${t("pending")}` : ""));
      if (this.commentable && this.store.isMe(c.author)) {
        li.append(el("button", {
          type: "button", class: "small", "data-focus-key": `${c.id}:delete`, "aria-label": t("delete_comment_named", { what: shorten(c.fields.text, 30) }),
          onclick: () => this.actions.deleteItem(c),
        }, t("delete")));
      }
      list.append(li);
    }
    panel.append(list);
    if (this.commentable) panel.append(this.commentForm(item));
    return panel;
  }

  commentForm(item) {
    const key = `comment:${item.id}`;
    let form = this.ui.forms.get(key);
    if (form) return form;
    const t = this.t;
    const id = `comment-${item.id}`;
    const textarea = el("textarea", { id, rows: "2", maxlength: "2000" });
    form = el("form", { class: "comment-form" },
      el("label", { for: id, text: t("comment_label") }), textarea,
      el("p", { class: "editor-actions" }, el("button", { type: "submit", class: "primary", text: t("comment_send") })));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = textarea.value.trim();
      if (!text) return;
      this.actions.submit({ type: "item.create", id: newId(), item_type: "comment", fields: { text }, parent: item.id });
      textarea.value = "";
      textarea.focus();
    });
    form.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        form.requestSubmit();
      } else if (e.key === "Escape") {
        e.preventDefault();
        this.toggleComments(item.id);
      }
    });
    this.ui.forms.set(key, form);
    return form;
  }

  // ------------------------------------------------------------------ forms

  openForm(kind, key, extra = {}) {
    // One form at a time: opening one closes another (comments panels excepted).
    const ui = this.ui;
    if (ui.adding) this.closeForm("add", ui.adding.key, false);
    if (ui.editing) this.closeForm("edit", ui.editing.id, false);
    if (ui.placing) this.closeForm("place", ui.placing, false);
    ui.moving = null;
    ui.reacting = null;
    if (kind === "add") ui.adding = { key, ...extra };
    else if (kind === "edit") {
      ui.editing = { id: key, field: extra.field || null };
      this.actions.setEditing(key);
    } else if (kind === "place") ui.placing = key;
    this.render();
    const form = this.ui.forms.get(`${kind}:${key}${kind === "edit" && extra.field ? `:${extra.field}` : ""}`);
    form?.focusFirst?.();
  }

  closeForm(kind, key, focusBack = true) {
    const ui = this.ui;
    let focus = null;
    if (kind === "add" && ui.adding?.key === key) {
      ui.forms.delete(`add:${key}`);
      ui.adding = null;
      focus = `add:${key}`;
    } else if (kind === "edit" && ui.editing?.id === key) {
      ui.forms.delete(`edit:${key}${ui.editing.field ? `:${ui.editing.field}` : ""}`);
      focus = ui.editing.field ? `${key}:field:${ui.editing.field}` : this.isStructural(key) ? `col:${key}:edit` : `${key}:edit`;
      ui.editing = null;
      this.actions.setEditing(null);
    } else if (kind === "place" && ui.placing === key) {
      ui.forms.delete(`place:${key}`);
      ui.placing = null;
      focus = `${key}:move`;
    }
    if (focusBack) {
      this.render();
      if (focus) this.focusKey(focus);
    }
  }

  addForm(adding) {
    const key = `add:${adding.key}`;
    let form = this.ui.forms.get(key);
    if (form) return form;
    const t = this.t;
    const names = addFields(adding.type);
    form = itemForm(t, {
      type: adding.type, names, kind: "add",
      legend: adding.where ? t("add_in", { what: t(`add.${adding.type}`), where: adding.where }) : t(`add.${adding.type}`),
      saveText: t("add_save"),
      onCancel: () => this.closeForm("add", adding.key),
      onSave: (fields) => {
        const op = { type: "item.create", id: newId(), item_type: adding.type, fields };
        const column = adding.stage ? this.view.items.get(adding.stage) : null;
        if (adding.type === "idea" && column?.fields.status) op.fields = { ...fields, status: column.fields.status };
        if (adding.stage) op.stage = adding.stage;
        if (adding.lane) op.lane = adding.lane;
        this.actions.created(op);
        form.reset();
        form.focusFirst();
      },
    });
    this.ui.forms.set(key, form);
    return form;
  }

  editForm(item, lane, field = null) {
    const key = `edit:${item.id}${field ? `:${field}` : ""}`;
    let form = this.ui.forms.get(key);
    if (form) return form;
    const t = this.t;
    const names = field ? [field] : editableFields(item, lane?.fields.kind);
    const what = shorten(primaryText(item), 40);
    const ideas = [...(this.view?.items.values() || [])].filter((i) => i.type === "idea");
    const base = item.seq;
    form = itemForm(t, {
      type: item.type, names, values: { ...item.fields }, board: { ideas },
      legend: field
        ? t("edit_field_named", { field: t(`field.${field}`), what })
        : t(isContent(item) ? "edit_named" : "edit_column_named", { what }),
      onCancel: () => this.closeForm("edit", item.id),
      onSave: (fields) => {
        if (Object.keys(fields).length) this.actions.submit({ type: "item.update", id: item.id, fields, base });
        this.closeForm("edit", item.id);
      },
    });
    this.ui.forms.set(key, form);
    return form;
  }

  placeFormFor(item) {
    const key = `place:${item.id}`;
    let form = this.ui.forms.get(key);
    if (form) return form;
    const t = this.t;
    form = placeForm(t, {
      item, view: this.view, columnNoun: t(`column_noun.${this.view.columns[0]?.type || "stage"}`),
      onCancel: () => this.closeForm("place", item.id),
      onMove: (target) => {
        this.closeForm("place", item.id, false);
        this.actions.move(item, target);
      },
    });
    this.ui.forms.set(key, form);
    return form;
  }

  // ------------------------------------------------------------------ focus

  focusKey(key) {
    const node = this.root.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    if (node) this.stageNav.reveal(node);
    if (node) node.focus();
    return Boolean(node);
  }

  captureFocus() {
    const active = document.activeElement;
    if (!active || active === document.body || !this.root.contains(active)) return null;
    const li = active.closest("li[data-key]");
    let card = null;
    if (li) {
      card = { id: li.dataset.key, prev: li.previousElementSibling?.dataset.key, next: li.nextElementSibling?.dataset.key, cell: li.closest(".cell") };
    }
    const selection = typeof active.selectionStart === "number" ? [active.selectionStart, active.selectionEnd, active.selectionDirection] : null;
    return { element: active, key: active.dataset.focusKey || null, selection, card };
  }

  restoreFocus(focus, view) {
    if (!focus || document.activeElement === focus.element) return;
    const again = (node) => {
      node.focus({ preventScroll: true });
      if (focus.selection && node === focus.element) {
        try {
          node.setSelectionRange(...focus.selection);
        } catch {
          // not a text control
        }
      }
    };
    if (focus.element.isConnected) return again(focus.element);
    if (focus.key) {
      const node = this.root.querySelector(`[data-focus-key="${CSS.escape(focus.key)}"]`);
      if (node) return again(node);
    }
    if (!focus.card || view.items.has(focus.card.id)) return;
    // The card that had focus was deleted: focus its neighbour, never the top of the page.
    const near = [focus.card.next, focus.card.prev]
      .map((id) => id && this.root.querySelector(`li[data-key="${CSS.escape(id)}"]`))
      .find((li) => li && li.querySelector("button"));
    let target = near ? near.querySelector("button") : null;
    if (!target) {
      const cellKeyOf = [...this.lists.entries()].find(([, v]) => v.list.closest(".cell") === focus.card.cell)?.[0];
      target = (cellKeyOf && this.root.querySelector(`[data-focus-key^="add:${CSS.escape(cellKeyOf)}"]`)) || null;
    }
    if (!target) target = focus.card.cell?.isConnected ? focus.card.cell.closest("section") : this.root.querySelector("section[tabindex]");
    if (target) target.focus({ preventScroll: true });
    if (this.localDeletes.has(focus.card.id)) return;
    this.announcer.say(near ? this.t("focus_moved") : this.t("focus_moved_cell"));
  }

  onKeydown(e) {
    if (this.onShortcut(e)) return;
    // Alt + arrow keys move the card that has focus: up and down in its list, left and right between columns.
    if (!e.altKey || !this.editable || !["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"].includes(e.key)) return;
    const li = e.target.closest?.("li[data-key]");
    if (!li || e.target.closest("form")) return;
    const view = this.view;
    const item = view?.items.get(li.dataset.key);
    if (!item || !isContent(item)) return;
    const { stage, lane } = view.where(item);
    const cell = view.cell(stage, lane);
    const index = cell.findIndex((i) => i.id === item.id);
    const col = view.columns.findIndex((c) => c.id === stage);
    let target = null;
    if (e.key === "ArrowUp" && index > 0) target = { stage, lane, before: cell[index - 1].id, after: cell[index - 2]?.id };
    if (e.key === "ArrowDown" && index < cell.length - 1) target = { stage, lane, after: cell[index + 1].id, before: cell[index + 2]?.id };
    if (e.key === "ArrowLeft" && col > 0) target = { stage: view.columns[col - 1].id, lane };
    if (e.key === "ArrowRight" && col >= 0 && col < view.columns.length - 1) target = { stage: view.columns[col + 1].id, lane };
    e.preventDefault();
    if (target) this.actions.move(item, target, e.target.dataset.focusKey);
  }
}

// Single-key shortcuts on a card's Actions button (listed in the help dialog): each opens the
// card's actions and presses the same button a pointer would.
const SHORTCUTS = { e: "edit", m: "move", Delete: "delete", v: "vote", c: "comments", r: "react" };

BoardView.prototype.onShortcut = function onShortcut(e) {
  if (e.altKey || e.ctrlKey || e.metaKey || !e.target.classList?.contains("card-menu")) return false;
  const action = SHORTCUTS[e.key.length === 1 ? e.key.toLowerCase() : e.key];
  const id = e.target.closest("li[data-key]")?.dataset.key;
  if (!action || !id) return false;
  e.preventDefault();
  if (this.ui.menu !== id) {
    this.ui.menu = id;
    this.render();
  }
  const button = this.root.querySelector(`[data-focus-key="${CSS.escape(`${id}:${action}`)}"]`);
  if (button) button.click();
  else this.focusKey(`${id}:menu`);
  return true;
};

function editorNameOf(store, id) {
  for (const p of store.people.values()) if (p.editing === id && !store.isMe(p.person)) return p.name;
  return null;
}
