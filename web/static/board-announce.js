// One polite live region for what happens on the board. Announcements are batched: at most
// one every three seconds, so a busy workshop does not drown a screen reader. The person picks
// how much they hear: every change, changes to their own cards, or none (kept in this browser).
// Announcements never move focus or scroll.

const KEY = "kumppani.verbosity";
const GAP = 3000;
const LEVELS = ["all", "mine", "off"];

export class Announcer {
  constructor(region, t) {
    this.region = region;
    this.t = t;
    this.queue = [];
    this.timer = null;
    this.last = 0;
    let saved = null;
    try {
      saved = localStorage.getItem(KEY);
    } catch {
      saved = null;
    }
    this.level = LEVELS.includes(saved) ? saved : "all";
  }

  setLevel(level) {
    if (!LEVELS.includes(level)) return;
    this.level = level;
    try {
      localStorage.setItem(KEY, level);
    } catch {
      // private mode: the choice lasts for this page only
    }
  }

  /** A change someone else made; `concernsMe` when it touches this person's own items. */
  remote(text, concernsMe, { minor = false } = {}) {
    if (this.level === "off" || (this.level === "mine" && !concernsMe)) return;
    this.queue.push({ text, priority: false, minor });
    this.wake();
  }

  /** Something the person needs to hear whatever the setting (their focus moved, the timer). */
  say(text) {
    if (!text) return;
    this.queue.push({ text, priority: true });
    this.wake();
  }

  wake() {
    if (this.timer) return;
    const wait = Math.max(250, this.last + GAP - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  flush() {
    this.timer = null;
    if (!this.queue.length) return;
    const entries = this.queue;
    this.queue = [];
    // What concerns the person's own focus is always said in full; a burst of others' changes
    // is summed up in one sentence that names the latest.
    const urgent = entries.filter((e) => e.priority).map((e) => e.text);
    // Comings and goings are told only when little else happens.
    const quiet = entries.length <= 2;
    const others = entries.filter((e) => !e.priority && (quiet || !e.minor)).map((e) => e.text);
    const summary = others.length > 2
      ? [this.t("many_changes_last", { count: others.length, last: others[others.length - 1] })]
      : others;
    const text = [...urgent, ...summary].join(" ");
    // Clear first so that the same sentence twice is still read.
    this.region.textContent = "";
    setTimeout(() => {
      this.region.textContent = text;
    }, 50);
    this.last = Date.now();
    this.timer = setTimeout(() => this.flush(), GAP);
  }
}
