// Every page: show the server's answer when an htmx request fails.
//
// htmx 2 does not swap 4xx/5xx answers, so without this a refused action changes nothing on
// screen. Two cases:
// - a partial the view rendered with its own error message (labeling, review: status 422, an
//   HTML fragment, not a whole page) is swapped in as usual;
// - anything else (403/404 pages, 409/413/429 JSON from the API, a CSRF failure, a network
//   error) becomes a role="alert" box just before the element that sent the request. Nothing
//   is swapped, so what the user typed stays where it was.
(function () {
  const BOX_CLASS = "htmx-error";
  const MAX_CHARS = 300;

  const isWholePage = (text) => /<html[\s>]|<!doctype/i.test(text.slice(0, 500));
  const isHtml = (xhr) => (xhr.getResponseHeader("Content-Type") || "").includes("text/html");
  const clean = (text) => text.replace(/\s+/g, " ").trim().slice(0, MAX_CHARS);

  function messageFrom(xhr) {
    const body = xhr.responseText || "";
    const type = xhr.getResponseHeader("Content-Type") || "";
    if (type.includes("json")) {
      try {
        const data = JSON.parse(body);
        const text = data.error || data.detail || data.message;
        if (text) return clean(String(text));
      } catch (_) { /* not JSON after all: fall through */ }
    }
    if (type.includes("html")) {
      const doc = new DOMParser().parseFromString(body, "text/html");
      const marked = doc.querySelector("[data-error-message]");
      if (marked) return clean(marked.textContent);
      const main = doc.querySelector("main") || doc.body;
      const head = main && main.querySelector("h1");
      const para = main && main.querySelector("p");
      const text = [head, para].filter(Boolean).map((el) => el.textContent).join(": ");
      if (clean(text)) return clean(text);
      if (main && clean(main.textContent)) return clean(main.textContent);
    } else if (clean(body)) {
      return clean(body);
    }
    return "The server answered " + xhr.status + " " + (xhr.statusText || "") + ". Please try again.";
  }

  // The element that sent the request (htmx puts it in the request's config).
  const sender = (event) => (event.detail.requestConfig && event.detail.requestConfig.elt) || event.target;

  function anchorOf(elt) {
    // The form that made the request, or the element itself (a button, a polled <div>).
    return (elt && (elt.closest("form") || elt)) || document.querySelector("main") || document.body;
  }

  function removeBox(anchor) {
    const previous = anchor.previousElementSibling;
    if (previous && previous.classList.contains(BOX_CLASS)) previous.remove();
  }

  function showBox(elt, text) {
    const anchor = anchorOf(elt);
    if (!anchor.isConnected) return;
    removeBox(anchor);
    const box = document.createElement("div");
    box.className = "alert error " + BOX_CLASS;
    box.setAttribute("role", "alert");
    box.textContent = text;
    anchor.parentNode.insertBefore(box, anchor);
  }

  // Exposed for the JS-level tests and for other scripts that fetch by hand.
  window.portalShowError = showBox;

  document.addEventListener("htmx:beforeSwap", (event) => {
    const xhr = event.detail.xhr;
    if (xhr.status < 400) return;
    if (isHtml(xhr) && xhr.responseText && !isWholePage(xhr.responseText)) {
      // A partial carrying its own error message: swap it like a success.
      event.detail.shouldSwap = true;
      event.detail.isError = false;
      return;
    }
    event.detail.shouldSwap = false;
    event.detail.isError = false; // handled here: no "Response Status Error Code" in the console
    showBox(sender(event), messageFrom(xhr));
  });

  document.addEventListener("htmx:sendError", (event) => {
    showBox(sender(event), "The server could not be reached. Check your connection and try again.");
  });

  document.addEventListener("htmx:afterRequest", (event) => {
    // A later success from the same form clears its old error box.
    const xhr = event.detail.xhr;
    if (xhr && xhr.status >= 200 && xhr.status < 400) {
      const anchor = anchorOf(sender(event));
      if (anchor.isConnected) removeBox(anchor);
    }
  });
})();
