// Box editor of the labeling page: plain JS, an SVG over the image, no framework.
//
// Boxes are kept normalised ({concept, x, y, w, h}: fractions of the image's width and
// height, top-left corner first), as the server stores them; the hidden field
// #regions-field always holds them as JSON, so Enter (label.js) submits what is on screen.
// The SVG's user units are image pixels (viewBox 0 0 naturalWidth naturalHeight): drawing
// and resizing snap to whole image pixels, arrow keys move by 1 (Shift: 10) image pixels.
// Zoom and pan are a CSS transform of the stage (image + SVG); sizes that must stay the same
// on screen (outlines, handles, captions) are divided by the scale at each render.
//
// label.js owns the page's keys and asks this editor first: PortalBoxes.current() gives
// the editor of the task on screen (or null), whose handleKey(event) says whether it took
// the key, and undo() whether there was a box edit to take back.
(function () {
  "use strict";

  const SVG_NS = "http://www.w3.org/2000/svg";
  const HANDLE_PX = 10; // handle size on screen
  const CLICK_PX = 3; // a press that moves less than this (screen px) is a click
  const MAX_ZOOM = 40; // times the fitted size
  const ZOOM_STEP = 1.25;
  const HISTORY = 200;
  const UNKNOWN_COLOR = "#667085";
  const HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];
  const CURSORS = { nw: "nwse", se: "nwse", ne: "nesw", sw: "nesw", n: "ns", s: "ns", e: "ew", w: "ew" };

  const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
  const finite = (v) => typeof v === "number" && Number.isFinite(v);

  function el(name, attrs) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  class Editor {
    constructor(root, config) {
      this.root = root;
      this.stage = root.querySelector(".box-stage");
      this.img = root.querySelector("img");
      this.svg = root.querySelector("svg");
      this.field = document.getElementById("regions-field");
      this.list = document.getElementById("box-list");
      this.legend = document.getElementById("box-legend");
      this.zoomLabel = document.getElementById("box-zoom");
      this.choices = new Map(config.choices.map((c) => [c.id, c]));
      this.current = config.choices.length ? config.choices[0].id : null;
      this.boxes = (config.boxes || []).map((b) => this.fromConfig(b)).filter(Boolean);
      this.selected = -1;
      this.history = [];
      this.drag = null;
      this.spaceHeld = false;
      this.nw = 0; this.nh = 0; // the image's natural size, once loaded
      this.fit = 1; this.zoom = 1; this.tx = 0; this.ty = 0;
      this.bind();
      this.sync();
      if (this.img.complete && this.img.naturalWidth) this.loaded();
      else this.img.addEventListener("load", () => this.loaded(), { once: true });
    }

    fromConfig(b) {
      const box = { concept: Number(b.concept), x: b.x, y: b.y, w: b.w, h: b.h, model: !!b.model };
      box.confidence = finite(b.confidence) ? b.confidence : null;
      // A refused submission may come back with anything: keep what can be drawn.
      if (![box.x, box.y, box.w, box.h].every(finite)) return null;
      return box;
    }

    // ------------------------------------------------------------------ view

    loaded() {
      this.nw = this.img.naturalWidth;
      this.nh = this.img.naturalHeight;
      this.stage.style.width = this.nw + "px";
      this.stage.style.height = this.nh + "px";
      this.svg.setAttribute("viewBox", `0 0 ${this.nw} ${this.nh}`);
      this.layout();
    }

    get scale() { return this.fit * this.zoom; }

    layout() {
      if (!this.nw) return;
      const width = this.root.clientWidth;
      const height = clamp(width * this.nh / this.nw, 200, Math.max(200, window.innerHeight * 0.7));
      this.root.style.height = Math.round(height) + "px";
      this.width = width;
      this.fit = Math.min(width / this.nw, this.root.clientHeight / this.nh);
      this.apply();
    }

    apply() {
      const s = this.scale;
      const vw = this.root.clientWidth, vh = this.root.clientHeight;
      const sw = this.nw * s, sh = this.nh * s;
      this.tx = sw <= vw ? (vw - sw) / 2 : clamp(this.tx, vw - sw, 0);
      this.ty = sh <= vh ? (vh - sh) / 2 : clamp(this.ty, vh - sh, 0);
      this.stage.style.transform = `translate(${this.tx}px, ${this.ty}px) scale(${s})`;
      this.img.classList.toggle("pixel", s >= 2); // sharp pixels when enlarged only
      if (this.zoomLabel) this.zoomLabel.textContent = Math.round(this.zoom * 100) + "%";
      this.render();
    }

    zoomAt(clientX, clientY, factor) {
      if (!this.nw) return;
      const rect = this.root.getBoundingClientRect();
      const [px, py] = this.toImage(clientX, clientY);
      this.zoom = clamp(this.zoom * factor, 1, MAX_ZOOM);
      const s = this.scale;
      this.tx = clientX - rect.left - this.root.clientLeft - px * s;
      this.ty = clientY - rect.top - this.root.clientTop - py * s;
      this.apply();
    }

    zoomCentre(factor) {
      const rect = this.root.getBoundingClientRect();
      this.zoomAt(rect.left + rect.width / 2, rect.top + rect.height / 2, factor);
    }

    fitAll() { this.zoom = 1; this.apply(); }

    // Client (screen) coordinates to image pixels.
    toImage(clientX, clientY) {
      const rect = this.root.getBoundingClientRect();
      const s = this.scale;
      return [
        (clientX - rect.left - this.root.clientLeft - this.tx) / s,
        (clientY - rect.top - this.root.clientTop - this.ty) / s,
      ];
    }

    // Pan so a box is in view (after Tab selected it while zoomed in).
    reveal(box) {
      const s = this.scale, vw = this.root.clientWidth, vh = this.root.clientHeight;
      const left = box.x * this.nw * s + this.tx, top = box.y * this.nh * s + this.ty;
      const right = left + box.w * this.nw * s, bottom = top + box.h * this.nh * s;
      if (left >= 0 && top >= 0 && right <= vw && bottom <= vh) return;
      this.tx = vw / 2 - (box.x + box.w / 2) * this.nw * s;
      this.ty = vh / 2 - (box.y + box.h / 2) * this.nh * s;
      this.apply();
    }

    // ------------------------------------------------------------------ state

    snapshot() { return JSON.stringify({ boxes: this.boxes, selected: this.selected }); }

    remember(before) {
      this.history.push(before === undefined ? this.snapshot() : before);
      if (this.history.length > HISTORY) this.history.shift();
    }

    undo() {
      if (!this.history.length) return false;
      this.cancelDrag();
      const state = JSON.parse(this.history.pop());
      this.boxes = state.boxes;
      this.selected = state.selected < this.boxes.length ? state.selected : -1;
      this.changed();
      return true;
    }

    changed() { this.sync(); this.render(); }

    sync() {
      if (!this.field) return;
      this.field.value = JSON.stringify(this.boxes.map((b) => ({ concept: b.concept, x: b.x, y: b.y, w: b.w, h: b.h })));
    }

    select(index) {
      this.selected = index >= 0 && index < this.boxes.length ? index : -1;
      if (this.selected >= 0 && this.nw) this.reveal(this.boxes[this.selected]);
      this.render();
    }

    setConcept(id) {
      if (!this.choices.has(id)) return;
      this.current = id;
      const box = this.boxes[this.selected];
      if (box && box.concept !== id) {
        this.remember();
        box.concept = id;
        box.model = false; // the annotator's box now
        this.sync();
      }
      this.render();
    }

    remove(index) {
      if (index < 0 || index >= this.boxes.length) return;
      this.remember();
      this.boxes.splice(index, 1);
      this.selected = -1;
      this.changed();
    }

    moveBy(dxPx, dyPx) {
      const box = this.boxes[this.selected];
      if (!box || !this.nw) return;
      this.remember();
      box.x = clamp(box.x + dxPx / this.nw, 0, Math.max(0, 1 - box.w));
      box.y = clamp(box.y + dyPx / this.nh, 0, Math.max(0, 1 - box.h));
      box.model = false;
      this.changed();
    }

    // ------------------------------------------------------------------ keys

    handleKey(event) {
      const key = event.key;
      if (key === " ") {
        this.spaceHeld = true;
        this.root.classList.add("panning");
        return true;
      }
      if (key === "Tab") {
        if (!this.boxes.length) return false;
        const n = this.boxes.length;
        const from = this.selected < 0 ? (event.shiftKey ? 0 : -1) : this.selected;
        this.select((from + (event.shiftKey ? -1 : 1) + n) % n);
        return true;
      }
      const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      if (arrows[key]) {
        if (this.selected < 0) return false;
        const step = event.shiftKey ? 10 : 1;
        this.moveBy(arrows[key][0] * step, arrows[key][1] * step);
        return true;
      }
      if (key === "Delete" || key === "Backspace") {
        if (this.selected < 0) return false;
        this.remove(this.selected);
        return true;
      }
      if (key === "+" || key === "=") { this.zoomCentre(ZOOM_STEP); return true; }
      if (key === "-" || key === "_") { this.zoomCentre(1 / ZOOM_STEP); return true; }
      if (key.length === 1) {
        const lower = key.toLowerCase();
        const choice = [...this.choices.values()].find((c) => c.key && c.key === lower);
        if (choice) { this.setConcept(choice.id); return true; }
      }
      return false;
    }

    keyUp(event) {
      if (event.key === " ") {
        this.spaceHeld = false;
        this.root.classList.remove("panning");
      }
    }

    escape() {
      this.cancelDrag();
      this.select(-1);
    }

    // ------------------------------------------------------------------ mouse

    bind() {
      const root = this.root;
      root.addEventListener("pointerdown", (e) => this.down(e));
      root.addEventListener("pointermove", (e) => this.move(e));
      root.addEventListener("pointerup", (e) => this.up(e));
      root.addEventListener("pointercancel", () => { this.cancelDrag(); this.render(); });
      root.addEventListener("mousedown", (e) => { if (e.button === 1) e.preventDefault(); }); // no autoscroll
      root.addEventListener("wheel", (e) => {
        e.preventDefault();
        this.zoomAt(e.clientX, e.clientY, e.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP);
      }, { passive: false });
      if (this.legend) {
        this.legend.addEventListener("click", (e) => {
          const button = e.target.closest("[data-concept]");
          if (button) this.setConcept(Number(button.dataset.concept));
          if (e.target.closest("[data-box-fit]")) this.fitAll();
        });
      }
      if (this.list) {
        this.list.addEventListener("click", (e) => {
          const item = e.target.closest("[data-index]");
          if (!item) return;
          const index = Number(item.dataset.index);
          if (e.target.closest("[data-box-remove]")) this.remove(index);
          else this.select(index);
        });
      }
      if (window.ResizeObserver) {
        new ResizeObserver(() => { if (this.root.clientWidth !== this.width) this.layout(); }).observe(root);
      }
    }

    pixel(e) {
      const [x, y] = this.toImage(e.clientX, e.clientY);
      return [clamp(Math.round(x), 0, this.nw), clamp(Math.round(y), 0, this.nh)];
    }

    down(e) {
      if (!this.nw || this.drag) return;
      if (e.button === 1 || (e.button === 0 && this.spaceHeld)) {
        this.drag = { kind: "pan", cx: e.clientX, cy: e.clientY, tx: this.tx, ty: this.ty };
      } else if (e.button === 0) {
        const handle = e.target.closest("[data-handle]");
        const shape = e.target.closest("[data-index]");
        const index = shape ? Number(shape.dataset.index) : -1;
        const common = { cx: e.clientX, cy: e.clientY, start: this.pixel(e), before: this.snapshot() };
        if (handle && this.selected >= 0) {
          this.drag = { kind: "resize", handle: handle.dataset.handle, ...common };
        } else if (index >= 0 && index === this.selected) {
          this.drag = { kind: "move", origin: { ...this.boxes[index] }, ...common };
        } else {
          // A click selects (the box under it, or none); a drag draws a new box.
          this.drag = { kind: "press", index, ...common };
        }
      } else {
        return;
      }
      e.preventDefault();
      if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
      this.root.setPointerCapture(e.pointerId);
      this.root.classList.add("dragging");
    }

    move(e) {
      const drag = this.drag;
      if (!drag) return;
      if (drag.kind === "pan") {
        this.tx = drag.tx + e.clientX - drag.cx;
        this.ty = drag.ty + e.clientY - drag.cy;
        this.apply();
        return;
      }
      if (drag.kind === "press") {
        if (Math.hypot(e.clientX - drag.cx, e.clientY - drag.cy) < CLICK_PX) return;
        drag.kind = "draw";
      }
      const [px, py] = this.pixel(e);
      if (drag.kind === "draw") {
        const [sx, sy] = drag.start;
        drag.box = this.fromPixels(Math.min(sx, px), Math.min(sy, py), Math.max(sx, px), Math.max(sy, py));
        drag.box.concept = this.current;
        this.render();
        return;
      }
      const box = this.boxes[this.selected];
      if (!box) return;
      if (drag.kind === "move") {
        const o = drag.origin;
        const dx = px - drag.start[0], dy = py - drag.start[1];
        box.x = clamp(o.x + dx / this.nw, 0, Math.max(0, 1 - o.w));
        box.y = clamp(o.y + dy / this.nh, 0, Math.max(0, 1 - o.h));
      } else if (drag.kind === "resize") {
        let x0 = box.x * this.nw, y0 = box.y * this.nh, x1 = x0 + box.w * this.nw, y1 = y0 + box.h * this.nh;
        if (drag.handle.includes("w")) x0 = px;
        if (drag.handle.includes("e")) x1 = px;
        if (drag.handle.includes("n")) y0 = py;
        if (drag.handle.includes("s")) y1 = py;
        // Dragged past the opposite side: the box flips rather than vanishing (1 px at least).
        const [ax, bx] = x0 <= x1 ? [x0, x1] : [x1, x0];
        const [ay, by] = y0 <= y1 ? [y0, y1] : [y1, y0];
        Object.assign(box, this.fromPixels(ax, ay, Math.max(bx, ax + 1), Math.max(by, ay + 1)));
        if (x0 > x1 || y0 > y1) drag.handle = flip(drag.handle, x0 > x1, y0 > y1);
      }
      box.model = false;
      drag.moved = true;
      this.sync();
      this.render();
    }

    up(e) {
      const drag = this.drag;
      if (!drag) return;
      this.drag = null;
      this.root.classList.remove("dragging");
      if (this.root.hasPointerCapture(e.pointerId)) this.root.releasePointerCapture(e.pointerId);
      if (drag.kind === "press") {
        this.select(drag.index);
      } else if (drag.kind === "draw") {
        const box = drag.box;
        if (box && box.w * this.nw >= 1 && box.h * this.nh >= 1 && box.concept !== null) {
          this.remember(drag.before);
          // Not selected: the next number key picks the concept of the next box, not this one.
          this.boxes.push({ ...box, model: false, confidence: null });
          this.selected = -1;
          this.changed();
        } else {
          this.render();
        }
      } else if ((drag.kind === "move" || drag.kind === "resize") && drag.moved) {
        if (drag.before !== this.snapshot()) this.remember(drag.before);
        this.changed();
      }
    }

    cancelDrag() {
      const drag = this.drag;
      if (!drag) return;
      this.drag = null;
      this.root.classList.remove("dragging");
      if ((drag.kind === "move" || drag.kind === "resize") && drag.moved) {
        const state = JSON.parse(drag.before);
        this.boxes = state.boxes;
        this.sync();
      }
    }

    fromPixels(x0, y0, x1, y1) {
      return { x: x0 / this.nw, y: y0 / this.nh, w: (x1 - x0) / this.nw, h: (y1 - y0) / this.nh };
    }

    // ------------------------------------------------------------------ drawing

    color(concept) {
      const choice = this.choices.get(concept);
      return choice ? choice.color : UNKNOWN_COLOR;
    }

    caption(box, index) {
      const choice = this.choices.get(box.concept);
      let text = `${index + 1} ${choice ? choice.name : "concept " + box.concept}`;
      if (box.model && box.confidence !== null) text += ` · ${Math.round(box.confidence * 100)}%`;
      return text;
    }

    render() {
      this.renderLegend();
      this.renderList();
      if (!this.nw) return;
      const svg = this.svg, s = this.scale, px = 1 / s;
      svg.replaceChildren();
      const order = this.boxes.map((_, i) => i).filter((i) => i !== this.selected);
      if (this.selected >= 0) order.push(this.selected);
      for (const i of order) svg.appendChild(this.shape(this.boxes[i], i, px));
      if (this.drag && this.drag.kind === "draw" && this.drag.box) {
        svg.appendChild(this.shape({ ...this.drag.box, model: false }, -1, px));
      }
      const box = this.boxes[this.selected];
      if (box && !(this.drag && this.drag.kind === "draw")) {
        const x0 = box.x * this.nw, y0 = box.y * this.nh, x1 = x0 + box.w * this.nw, y1 = y0 + box.h * this.nh;
        const mx = (x0 + x1) / 2, my = (y0 + y1) / 2, size = HANDLE_PX * px;
        const at = { nw: [x0, y0], n: [mx, y0], ne: [x1, y0], e: [x1, my], se: [x1, y1], s: [mx, y1], sw: [x0, y1], w: [x0, my] };
        for (const name of HANDLES) {
          svg.appendChild(el("rect", {
            class: "box-handle", "data-handle": name, x: at[name][0] - size / 2, y: at[name][1] - size / 2,
            width: size, height: size, stroke: this.color(box.concept), "stroke-width": 1.5 * px,
            style: `cursor: ${CURSORS[name]}-resize`,
          }));
        }
      }
    }

    shape(box, index, px) {
      const color = this.color(box.concept);
      const selected = index >= 0 && index === this.selected;
      const g = el("g", { class: "box" + (selected ? " selected" : "") + (box.model ? " model" : "") });
      if (index >= 0) g.setAttribute("data-index", index);
      const x = box.x * this.nw, y = box.y * this.nh, w = box.w * this.nw, h = box.h * this.nh;
      const rect = el("rect", {
        x, y, width: w, height: h, stroke: color, fill: color,
        "fill-opacity": selected ? 0.18 : 0.06, "stroke-width": (selected ? 3 : 2) * px,
      });
      if (box.model) rect.setAttribute("stroke-dasharray", `${6 * px} ${4 * px}`);
      g.appendChild(rect);
      if (index >= 0) {
        const text = this.caption(box, index);
        const size = 12 * px, pad = 3 * px, height = size + 2 * pad;
        const width = text.length * size * 0.62 + 2 * pad;
        const top = y - height >= 0 ? y - height : y; // above the box, or inside at the top edge
        g.appendChild(el("rect", { class: "box-caption-bg", x, y: top, width, height, fill: color }));
        const label = el("text", { class: "box-caption", x: x + pad, y: top + pad + size * 0.85, "font-size": size });
        label.textContent = text;
        g.appendChild(label);
      }
      return g;
    }

    renderLegend() {
      if (!this.legend) return;
      for (const button of this.legend.querySelectorAll("[data-concept]")) {
        button.setAttribute("aria-pressed", Number(button.dataset.concept) === this.current ? "true" : "false");
      }
    }

    renderList() {
      if (!this.list) return;
      const items = this.boxes.map((box, i) => {
        const li = document.createElement("li");
        li.dataset.index = i;
        li.className = "box-item" + (i === this.selected ? " selected" : "") + (box.model ? " model" : "");
        li.style.setProperty("--box-color", this.color(box.concept));
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        const name = document.createElement("span");
        name.className = "name";
        name.textContent = this.caption(box, i);
        const tag = document.createElement("span");
        tag.className = "muted small";
        tag.textContent = box.model ? "suggested" : "";
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "box-remove";
        remove.dataset.boxRemove = "";
        remove.title = "Remove this box";
        remove.setAttribute("aria-label", `Remove box ${i + 1}`);
        remove.textContent = "×";
        li.append(swatch, name, tag, remove);
        return li;
      });
      this.list.replaceChildren(...items);
      const count = document.getElementById("box-count");
      if (count) count.textContent = String(this.boxes.length);
      const empty = document.getElementById("box-list-empty");
      if (empty) empty.hidden = this.boxes.length > 0;
    }
  }

  function flip(handle, horizontal, vertical) {
    let h = handle;
    if (horizontal) h = h.replace("w", "_").replace("e", "w").replace("_", "e");
    if (vertical) h = h.replace("n", "_").replace("s", "n").replace("_", "s");
    return h;
  }

  let editor = null;

  function start() {
    const root = document.getElementById("box-editor");
    const config = document.getElementById("box-editor-config");
    if (!root || !config) { editor = null; return; }
    if (editor && editor.root === root) return;
    editor = new Editor(root, JSON.parse(config.textContent));
  }

  window.PortalBoxes = {
    current: () => (editor && editor.root.isConnected ? editor : null),
  };

  document.addEventListener("keyup", (event) => { if (editor) editor.keyUp(event); });
  window.addEventListener("resize", () => { if (editor && editor.root.isConnected) editor.layout(); });
  window.addEventListener("blur", () => { if (editor) editor.keyUp({ key: " " }); });
  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:afterSettle", start);
})();
