// Review page, keyboard first: A approves, R rejects (reason, Enter), C corrects (keys pick
// labels, Enter saves), ? help, Esc closes. #review-item is replaced by htmx after each decision.
(function () {
  const $ = (selector) => document.querySelector(selector);
  const typing = (el) => el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" || (el.tagName === "INPUT" && el.type === "text"));
  const openForm = () => document.querySelector("#reject-form:not([hidden]), #correct-form:not([hidden])");

  function open(id) {
    document.querySelectorAll("#reject-form, #correct-form").forEach((f) => { f.hidden = f.id !== id; });
    const form = document.getElementById(id);
    if (!form) return;
    const field = form.querySelector("input[type=text], select");
    if (field) field.focus(); else if (document.activeElement) document.activeElement.blur();
  }

  function close() {
    document.querySelectorAll("#reject-form, #correct-form").forEach((f) => { f.hidden = true; });
    $("#help").hidden = true;
    if (document.activeElement) document.activeElement.blur();
  }

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
