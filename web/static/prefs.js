// Personal display preferences, kept in this browser only (localStorage, no cookie): large text.
// Loaded in <head> so that the page is drawn at the chosen size from the start.
(function () {
  "use strict";
  var KEY = "kumppani.largeText";
  var root = document.documentElement;
  var on = false;
  try {
    on = window.localStorage.getItem(KEY) === "1";
  } catch (e) {
    on = false;
  }
  root.classList.toggle("large-text", on);
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("large-text");
    if (!button) return;
    button.hidden = false;
    button.setAttribute("aria-pressed", String(on));
    button.addEventListener("click", function () {
      on = !on;
      root.classList.toggle("large-text", on);
      button.setAttribute("aria-pressed", String(on));
      try {
        window.localStorage.setItem(KEY, on ? "1" : "0");
      } catch (e) {
        // private mode: the choice lasts for this page only
      }
    });
  });
})();
