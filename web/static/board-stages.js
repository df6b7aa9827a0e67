// Getting around a journey's stages. Wide screens show as many stages as fit, say which ones are
// in view and scroll to the others (buttons, or the stage picker); a phone shows one stage at a
// time, chosen with the same picker, so the journey reads stage by stage instead of as one long page.

import { el } from "./board-dom.js";
import { columnTitle } from "./board-forms.js";

const PHONE = "(max-width: 59.99rem)";

export class StageNav {
  constructor(view) {
    this.view = view;
    this.t = view.t;
    this.scroller = null;
    this.columns = [];
    this.phone = window.matchMedia(PHONE);
    this.phone.addEventListener("change", () => this.apply());
  }

  build(view) {
    const t = this.t;
    this.columns = view.columns;
    if (!this.columns.some((c) => c.id === this.view.stage)) this.view.stage = this.columns[0]?.id ?? null;
    this.select = el("select", { id: "stage-pick", "aria-describedby": "stage-cue" },
      ...this.columns.map((c, i) => el("option", { value: c.id, text: `${i + 1}. ${columnTitle(t, c)}` })));
    this.select.addEventListener("change", () => this.show(this.select.value, true));
    this.prev = el("button", { type: "button", class: "stage-step", "aria-label": t("stage_prev") },
      el("span", { "aria-hidden": "true", text: "‹" }));
    this.next = el("button", { type: "button", class: "stage-step", "aria-label": t("stage_next") },
      el("span", { "aria-hidden": "true", text: "›" }));
    this.prev.addEventListener("click", () => this.step(-1));
    this.next.addEventListener("click", () => this.step(1));
    this.cue = el("p", { id: "stage-cue", class: "stage-cue" });
    return el("nav", { class: "stage-nav", "aria-label": t("stage_nav") },
      el("label", { for: "stage-pick", text: t("stage_pick") }),
      el("span", { class: "stage-row" }, this.prev, this.select, this.next), this.cue);
  }

  attach(scroller) {
    this.scroller = scroller;
    scroller.addEventListener("scroll", () => this.updateCue(), { passive: true });
    new ResizeObserver(() => this.updateCue()).observe(scroller);
  }

  section(id) {
    return this.view.root.querySelector(`#col-${CSS.escape(id)}`);
  }

  /** Show a stage: on a phone the only one drawn, on a wide screen scrolled into view. */
  show(id, focus = false) {
    this.view.stage = id;
    this.apply();
    const section = this.section(id);
    if (!section) return;
    if (!this.phone.matches) section.scrollIntoView({ block: "nearest", inline: "start" });
    if (focus) section.focus({ preventScroll: !this.phone.matches });
    this.updateCue();
  }

  step(delta) {
    if (this.phone.matches) {
      const index = this.columns.findIndex((c) => c.id === this.view.stage);
      const next = this.columns[Math.min(Math.max(index + delta, 0), this.columns.length - 1)];
      if (next) this.show(next.id);
      return;
    }
    const first = this.scroller?.querySelector(".column");
    if (first) this.scroller.scrollBy({ left: delta * first.getBoundingClientRect().width, behavior: "smooth" });
  }

  /** A node about to get focus: on a phone, bring its stage into view first. */
  reveal(node) {
    const section = node.closest?.(".column.off-stage");
    if (section && section.id.startsWith("col-")) {
      this.view.stage = section.id.slice(4);
      this.apply();
    }
  }

  apply() {
    if (!this.select || !this.select.isConnected) return;
    const phone = this.phone.matches;
    for (const c of this.columns) this.section(c.id)?.classList.toggle("off-stage", phone && c.id !== this.view.stage);
    if (this.select.value !== this.view.stage) this.select.value = this.view.stage;
    this.updateCue();
  }

  visibleRange() {
    if (this.phone.matches || !this.scroller) {
      const index = this.columns.findIndex((c) => c.id === this.view.stage);
      return [index, index];
    }
    const box = this.scroller.getBoundingClientRect(); // a stage counts as in view when half of it is
    const seen = this.columns.map((c, i) => [i, this.section(c.id)?.getBoundingClientRect()])
      .filter(([, r]) => r && Math.min(r.right, box.right) - Math.max(r.left, box.left) >= r.width / 2).map(([i]) => i);
    return seen.length ? [seen[0], seen[seen.length - 1]] : [0, 0];
  }

  updateCue() {
    if (!this.cue || !this.columns.length) return;
    const [from, to] = this.visibleRange();
    const count = this.columns.length;
    const key = from === to ? "stage_cue_one" : "stage_cue_many";
    const text = this.t(key, { from: from + 1, to: to + 1, count });
    if (this.cue.textContent !== text) this.cue.textContent = text;
    this.prev.disabled = from <= 0;
    this.next.disabled = to >= count - 1;
    const scroller = this.scroller;
    if (scroller) {
      scroller.classList.toggle("more-left", !this.phone.matches && from > 0);
      scroller.classList.toggle("more-right", !this.phone.matches && to < count - 1);
    }
  }
}
