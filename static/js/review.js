// Review page, keyboard first: A approves, R rejects (reason, Enter), C corrects (keys pick
// labels, Enter saves), ? help, Esc closes. #review-item is replaced by htmx after each decision.
// The annotation's boxes are drawn and, while correcting, edited by ReviewBoxes
// (review_boxes.js): Tab or a click selects a box, arrows move it, Delete removes it, a drag
// draws one of the concept picked by its key.
(function () {
  const $ = (selector) => document.querySelector(selector);
  const typing = (el) => el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" || (el.tagName === "INPUT" && el.type === "text"));
  const openForm = () => document.querySelector("#reject-form:not([hidden]), #correct-form:not([hidden])");

  let boxes = null; // the ReviewBoxes editor of the annotation on screen

  function mountBoxes() {
    const svg = $("#review-boxes");
    const data = $("#review-boxes-data");
    if (!svg || !data || !window.ReviewBoxes) { boxes = null; return; }
    if (boxes && boxes.svg === svg) return;
    const field = $("#correct-regions");
    boxes = window.ReviewBoxes.create(svg, JSON.parse(data.textContent), {
      onChange(list) {
        // Sent only once changed: an untouched correction keeps the boxes exactly as stored.
        if (!field) return;
        field.value = JSON.stringify(list);
        field.disabled = false;
      },
    });
    boxes.svg = svg;
    const correcting = $("#correct-form");
    if (correcting && !correcting.hidden) boxes.setEditing(true);
  }

  function open(id) {
    document.querySelectorAll("#reject-form, #correct-form").forEach((f) => { f.hidden = f.id !== id; });
    const form = document.getElementById(id);
    if (!form) return;
    if (boxes) boxes.setEditing(id === "correct-form");
    const field = form.querySelector("input[type=text], select");
    if (field) field.focus(); else if (document.activeElement) document.activeElement.blur();
    if (id === "correct-form" && boxes) boxes.focusFirst();
  }

  function close() {
    document.querySelectorAll("#reject-form, #correct-form").forEach((f) => { f.hidden = true; });
    $("#help").hidden = true;
    if (boxes && boxes.editing()) {
      boxes.setEditing(false);
      boxes.reset(); // a cancelled correction leaves the boxes as they were
      const field = $("#correct-regions");
      if (field) field.disabled = true;
    }
    if (document.activeElement) document.activeElement.blur();
  }

  function afterSwap() {
    mountBoxes();
    // A refused decision comes back with its form open: carry on typing where it was.
    const reject = $("#reject-form");
    if (reject && !reject.hidden) { const field = $("#reject-reason"); if (field) field.focus(); }
  }

  mountBoxes();
  document.addEventListener("htmx:afterSettle", afterSwap);

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") { close(); return; }
    const form = openForm();
    if (event.key === "Enter" && form && !(event.target.tagName === "BUTTON")) {
      event.preventDefault();
      htmx.trigger(form, "submit");
      return;
    }
    if (typing(event.target)) return;
    const key = event.key.toLowerCase();
    if (form && form.id === "correct-form") {
      const choice = form.querySelector('.choice[data-key="' + CSS.escape(key) + '"] input');
      if (choice) { choice.checked = choice.type === "radio" ? true : !choice.checked; event.preventDefault(); return; }
      if (boxes && boxes.handleKey(event)) { event.preventDefault(); return; }
    }
    if (event.key === "?") { $("#help").hidden = !$("#help").hidden; return; }
    if (key === "a" && !form) { const approve = $("#approve-form"); if (approve) { event.preventDefault(); htmx.trigger(approve, "submit"); } return; }
    if (key === "r") { event.preventDefault(); open("reject-form"); return; }
    if (key === "c") { event.preventDefault(); open("correct-form"); }
  });

  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-open]");
    if (opener) open(opener.dataset.open);
    if (event.target.closest("[data-close]")) close();
    if (event.target.closest("[data-open-help]")) $("#help").hidden = false;
    if (event.target.closest("[data-close-help]")) $("#help").hidden = true;
  });
})();
