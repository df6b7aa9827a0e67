// Forms of the board view: adding and editing items field by field, and choosing a place.
// Every control has a visible label; Escape cancels and puts focus back where it was.

import { choicesOf, EMOTIONS, emotionKey, FIELDS, REQUIRED } from "./board-model.js";
import { el, newId, shorten } from "./board-dom.js";

/** One labelled control for a field of an item type; returns {wrap, control, read()}. */
export function fieldControl(t, type, name, value, { board, autofocus = false, idPrefix = newId() } = {}) {
  const kind = (FIELDS[type] || {})[name] || "text";
  const id = `${idPrefix}-${name}`;
  const label = el("label", { for: id, text: t(`field.${name}`) });
  let control;
  let read;
  if (kind === "longtext") {
    control = el("textarea", { id, name, rows: "3", maxlength: "4000" });
    control.value = value ?? "";
    read = () => control.value.trim();
  } else if (kind === "choice") {
    control = el("select", { id, name });
    control.append(el("option", { value: "", text: t("choice_none") }));
    for (const choice of choicesOf(type, name)) {
      control.append(el("option", { value: choice, selected: value === choice, text: t(`choice.${name}.${choice}`) }));
    }
    read = () => control.value || null;
  } else if (kind === "emotion") {
    control = el("select", { id, name });
    control.append(el("option", { value: "", text: t("choice_none") }));
    for (const n of EMOTIONS) control.append(el("option", { value: String(n), selected: value === n, text: t(emotionKey(n)) }));
    read = () => (control.value === "" ? null : Number(control.value));
  } else if (kind === "bool") {
    control = el("input", { id, name, type: "checkbox", checked: Boolean(value) });
    read = () => control.checked || null;
    const wrap = el("p", { class: "field field-check" }, control, label);
    if (autofocus) queueMicrotask(() => control.focus());
    return { wrap, control, read, name };
  } else if (kind === "ref" && name === "idea_ref" && board) {
    control = el("select", { id, name });
    control.append(el("option", { value: "", text: t("choice_none") }));
    for (const idea of board.ideas) {
      control.append(el("option", { value: idea.id, selected: value === idea.id, text: shorten(idea.fields.title, 50) }));
    }
    read = () => control.value || null;
  } else {
    const max = kind === "emoji" ? "16" : "200";
    control = el("input", { id, name, maxlength: max, autocomplete: "off" });
    control.value = value ?? "";
    read = () => control.value.trim();
  }
  const wrap = el("p", { class: "field" }, label, control);
  return { wrap, control, read, name };
}

/**
 * A form for some fields of an item. `onSave(values)` gets only what the person filled in or
 * changed; `onCancel()` closes it. Ctrl+Enter saves from a text area.
 */
export function itemForm(t, { type, names, values = {}, legend, saveText, onSave, onCancel, board, kind = "edit" }) {
  const form = el("form", { class: `editor editor-${kind}`, "data-editing": "true", novalidate: true });
  const prefix = newId().slice(0, 12);
  const controls = names.map((name, i) => fieldControl(t, type, name, values[name], { board, idPrefix: prefix, autofocus: i === 0 }));
  const error = el("p", { class: "error", id: `${prefix}-error`, hidden: true });
  const fieldset = el("fieldset", {}, el("legend", { text: legend }), ...controls.map((c) => c.wrap), error);
  form.append(
    fieldset,
    el("p", { class: "editor-actions" },
      el("button", { type: "submit", class: "primary", text: saveText || t("save") }),
      el("button", { type: "button", text: t("cancel"), onclick: () => onCancel() })),
  );
  const required = REQUIRED[type] || [];
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const result = {};
    for (const c of controls) {
      const value = c.read();
      const before = values[c.name] ?? null;
      const empty = value === null || value === "";
      if ((required.includes(c.name) || (kind === "add" && c === controls[0])) && empty) {
        error.textContent = t("field_required", { field: t(`field.${c.name}`) });
        error.hidden = false;
        c.control.setAttribute("aria-invalid", "true");
        c.control.setAttribute("aria-describedby", error.id);
        c.control.focus();
        return;
      }
      if (kind === "add") {
        if (!empty) result[c.name] = value;
      } else if ((empty ? null : value) !== before) {
        result[c.name] = empty ? null : value;
      }
    }
    // The server takes "not taken forward" only together with its reason, so send both.
    if (result.progress === "not_taken_forward" && !("progress_reason" in result)) {
      result.progress_reason = values.progress_reason ?? null;
    }
    onSave(result, form);
  });
  form.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      onCancel();
    } else if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.tagName === "TEXTAREA") {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.focusFirst = () => controls[0]?.control.focus();
  form.reset = () => {
    for (const c of controls) {
      if (c.control.type === "checkbox") c.control.checked = false;
      else c.control.value = "";
      c.control.removeAttribute("aria-invalid");
    }
    error.hidden = true;
  };
  return form;
}

/** The full "choose a place" form: column, row and position, each a labelled select. */
export function placeForm(t, { item, view, columnNoun, onMove, onCancel }) {
  const prefix = newId().slice(0, 12);
  const form = el("form", { class: "editor mover", "data-editing": "true" });
  const { stage, lane } = view.where(item);
  const stageSel = el("select", { id: `${prefix}-stage` });
  for (const c of view.columns) stageSel.append(el("option", { value: c.id, selected: c.id === stage, text: columnTitle(t, c) }));
  const laneSel = el("select", { id: `${prefix}-lane` });
  for (const l of view.lanes) laneSel.append(el("option", { value: l.id, selected: l.id === lane, text: l.fields.title }));
  const posSel = el("select", { id: `${prefix}-pos` });
  const fill = () => {
    const cell = view.cell(stageSel.value || null, laneSel.value || null).filter((i) => i.id !== item.id);
    posSel.replaceChildren(el("option", { value: "", text: t("position_last") }));
    if (cell.length) posSel.append(el("option", { value: "first", text: t("position_first") }));
    for (const other of cell) posSel.append(el("option", { value: other.id, text: t("position_after", { what: shorten(other.fields.text || other.fields.title || other.fields.name || other.fields.hypothesis, 40) }) }));
  };
  stageSel.addEventListener("change", fill);
  laneSel.addEventListener("change", fill);
  fill();
  form.append(el("fieldset", {},
    el("legend", { text: t("choose_place") }),
    view.columns.length ? el("p", { class: "field" }, el("label", { for: stageSel.id, text: columnNoun }), stageSel) : null,
    view.lanes.length ? el("p", { class: "field" }, el("label", { for: laneSel.id, text: t("lane") }), laneSel) : null,
    el("p", { class: "field" }, el("label", { for: posSel.id, text: t("position") }), posSel)),
  el("p", { class: "editor-actions" },
    el("button", { type: "submit", class: "primary", text: t("move_here") }),
    el("button", { type: "button", text: t("cancel"), onclick: () => onCancel() })));
  form.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      onCancel();
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const target = { stage: view.columns.length ? stageSel.value : null, lane: view.lanes.length ? laneSel.value : null };
    const cell = view.cell(target.stage, target.lane).filter((i) => i.id !== item.id);
    if (posSel.value === "first") {
      if (cell[0]) target.before = cell[0].id;
    } else if (posSel.value) {
      const index = cell.findIndex((i) => i.id === posSel.value);
      target.after = posSel.value;
      if (cell[index + 1]) target.before = cell[index + 1].id;
    }
    onMove(target);
  });
  form.focusFirst = () => (view.columns.length ? stageSel : view.lanes.length ? laneSel : posSel).focus();
  return form;
}

export function columnTitle(t, column) {
  return column.fields.title || column.fields.picture || t("untitled");
}
