// The coach's dashboard, live: the server sends the teams that changed (counts only) and the
// row of each is rewritten in place. Changes are announced politely, at most one every few
// seconds, naming the teams; focus never moves.

const section = document.getElementById("dashboard");
const strings = JSON.parse(document.getElementById("dashboard-strings").textContent);
const status = document.getElementById("dashboard-status");
const roundId = section.dataset.round;
const GAP = 3000;
let pending = new Set();
let timer = null;
let retry = 1000;

function shown(field, value) {
  if (field === "phase") return strings.phase[value] || value;
  if (field === "last_activity") return value ? value.replace("T", " ").slice(0, 16) : strings.never;
  if (field === "latest_update") return value || strings.no_update;
  return String(value ?? 0);
}

function announce() {
  timer = null;
  if (!pending.size) return;
  status.textContent = strings.changed.replace("{teams}", [...pending].join(", "));
  pending = new Set();
}

function apply(team) {
  const row = section.querySelector(`tr[data-team="${CSS.escape(team.team)}"]`);
  if (!row) return false;
  let changed = false;
  for (const cell of row.querySelectorAll("td[data-field]")) {
    const text = shown(cell.dataset.field, team[cell.dataset.field]);
    if (cell.textContent !== text) {
      cell.textContent = text;
      changed = true;
    }
  }
  return changed;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/rounds/${roundId}/dashboard`);
  ws.addEventListener("open", () => {
    retry = 1000;
    section.dataset.live = "yes";
  });
  ws.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.t !== "dashboard") return;
    for (const team of frame.teams) {
      if (apply(team) && !frame.full) pending.add(team.name);
    }
    if (pending.size && timer === null) timer = setTimeout(announce, status.textContent ? GAP : 0);
  });
  ws.addEventListener("close", (event) => {
    section.dataset.live = "no";
    if (event.code === 4404 || event.code === 4401) {
      status.textContent = strings.offline;
      return;
    }
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 30000);
  });
}

connect();
