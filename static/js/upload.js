// Upload page: choose or drop files, send them with a progress bar, then open the report.
(function () {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("file-input");
  const zone = document.getElementById("dropzone");
  const list = document.getElementById("file-list");
  const button = document.getElementById("upload-button");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  let files = [];

  function show() {
    const total = files.reduce((sum, f) => sum + f.size, 0);
    list.textContent = files.length
      ? files.length + " file(s), " + (total / 1048576).toFixed(1) + " MB: " + files.slice(0, 50).map((f) => f.name).join(", ") + (files.length > 50 ? ", …" : "")
      : "";
    button.disabled = files.length === 0;
  }
  input.addEventListener("change", () => { files = Array.from(input.files); show(); });
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.remove("over"); }));
  zone.addEventListener("drop", (e) => { files = files.concat(Array.from(e.dataTransfer.files)); show(); });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!files.length) return;
    const data = new FormData();
    data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    const folderLabels = document.getElementById("folder-labels");
    if (folderLabels && folderLabels.checked) data.append("folder_labels", "1");
    files.forEach((f) => data.append("files", f, f.name));
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    button.disabled = true;
    xhr.upload.addEventListener("progress", (ev) => {
      if (!ev.lengthComputable) return;
      const pct = Math.round((100 * ev.loaded) / ev.total);
      bar.firstElementChild.style.width = pct + "%";
      status.textContent = "Sending… " + pct + "%";
    });
    xhr.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { /* not JSON */ }
      if (xhr.status === 201 && body.url) {
        status.textContent = "Received. Checking each file…";
        window.location = body.url;
      } else {
        status.textContent = body.error || ("Upload failed (" + xhr.status + "). Nothing was stored.");
        button.disabled = false;
      }
    });
    xhr.addEventListener("error", () => { status.textContent = "Network error: the upload did not reach the server."; button.disabled = false; });
    xhr.send(data);
  });
})();
