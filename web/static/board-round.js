// The coaching round on a team's board: the coach's timer, which every team's boards count down
// together (each page counts to the same end time), and the coach's announcement. Changes are
// read out politely in their own live region; focus never moves.

export class RoundBanner {
  constructor(t) {
    this.t = t;
    this.root = document.getElementById("round-banner");
    this.timerEl = document.getElementById("round-timer");
    this.textEl = document.getElementById("round-announcement");
    this.plenaryEl = document.getElementById("round-plenary");
    this.live = document.getElementById("round-live");
    this.roundId = this.root?.dataset.round || "";
    this.endsAt = null;
    this.ticker = null;
    this.announcedAt = null;
    this.timerState = "off";
    this.first = true;
  }

  /** Read the round's state afresh (after the board's socket connects): a change made meanwhile is not missed. */
  async refresh() {
    if (!this.roundId) return;
    try {
      const answer = await fetch(`/rounds/${encodeURIComponent(this.roundId)}/facilitation`, { credentials: "same-origin" });
      if (answer.ok) this.update(await answer.json());
    } catch {
      // offline: the next "round" frame brings the state
    }
  }

  say(text) {
    if (this.first || !this.live) return; // what was already on when the page opened is shown, not read out
    this.live.textContent = "";
    setTimeout(() => {
      this.live.textContent = text;
    }, 50);
  }

  update(state) {
    if (!this.root || state.round !== this.roundId) return;
    const t = this.t;
    const timerState = state.timer_ends_at ? "running" : state.timer_paused_seconds ? "paused" : "off";
    this.endsAt = state.timer_ends_at ? Date.parse(state.timer_ends_at) : null;
    clearInterval(this.ticker);
    this.ticker = null;
    if (timerState === "running") {
      this.tick();
      this.ticker = setInterval(() => this.tick(), 250);
    } else if (timerState === "paused") {
      this.timerEl.textContent = t("round_timer_paused", { time: this.format(state.timer_paused_seconds) });
      this.timerEl.dataset.left = String(state.timer_paused_seconds);
    } else {
      this.timerEl.textContent = "";
      delete this.timerEl.dataset.left;
    }
    this.timerEl.hidden = timerState === "off";
    if (timerState !== this.timerState) {
      if (timerState === "running") this.say(t("round_timer_started", { time: this.format(this.secondsLeft()) }));
      if (timerState === "paused") this.say(t("round_timer_paused", { time: this.format(state.timer_paused_seconds) }));
      if (timerState === "off" && this.timerState !== "ended") this.say(t("round_timer_stopped"));
      this.timerState = timerState;
    }
    if (state.announced_at !== this.announcedAt) {
      this.announcedAt = state.announced_at || null;
      this.textEl.textContent = state.announcement || "";
      this.textEl.hidden = !state.announcement;
      if (state.announcement) this.say(t("round_announcement", { text: state.announcement }));
    }
    if (this.plenaryEl) {
      const elsewhere = state.plenary && !location.pathname.endsWith(`/boards/${state.plenary}`);
      this.plenaryEl.hidden = !elsewhere;
      if (elsewhere) this.plenaryEl.querySelector("a").href = `/boards/${state.plenary}`;
    }
    this.root.hidden = timerState === "off" && !state.announcement && this.plenaryEl?.hidden !== false;
    this.first = false;
  }

  secondsLeft() {
    return this.endsAt === null ? 0 : Math.max(0, Math.ceil((this.endsAt - Date.now()) / 1000));
  }

  format(total) {
    const minutes = Math.floor(total / 60);
    return `${minutes}.${String(total % 60).padStart(2, "0")}`;
  }

  tick() {
    const left = this.secondsLeft();
    this.timerEl.dataset.left = String(left);
    if (left <= 0) {
      clearInterval(this.ticker);
      this.ticker = null;
      this.timerEl.textContent = this.t("round_timer_done");
      this.timerState = "ended";
      this.say(this.t("round_timer_done"));
      return;
    }
    this.timerEl.textContent = this.t("round_timer_left", { time: this.format(left) });
  }
}
