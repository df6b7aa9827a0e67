// The facilitator's controls (lock, reveal votes, timer, rename) and what everyone sees of them:
// the lock banner, the votes left, and the running timer. The timer's text updates every
// second but is not a live region; it is announced only when it starts, at one minute left
// and when time is up.

export class Facilitation {
  constructor({ store, t, announcer, submit, perms }) {
    this.store = store;
    this.t = t;
    this.announcer = announcer;
    this.submit = submit;
    this.perms = perms;
    this.timerEl = document.getElementById("timer");
    this.lockEl = document.getElementById("lock-state");
    this.votesEl = document.getElementById("votes-left");
    this.panel = document.getElementById("facilitate");
    this.lockButton = document.getElementById("lock-toggle");
    this.revealButton = document.getElementById("reveal-toggle");
    this.timerForm = document.getElementById("timer-form");
    this.timerStop = document.getElementById("timer-stop");
    this.timerStart = document.getElementById("timer-start");
    this.renameForm = document.getElementById("rename-form");
    this.ticker = null;
    this.endsAt = null; // local clock
    this.endsIso = null;
    this.warned = false;
    this.supported = true;
    this.wire();
  }

  wire() {
    this.lockButton?.addEventListener("click", () => this.set({ locked: !this.store.board.locked }));
    this.revealButton?.addEventListener("click", () => this.set({ votes_revealed: !this.store.board.votes_revealed }));
    this.timerForm?.addEventListener("submit", (e) => {
      e.preventDefault();
      const input = document.getElementById("timer-minutes");
      const minutes = Math.round(Number(input.value));
      if (!Number.isFinite(minutes) || minutes < 1 || minutes > 240) {
        input.setAttribute("aria-invalid", "true");
        input.focus();
        return;
      }
      input.removeAttribute("aria-invalid");
      this.set({ timer_seconds: minutes * 60 });
    });
    this.timerStop?.addEventListener("click", () => this.set({ timer_seconds: 0 }));
    this.renameForm?.addEventListener("submit", (e) => {
      e.preventDefault();
      const input = document.getElementById("rename-title");
      const title = input.value.replace(/\s+/g, " ").trim();
      if (!title || title === this.store.board.title) return;
      this.set({ title });
    });
  }

  set(fields) {
    if (!this.supported) return;
    this.submit({ type: "board.set", ...fields });
  }

  /** The server does not know board.set yet: hide the controls and say so, once. */
  unsupported() {
    if (!this.supported) return;
    this.supported = false;
    for (const node of [this.lockButton, this.revealButton, this.timerForm, this.renameForm]) if (node) node.hidden = true;
    const note = document.getElementById("facilitate-unsupported");
    if (note) note.hidden = false;
  }

  /** Bring everything in line with the board's state; `change` is a board.changed event when there is one. */
  update(change = null) {
    const board = this.store.board;
    const t = this.t;
    if (this.lockButton) this.lockButton.textContent = board.locked ? t("unlock") : t("lock");
    if (this.revealButton) this.revealButton.textContent = board.votes_revealed ? t("hide_votes") : t("reveal_votes");
    this.lockEl.hidden = !board.locked;
    const budget = board.vote_budget ?? 0;
    this.votesEl.hidden = !(budget > 0 && this.perms.edit);
    this.votesEl.textContent = t("votes_left", { left: Math.max(0, budget - this.store.votes.used), budget });
    if (board.title) {
      const h1 = document.getElementById("board-title");
      if (h1 && h1.textContent !== board.title) {
        h1.textContent = board.title;
        document.title = document.title.replace(/^.*? – /, `${board.title} – `);
      }
      const input = document.getElementById("rename-title");
      if (input && document.activeElement !== input) input.value = board.title;
    }
    if (change) this.announceChange(change);
    this.setTimer(board.timer_ends_at || null, change);
  }

  announceChange(change) {
    const t = this.t;
    const d = change.data;
    const who = change.name;
    if ("locked" in d) this.announcer.say(t(d.locked ? "locked_by" : "unlocked_by", { name: who }));
    if ("votes_revealed" in d) this.announcer.say(t(d.votes_revealed ? "votes_revealed" : "votes_hidden"));
    if ("title" in d && !change.mine) this.announcer.remote(t("renamed", { name: who, title: d.title }), false);
  }

  setTimer(endsAtIso, change) {
    const t = this.t;
    const explicit = Boolean(change && "timer_ends_at" in change.data);
    const ends = endsAtIso ? Date.parse(endsAtIso) - this.store.clockOffset : null;
    const running = ends !== null && ends > Date.now();
    const wasRunning = this.endsAt !== null;
    if (explicit && running) {
      this.warned = ends - Date.now() <= 60_000;
      const minutes = Math.max(1, Math.round((ends - Date.now()) / 60_000));
      this.announcer.say(t("timer_started", { name: change.name, minutes }));
    } else if (explicit && wasRunning) {
      this.announcer.say(t("timer_stopped", { name: change.name }));
    } else if (running && !wasRunning) {
      this.warned = ends - Date.now() <= 60_000; // joined while it runs: nothing to say now
    }
    if (!explicit && (endsAtIso || null) === this.endsIso) return;
    this.endsIso = endsAtIso || null;
    this.endsAt = running ? ends : null;
    if (this.timerStop) this.timerStop.hidden = !running;
    if (this.timerStart) this.timerStart.textContent = running ? t("timer_restart") : t("timer_start");
    clearInterval(this.ticker);
    this.ticker = null;
    if (running) {
      this.ticker = setInterval(() => this.tick(), 1000);
      this.tick();
    } else if (explicit || !this.timerEl.dataset.ended) {
      this.timerEl.hidden = true;
      delete this.timerEl.dataset.ended;
    }
  }

  tick() {
    const t = this.t;
    if (this.endsAt === null) return;
    const left = Math.max(0, Math.round((this.endsAt - Date.now()) / 1000));
    this.timerEl.hidden = false;
    if (left <= 0) {
      clearInterval(this.ticker);
      this.ticker = null;
      this.endsAt = null;
      this.timerEl.textContent = t("timer_done");
      this.timerEl.dataset.ended = "true";
      this.timerEl.classList.add("timer-done");
      if (this.timerStop) this.timerStop.hidden = true;
      if (this.timerStart) this.timerStart.textContent = t("timer_start");
      this.announcer.say(t("timer_done"));
      return;
    }
    this.timerEl.classList.remove("timer-done");
    delete this.timerEl.dataset.ended;
    this.timerEl.textContent = t("timer_left", { time: duration(t, left) });
    if (!this.warned && left <= 60) {
      this.warned = true;
      this.announcer.say(t("timer_one_minute"));
    }
  }
}

// A length of time in words a person reads aloud ("2 min 30 s"), never a clock reading ("2.30").
export function duration(t, totalSeconds) {
  const total = Math.max(0, Math.round(totalSeconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const parts = [];
  if (hours) parts.push(t("duration_hours", { count: hours }));
  if (minutes) parts.push(t("duration_minutes", { count: minutes }));
  if (seconds && !hours) parts.push(t("duration_seconds", { count: seconds }));
  return parts.length ? parts.join(" ") : t("duration_seconds", { count: 0 });
}
