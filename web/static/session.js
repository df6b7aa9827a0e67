// Inactivity warning: two minutes before the server would end an idle session, an alertdialog
// offers "Continue". Focus moves into the dialog, stays there while it is open, and goes back
// where it was when it closes (WCAG 2.2.1).
const body = document.body;
const idleSeconds = Number(body.dataset.idleSeconds || 0);
const csrf = body.dataset.csrf;
const dialog = document.getElementById("timeout-dialog");
const button = document.getElementById("timeout-continue");
const signedOut = document.getElementById("timeout-signed-out");
const WARN_BEFORE = 120;
let warnTimer = null;
let endTimer = null;
let returnFocus = null;

function schedule(seconds) {
  clearTimeout(warnTimer);
  clearTimeout(endTimer);
  warnTimer = setTimeout(warn, Math.max(0, seconds - WARN_BEFORE) * 1000);
  endTimer = setTimeout(expired, seconds * 1000);
}

function warn() {
  returnFocus = document.activeElement;
  dialog.hidden = false;
  button.hidden = false;
  signedOut.hidden = true;
  button.focus();
}

function expired() {
  dialog.hidden = false;
  button.hidden = true;
  signedOut.hidden = false;
  signedOut.querySelector("a").focus();
}

async function extend() {
  let response;
  try {
    response = await fetch("/session/extend", { method: "POST", headers: { "X-CSRF-Token": csrf } });
  } catch {
    return; // offline: the dialog stays, the person can try again
  }
  if (!response.ok) {
    expired();
    return;
  }
  const data = await response.json();
  dialog.hidden = true;
  if (returnFocus && returnFocus.isConnected) returnFocus.focus();
  schedule(data.seconds_left);
}

function trapFocus(e) {
  // aria-modal: Tab and Shift+Tab stay inside the dialog while it is open.
  if (e.key !== "Tab" || dialog.hidden) return;
  const focusable = [...dialog.querySelectorAll("button, a[href]")].filter((n) => !n.closest("[hidden]"));
  if (!focusable.length) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (e.shiftKey && document.activeElement === first) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && document.activeElement === last) {
    e.preventDefault();
    first.focus();
  } else if (!dialog.contains(document.activeElement)) {
    e.preventDefault();
    first.focus();
  }
}

if (idleSeconds > 0 && dialog) {
  button.addEventListener("click", extend);
  dialog.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !button.hidden) extend();
  });
  document.addEventListener("keydown", trapFocus);
  schedule(idleSeconds);
  window.kumppaniSession = { warn, extend, schedule };
}
