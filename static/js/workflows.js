// The workflow editor: the graph drawn as SVG (left to right by longest path from the
// input), a side panel for the selected node, a JSON view, live validation through the API
// (problems drawn on their node), Save (a new version), and a dry run whose outputs are
// shown on the graph. The run on the project is htmx (see _run.html).
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("wf-editor").textContent);
  const api = "/api/v1/";
  const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
  const svgNS = "http://www.w3.org/2000/svg";
  const W = 160, H = 56, GAP_X = 90, GAP_Y = 46;
  let doc = config.document;
  let selected = null;
  let problems = [];
  let outputs = {};
  let dirty = false;
  let timer = null;

  const $ = (id) => document.getElementById(id);
  const kinds = {};
  config.kinds.operators.forEach((k) => (kinds[k.name] = k));
  const modelTypes = {};
  config.kinds.model_types.forEach((m) => (modelTypes[m.type] = m));

  // htmx answers with a 4xx partial (e.g. a run refused) are swapped, so the error shows.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const status = event.detail.xhr.status;
    if (status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  async function call(method, path, body, isForm) {
    const headers = { "X-CSRFToken": csrf, Accept: "application/json" };
    if (!isForm) headers["Content-Type"] = "application/json";
    const response = await fetch(api + path, {
      method,
      headers,
      credentials: "same-origin",
      body: isForm ? body : JSON.stringify(body),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (e) {
      data = { error: "The server answered " + response.status + "." };
    }
    return { ok: response.ok, status: response.status, data };
  }

  function setStatus(text, kind) {
    const box = $("wf-status");
    box.textContent = text;
    box.className = "small wf-status-" + (kind || "info");
  }

  // ------------------------------------------------------------------ layout

  function nodeKindLabel(node) {
    if (node.type === "model") {
      const m = node.model || {};
      const model = config.models.find((x) => x.id === m.id);
      const name = model ? model.name : m.type || "model";
      return (m.type || "model") + (model ? " · " + name : "") + " · " + (m.version ?? "live");
    }
    return node.type;
  }

  function layout() {
    const nodes = (doc && Array.isArray(doc.nodes) ? doc.nodes : []).filter(
      (n) => n && typeof n.id === "string"
    );
    const byId = {};
    nodes.forEach((n) => (byId[n.id] = n));
    const depth = {};
    const visiting = {};
    function depthOf(id) {
      if (depth[id] !== undefined) return depth[id];
      if (visiting[id]) return 0; // a cycle: validation reports it
      visiting[id] = true;
      const node = byId[id];
      let d = 0;
      (node && Array.isArray(node.inputs) ? node.inputs : []).forEach((i) => {
        if (i && byId[i.node_id]) d = Math.max(d, depthOf(i.node_id) + 1);
      });
      visiting[id] = false;
      depth[id] = d;
      return d;
    }
    nodes.forEach((n) => depthOf(n.id));
    const columns = {};
    nodes.forEach((n) => (columns[depth[n.id]] = columns[depth[n.id]] || []).push(n.id));
    const pos = {};
    Object.keys(columns).forEach((d) => {
      columns[d].forEach((id, row) => {
        pos[id] = { x: 20 + d * (W + GAP_X), y: 24 + row * (H + GAP_Y + 30) };
      });
    });
    return { nodes, pos };
  }

  // ------------------------------------------------------------------ drawing

  function el(name, attrs, text) {
    const e = document.createElementNS(svgNS, name);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function summary(nodeId) {
    const out = outputs[nodeId];
    if (!out) return null;
    if (out.rows) {
      if (!out.rows.length) return "writes nothing";
      const r = out.rows[0];
      const regions = r.regions || [];
      if (regions.length) {
        const boxes = regions.filter((x) => x.parent === null).length;
        const counts = {};
        regions.filter((x) => x.parent !== null).forEach((x) => {
          const key = x.key || x.concept_id;
          counts[key] = (counts[key] || 0) + 1;
        });
        const labels = Object.entries(counts).map(([k, n]) => k + " ×" + n);
        return "would write " + r.status + ": " + boxes + (boxes === 1 ? " box" : " boxes") +
          (labels.length ? " labeled " + labels.join(", ") : "");
      }
      return "would write " + r.status + ": " + r.labels.map((l) => l.key || l.concept_id).join(", ");
    }
    const parts = [];
    Object.entries(out).forEach(([port, v]) => {
      if (!v || typeof v !== "object") return;
      if (v.type === "concepts") {
        const top = (v.inputs[0] || []).filter((c) => c.label).slice(0, 2);
        parts.push(
          port + ": " + (top.length ? top.map((c) => (c.key || c.concept_id) + " (" + Number(c.score).toFixed(2) + ")").join(", ") : "none")
        );
      } else if (v.type === "selection") parts.push(port + ": " + (v.inputs[0] ? "yes" : "no"));
      else if (v.type === "embedding") parts.push(v.dim + "-d vector");
      else if (v.type === "image") parts.push("image " + (v.sizes ? v.sizes[0].join("×") : ""));
    });
    return parts.join(" · ");
  }

  function draw() {
    const svg = $("wf-graph");
    svg.innerHTML = "";
    const { nodes, pos } = layout();
    let maxX = 400, maxY = 200;
    Object.values(pos).forEach((p) => {
      maxX = Math.max(maxX, p.x + W + 24);
      maxY = Math.max(maxY, p.y + H + 60);
    });
    // the whole graph in view: scaled down to the canvas's width, never up
    svg.removeAttribute("height");
    svg.setAttribute("width", "100%");
    svg.style.maxWidth = maxX + "px";
    svg.setAttribute("viewBox", "0 0 " + maxX + " " + maxY);
    const defs = el("defs");
    const marker = el("marker", { id: "wf-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#98a2b3" }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    const byNode = {};
    problems.forEach((p) => {
      const key = p.node_id || "";
      (byNode[key] = byNode[key] || []).push(p);
    });
    // edges first, under the boxes
    nodes.forEach((n) => {
      (Array.isArray(n.inputs) ? n.inputs : []).forEach((i) => {
        const a = pos[i && i.node_id], b = pos[n.id];
        if (!a || !b) return;
        const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
        const mid = (x1 + x2) / 2;
        const path = el("path", {
          d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 2},${y2}`,
          class: "wf-edge",
          "marker-end": "url(#wf-arrow)",
          "data-edge": i.node_id + (i.port ? ":" + i.port : "") + "->" + n.id,
        });
        svg.appendChild(path);
        if (i.port) {
          const at = n.inputs.indexOf(i);
          svg.appendChild(el("text", { x: x2 - 6, y: y2 - 6 - 11 * at, class: "wf-edge-label", "text-anchor": "end" }, i.port));
        }
      });
    });
    nodes.forEach((n) => {
      const p = pos[n.id];
      const bad = byNode[n.id];
      const g = el("g", {
        class: "wf-node" + (bad ? " has-problem" : "") + (selected === n.id ? " selected" : "") + (outputs[n.id] ? " has-output" : ""),
        transform: `translate(${p.x},${p.y})`,
        "data-node": n.id,
        tabindex: 0,
        role: "button",
      });
      g.appendChild(el("rect", { width: W, height: H, rx: 9 }));
      g.appendChild(el("text", { x: 12, y: 23, class: "wf-node-id" }, n.id));
      g.appendChild(el("text", { x: 12, y: 43, class: "wf-node-kind" }, nodeKindLabel(n).slice(0, 30)));
      let y = H + 15;
      if (bad) {
        bad.slice(0, 2).forEach((b) => {
          g.appendChild(el("text", { x: 2, y, class: "wf-node-problem" }, "⚠ " + b.message.slice(0, 60)));
          y += 14;
        });
      }
      const s = summary(n.id);
      if (s) {
        // wrapped to the box's width, at most three lines
        const words = ("→ " + s).split(" ");
        const lines = [""];
        words.forEach((w) => {
          if ((lines[lines.length - 1] + " " + w).length > 27) lines.push(w);
          else lines[lines.length - 1] = (lines[lines.length - 1] + " " + w).trim();
        });
        lines.slice(0, 3).forEach((line) => {
          g.appendChild(el("text", { x: 2, y, class: "wf-node-output" }, line));
          y += 13;
        });
      }
      g.addEventListener("click", () => select(n.id));
      g.addEventListener("keydown", (e) => e.key === "Enter" && select(n.id));
      svg.appendChild(g);
    });
    const general = byNode[""] || [];
    $("wf-problems").innerHTML = "";
    general.forEach((p) => {
      const div = document.createElement("div");
      div.className = "alert error";
      div.textContent = p.message;
      $("wf-problems").appendChild(div);
    });
  }

  // ------------------------------------------------------------------ side panel

  function field(label, input) {
    const wrap = document.createElement("label");
    wrap.className = "wf-field";
    const span = document.createElement("span");
    span.textContent = label;
    wrap.appendChild(span);
    wrap.appendChild(input);
    return wrap;
  }

  function input(type, value, onChange, attrs) {
    const i = document.createElement(type === "textarea" ? "textarea" : type === "select" ? "select" : "input");
    if (type !== "textarea" && type !== "select") i.type = type;
    Object.entries(attrs || {}).forEach(([k, v]) => i.setAttribute(k, v));
    if (type === "checkbox") i.checked = !!value;
    else if (type !== "select") i.value = value ?? "";
    i.addEventListener("change", () => onChange(i));
    return i;
  }

  function select(id) {
    selected = id;
    panel();
    draw();
  }

  function panel() {
    const body = $("wf-panel-body");
    const node = (doc.nodes || []).find((n) => n && n.id === selected);
    $("wf-panel-empty").hidden = !!node;
    body.hidden = !node;
    body.innerHTML = "";
    if (!node) return;
    const title = document.createElement("p");
    title.innerHTML = "<strong></strong> <span class='muted small'></span>";
    title.querySelector("strong").textContent = node.id;
    title.querySelector("span").textContent = nodeKindLabel(node);
    body.appendChild(title);
    const nodeProblems = problems.filter((p) => p.node_id === node.id);
    nodeProblems.forEach((p) => {
      const div = document.createElement("div");
      div.className = "alert error small wf-panel-problem";
      div.textContent = (p.field ? p.field + ": " : "") + p.message;
      body.appendChild(div);
    });
    if (node.type === "model") {
      const m = node.model || (node.model = {});
      const typeSel = input("select", null, (i) => { m.type = i.value; changed(); }, { name: "model.type" });
      Object.keys(modelTypes).forEach((t) => typeSel.add(new Option(t, t, false, m.type === t)));
      body.appendChild(field("Model type", typeSel));
      const modelSel = input("select", null, (i) => {
        if (i.value) m.id = Number(i.value); else delete m.id;
        changed();
      }, { name: "model.id" });
      modelSel.add(new Option("(the project's backbone)", ""));
      config.models.forEach((x) => modelSel.add(new Option(x.name + " (" + x.type + ")", x.id, false, m.id === x.id)));
      body.appendChild(field("Model", modelSel));
      body.appendChild(field("Version", input("text", m.version ?? "live", (i) => {
        m.version = /^\d+$/.test(i.value) ? Number(i.value) : i.value;
        changed();
      }, { name: "model.version", placeholder: "live or a number" })));
    }
    const kind = kinds[node.type];
    if (kind) {
      node.params = node.params || {};
      kind.params.forEach((p) => {
        const value = node.params[p.name] !== undefined ? node.params[p.name] : p.default;
        const set = (v) => {
          if (v === undefined) delete node.params[p.name]; else node.params[p.name] = v;
          changed();
        };
        let control;
        if (p.choices && p.choices.length) {
          control = input("select", null, (i) => set(i.value), { name: "params." + p.name });
          p.choices.forEach((c) => control.add(new Option(c || "(none)", c, false, value === c)));
        } else if (p.type === "bool") {
          control = input("checkbox", value, (i) => set(i.checked), { name: "params." + p.name });
        } else if (p.type === "dict" || p.type === "list") {
          control = input("textarea", JSON.stringify(value ?? (p.type === "dict" ? {} : [])), (i) => {
            try { set(JSON.parse(i.value)); } catch (e) { setStatus(p.name + " is not valid JSON.", "bad"); }
          }, { name: "params." + p.name, rows: 2, class: "wf-json" });
        } else {
          const numeric = p.type === "float" || p.type === "int";
          control = input(numeric ? "number" : "text", value ?? "", (i) => {
            if (i.value === "") set(p.nullable ? null : undefined);
            else set(numeric ? Number(i.value) : i.value);
          }, { name: "params." + p.name, step: "any" });
        }
        const f = field(p.name, control);
        f.title = p.help || "";
        body.appendChild(f);
      });
    }
    if (node.type !== "input") {
      body.appendChild(field("Inputs (JSON)", input("textarea", JSON.stringify(node.inputs || []), (i) => {
        try { node.inputs = JSON.parse(i.value); changed(); }
        catch (e) { setStatus("The inputs are not valid JSON.", "bad"); }
      }, { name: "inputs", rows: 3, class: "wf-json" })));
      const suppress = input("checkbox", node.suppress_output, (i) => { node.suppress_output = i.checked; changed(); }, { name: "suppress_output" });
      body.appendChild(field("Leave its output out of results", suppress));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn small danger";
      remove.id = "wf-remove";
      remove.textContent = "Remove node";
      remove.addEventListener("click", () => {
        doc.nodes = doc.nodes.filter((n) => n !== node);
        selected = null;
        changed();
      });
      body.appendChild(remove);
    }
  }

  // ------------------------------------------------------------------ changes

  function syncText() {
    $("wf-document").value = JSON.stringify(doc, null, 2);
  }

  function changed(fromText) {
    dirty = true;
    outputs = {};
    if (!fromText) syncText();
    panel();
    draw();
    clearTimeout(timer);
    timer = setTimeout(validate, 250);
  }

  async function validate() {
    const answer = await call("POST", `projects/${config.project}/workflows/validate/`, { document: doc });
    if (!answer.ok) {
      setStatus(answer.data.error || "Could not validate.", "bad");
      return;
    }
    problems = answer.data.problems;
    setStatus(
      problems.length ? problems.length + " problem" + (problems.length > 1 ? "s" : "") : (dirty ? "Valid · not saved" : "Valid"),
      problems.length ? "bad" : "ok"
    );
    panel();
    draw();
  }

  async function save() {
    const answer = await call("PATCH", `workflows/${config.workflow}/`, { document: doc });
    if (!answer.ok) {
      problems = answer.data.problems || problems;
      setStatus(answer.data.error || "Not saved.", "bad");
      panel();
      draw();
      return;
    }
    dirty = false;
    config.version = answer.data.version;
    $("wf-version-label").textContent = "v" + answer.data.version;
    const list = $("wf-versions");
    list.innerHTML = "";
    answer.data.versions.forEach((v) => {
      const li = document.createElement("li");
      li.innerHTML = v.number === answer.data.version ? "<strong></strong>" : "<a></a>";
      const target = li.firstChild;
      target.textContent = "v" + v.number;
      if (target.tagName === "A") target.href = "?version=" + v.number;
      list.appendChild(li);
    });
    setStatus("Saved as v" + answer.data.version, "ok");
  }

  async function tryIt(event) {
    event.preventDefault();
    const file = $("wf-try-file").files[0];
    if (!file) return;
    if (dirty) {
      $("wf-try-result").innerHTML = "<div class='alert warning'>Save first: the dry run uses the saved version.</div>";
      return;
    }
    const form = new FormData();
    form.append("file", file);
    form.append("version", config.version);
    $("wf-try-button").disabled = true;
    $("wf-try-result").textContent = "Running…";
    let answer = await call("POST", `workflows/${config.workflow}/results/`, form, true);
    while (answer.ok && answer.data.status === "queued") {
      await new Promise((r) => setTimeout(r, 500));
      answer = await call("GET", `workflows/runs/${answer.data.id}/`);
    }
    $("wf-try-button").disabled = false;
    const box = $("wf-try-result");
    box.innerHTML = "";
    if (!answer.ok || answer.data.status === "failed") {
      const div = document.createElement("div");
      div.className = "alert error";
      div.setAttribute("role", "alert");
      div.textContent = answer.data.error || "The dry run failed.";
      box.appendChild(div);
      if (answer.data.problems) { problems = answer.data.problems; draw(); }
      return;
    }
    outputs = answer.data.result.nodes;
    const p = document.createElement("p");
    p.id = "wf-try-done";
    p.textContent = "Dry run done: " + Object.keys(outputs).length + " node outputs, shown on the graph. Nothing was written.";
    box.appendChild(p);
    regionLabels(box);
    draw();
  }

  // A writer's labels on regions (a stacked workflow: a label on each detected box), listed
  // box by box under the dry run's answer.
  function regionLabels(box) {
    const lines = [];
    Object.entries(outputs).forEach(([nodeId, out]) => {
      (out.rows || []).forEach((row) => {
        const regions = row.regions || [];
        regions.forEach((r) => {
          if (r.parent === null) return;
          const parent = regions[r.parent];
          lines.push([nodeId, parent, r, row.status]);
        });
      });
    });
    if (!lines.length) return;
    const pct = (v) => Math.round(100 * v) + "%";
    const table = document.createElement("table");
    table.id = "wf-try-regions";
    table.className = "table";
    const caption = table.createCaption();
    caption.textContent = "Labels on regions (would be written)";
    const head = table.createTHead().insertRow();
    ["Writer", "Box (x, y, w, h)", "Box found as", "Label", "Score", "Status"].forEach((t) => {
      const th = document.createElement("th");
      th.textContent = t;
      head.appendChild(th);
    });
    const body = table.createTBody();
    lines.forEach(([nodeId, parent, r, status]) => {
      const tr = body.insertRow();
      tr.className = "wf-region-label";
      [
        nodeId,
        r.box.map(pct).join(", "),
        (parent.key || parent.concept_id) + " (" + Number(parent.score).toFixed(2) + ")",
        r.key || String(r.concept_id),
        Number(r.score).toFixed(2),
        status,
      ].forEach((t) => (tr.insertCell().textContent = t));
    });
    box.appendChild(table);
  }

  function addNode() {
    const value = $("wf-add-kind").value;
    let base = value.startsWith("model:") ? value.slice(6) : value;
    base = base.replace(/[^a-z]+/g, "_").replace(/^_|_$/g, "");
    let id = base, n = 2;
    while (doc.nodes.some((x) => x.id === id)) id = base + "_" + n++;
    const node = value.startsWith("model:")
      ? { id, type: "model", model: { type: value.slice(6), version: "live" }, inputs: [] }
      : { id, type: value, inputs: selected ? [{ node_id: selected }] : [], params: {} };
    if (value.startsWith("model:") && selected) node.inputs = [{ node_id: selected }];
    doc.nodes.push(node);
    selected = id;
    changed();
  }

  // ------------------------------------------------------------------ start

  const adder = $("wf-add-kind");
  config.kinds.operators.forEach((k) => adder.add(new Option(k.title + " (" + k.name + ")", k.name)));
  Object.keys(modelTypes).forEach((t) => adder.add(new Option("Model: " + t, "model:" + t)));
  $("wf-add").addEventListener("click", addNode);
  $("wf-save").addEventListener("click", save);
  $("wf-try").addEventListener("submit", tryIt);
  $("wf-document").addEventListener("input", () => {
    try {
      doc = JSON.parse($("wf-document").value);
      if (!doc || !Array.isArray(doc.nodes)) throw new Error("no nodes");
      changed(true);
    } catch (e) {
      setStatus("The document is not valid JSON.", "bad");
    }
  });
  syncText();
  draw();
  validate();
})();
