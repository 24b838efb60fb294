// Labeling page: keyboard first. Number/letter keys pick choices, Enter submits, S skips,
// U undoes, D opens/closes the visual dictionary, ? shows help. On a project with box groups
// the box editor (boxes.js) is asked first for the keys it uses. The task (#task) is replaced by htmx after each action.
(function () {
  let shownAt = performance.now();
  let timer = null;

  const $ = (selector) => document.querySelector(selector);
  const typing = (el) => el && (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type === "text") || el.tagName === "SELECT");

  function startTask() {
    shownAt = performance.now();
    const task = $("#task");
    const label = $("#lease-timer");
    clearInterval(timer);
    if (!task || !label || !task.dataset.leaseUntil) { if (label) label.textContent = ""; return; }
    const until = Date.parse(task.dataset.leaseUntil);
    const tick = () => {
      const left = Math.round((until - Date.now()) / 1000);
      if (left > 0) {
        label.textContent = "Reserved for you for " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      } else {
        label.textContent = "Your reservation ran out: submitting still works unless someone else took this image.";
        clearInterval(timer);
      }
    };
    tick();
    timer = setInterval(tick, 1000);
  }

  function pick(key) {
    const choice = document.querySelector('#label-form .choice[data-key="' + CSS.escape(key) + '"] input');
    if (!choice) return false;
    choice.checked = choice.type === "radio" ? true : !choice.checked;
    return true;
  }

  function submitLabels() {
    const form = $("#label-form");
    if (!form) return;
    form.querySelector("[name=time_spent_ms]").value = String(Math.round(performance.now() - shownAt));
    htmx.trigger(form, "submit");
  }

  function openSkip() {
    const form = $("#skip-form");
    if (!form) return;
    form.hidden = false;
    form.querySelector("input[name=reason]").focus();
  }

  function closeOverlays() {
    const skip = $("#skip-form");
    if (skip) skip.hidden = true;
    $("#help").hidden = true;
    if (document.activeElement) document.activeElement.blur();
  }

  function toggleDictionary() {
    // Any entry open: close them all; none open: open them all (and bring the pane into view).
    const entries = [...document.querySelectorAll("#dictionary-pane .dict-entry")];
    const open = !entries.some((entry) => entry.open);
    entries.forEach((entry) => { entry.open = open; });
    const pane = $("#dictionary-pane");
    if (open && pane) pane.scrollIntoView({ block: "nearest" });
  }

  // The box editor of the task on screen (boxes.js), if the project draws boxes.
  const boxEditor = () => (window.PortalBoxes ? window.PortalBoxes.current() : null);

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    const boxes = boxEditor();
    if (key === "Escape") { if (boxes) boxes.escape(); closeOverlays(); return; }
    if (typing(event.target)) return; // the skip reason box handles its own Enter
    if (key === "?") { $("#help").hidden = !$("#help").hidden; event.preventDefault(); return; }
    if (key === "Enter") { event.preventDefault(); submitLabels(); return; }
    const lower = key.toLowerCase();
    // U: the last box edit first; with none left since the image loaded, the last submission.
    if (lower === "u") {
      event.preventDefault();
      if (boxes && boxes.undo()) return;
      const undo = $("#undo-button");
      if (undo) undo.click();
      return;
    }
    // On a box page the editor takes Tab, arrows, Delete, zoom keys, Space and the keys of
    // box concepts (the concept of the next box); whole-image choices keep their own keys.
    if (boxes && boxes.handleKey(event)) { event.preventDefault(); return; }
    if (lower === "s") { event.preventDefault(); openSkip(); return; }
    if (lower === "d") { event.preventDefault(); toggleDictionary(); return; }
    if (key.length === 1 && pick(lower)) event.preventDefault();
  });

  document.addEventListener("submit", (event) => {
    // A mouse click on Submit: record the time spent too.
    if (event.target.id === "label-form") {
      event.target.querySelector("[name=time_spent_ms]").value = String(Math.round(performance.now() - shownAt));
    }
  }, true);

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-open-help]")) $("#help").hidden = false;
    if (event.target.closest("[data-close-help]")) $("#help").hidden = true;
    if (event.target.closest("[data-open-skip]")) openSkip();
    if (event.target.closest("[data-close-skip]")) $("#skip-form").hidden = true;
  });

  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.target.id === "task" || event.detail.target?.id === "task" || $("#task")) startTask();
  });
  document.addEventListener("DOMContentLoaded", startTask);
})();
