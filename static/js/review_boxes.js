// ReviewBoxes: an annotation's boxes drawn over its image, and a small editor for a
// reviewer's correction. No dependencies; the review page (review.js) wires it up.
//
//   const editor = ReviewBoxes.create(svg, data, { onChange(boxes) {} });
//
// `svg` lies exactly over the image (same box on screen). `data` is what the server sends:
//   { width, height,                 // the image's size in pixels
//     concepts: [{id, name, key, color}],   // the concepts boxes can have
//     boxes: [{concept, x, y, w, h, confidence}],   // the annotation's boxes, normalised
//     edited: [...] | null }         // boxes a refused correction sent, shown instead
// Boxes are normalised (x, y: top-left corner; fractions of the image), as the server
// stores them; coordinates are drawn in percent, so the layer follows the image's size.
//
// Editor API:
//   boxes()            the boxes now, as the server takes them: [{concept, x, y, w, h}]
//   changed()          whether the reviewer changed anything since create() or reset()
//   setEditing(on)     editing on: boxes take focus (Tab), the pointer draws and moves
//   focusFirst()       focus (select) the first box, if any
//   selected()         index of the selected (focused) box, or -1
//   select(index)      focus that box
//   move(dx, dy)       move the selected box by image pixels (kept on the image)
//   remove()           delete the selected box; the next one gets selected
//   setConcept(id)     the concept of boxes drawn next (a key never relabels a box: keys
//                      pressed right after C would otherwise change the first box)
//   handleKey(event)   arrows, Delete/Backspace, a concept's key: true when it used the key
//   reset()            back to the annotation's boxes, nothing changed
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const MIN_DRAW_PX = 4; // a smaller drag is a click, not a box
  const HANDLE_PX = 9;

  const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
  const copy = (boxes) => boxes.map((b) => ({ concept: b.concept, x: b.x, y: b.y, w: b.w, h: b.h, confidence: b.confidence ?? null }));
  const pct = (v) => (100 * v).toFixed(4) + "%";

  function create(svg, data, options) {
    const opts = options || {};
    const width = data.width || 1;
    const height = data.height || 1;
    const concepts = new Map((data.concepts || []).map((c) => [c.id, c]));
    const byKey = new Map((data.concepts || []).filter((c) => c.key).map((c) => [c.key.toLowerCase(), c]));
    let original = copy(data.boxes || []);
    let boxes = copy(data.edited || data.boxes || []);
    let dirty = Boolean(data.edited);
    let editing = false;
    let current = (data.concepts && data.concepts[0]) ? data.concepts[0].id : null;
    let drag = null; // {mode: "move" | "resize" | "draw", index, start: {x, y}, box}

    const nameOf = (id) => (concepts.get(id) || { name: "concept " + id }).name;
    const colorOf = (id) => (concepts.get(id) || { color: "#4f46e5" }).color;
    const groups = () => Array.from(svg.querySelectorAll("g.box"));
    const caption = (b) => nameOf(b.concept) + (b.confidence != null ? " " + Number(b.confidence).toFixed(2) : "");

    function changed() {
      dirty = true;
      if (opts.onChange) opts.onChange(api.boxes());
    }

    // ------------------------------------------------------------------ drawing
    function makeGroup() {
      const g = document.createElementNS(SVG, "g");
      g.classList.add("box");
      const frame = document.createElementNS(SVG, "rect");
      frame.classList.add("frame");
      const text = document.createElementNS(SVG, "text");
      text.setAttribute("dx", "3");
      text.setAttribute("dy", "13");
      const handle = document.createElementNS(SVG, "rect");
      handle.classList.add("handle");
      handle.setAttribute("width", HANDLE_PX);
      handle.setAttribute("height", HANDLE_PX);
      handle.setAttribute("transform", `translate(${-HANDLE_PX / 2} ${-HANDLE_PX / 2})`);
      g.append(frame, text, handle);
      g.addEventListener("focus", () => { g.classList.add("selected"); status(); });
      g.addEventListener("blur", () => g.classList.remove("selected"));
      return g;
    }

    function paint(g, b, index) {
      g.dataset.index = index;
      g.dataset.concept = b.concept;
      g.classList.toggle("model", b.confidence != null);
      g.style.setProperty("--box-color", colorOf(b.concept));
      g.setAttribute("tabindex", editing ? "0" : "-1");
      g.setAttribute("aria-label", `Box ${index + 1}: ${caption(b)}`);
      const [frame, text, handle] = g.children;
      frame.setAttribute("x", pct(b.x));
      frame.setAttribute("y", pct(b.y));
      frame.setAttribute("width", pct(b.w));
      frame.setAttribute("height", pct(b.h));
      text.setAttribute("x", pct(b.x));
      text.setAttribute("y", pct(b.y));
      text.textContent = caption(b);
      handle.setAttribute("x", pct(b.x + b.w));
      handle.setAttribute("y", pct(b.y + b.h));
    }

    // Keep one <g> per box, in order, reusing the elements so focus survives an edit.
    function render() {
      let gs = groups();
      gs.forEach((g) => { if (!g.querySelector(".handle")) g.remove(); }); // server-drawn: redo
      gs = groups();
      while (gs.length < boxes.length) { svg.appendChild(makeGroup()); gs = groups(); }
      while (gs.length > boxes.length) { gs.pop().remove(); }
      boxes.forEach((b, i) => paint(gs[i], b, i));
      legend();
      status();
    }

    function legend() {
      const counts = new Map();
      boxes.forEach((b) => counts.set(b.concept, (counts.get(b.concept) || 0) + 1));
      document.querySelectorAll("#box-legend li[data-concept]").forEach((li) => {
        const id = Number(li.dataset.concept);
        const count = li.querySelector(".count");
        if (count) count.textContent = counts.get(id) || 0;
        li.classList.toggle("current", editing && id === current);
      });
      const name = document.getElementById("box-current");
      if (name && current != null) name.textContent = nameOf(current);
    }

    function status() {
      const line = document.getElementById("box-status");
      if (!line) return;
      const index = api.selected();
      const count = `${boxes.length} box${boxes.length === 1 ? "" : "es"}`;
      line.textContent = index < 0 ? count + "." : `${count}; box ${index + 1} selected: ${caption(boxes[index])}.`;
    }

    // ------------------------------------------------------------------ pointer
    function point(event) {
      const r = svg.getBoundingClientRect();
      return { x: clamp((event.clientX - r.left) / r.width, 0, 1), y: clamp((event.clientY - r.top) / r.height, 0, 1), r };
    }

    function onHandle(b, p) {
      const reach = HANDLE_PX / 2 + 2; // screen pixels around the corner
      return Math.abs((b.x + b.w - p.x) * p.r.width) <= reach && Math.abs((b.y + b.h - p.y) * p.r.height) <= reach;
    }

    svg.addEventListener("pointerdown", (event) => {
      if (!editing || event.button !== 0) return;
      event.preventDefault();
      const p = point(event);
      const selected = api.selected();
      const g = event.target.closest("g.box");
      if (selected >= 0 && onHandle(boxes[selected], p)) {
        // The selected box's corner, even where a later box is painted over it.
        drag = { mode: "resize", index: selected, start: p, box: { ...boxes[selected] } };
      } else if (g) {
        const index = Number(g.dataset.index);
        g.focus();
        drag = { mode: "move", index, start: p, box: { ...boxes[index] } };
      } else {
        if (current == null) return;
        if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
        boxes.push({ concept: current, x: p.x, y: p.y, w: 0, h: 0, confidence: null });
        render();
        const drawn = groups()[boxes.length - 1];
        drawn.classList.add("drawing");
        drag = { mode: "draw", index: boxes.length - 1, start: p, box: null };
      }
      svg.setPointerCapture(event.pointerId);
    });

    svg.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const p = point(event);
      const b = boxes[drag.index];
      if (drag.mode === "draw") {
        b.x = Math.min(p.x, drag.start.x);
        b.y = Math.min(p.y, drag.start.y);
        b.w = Math.abs(p.x - drag.start.x);
        b.h = Math.abs(p.y - drag.start.y);
      } else if (drag.mode === "move") {
        b.x = clamp(drag.box.x + p.x - drag.start.x, 0, 1 - b.w);
        b.y = clamp(drag.box.y + p.y - drag.start.y, 0, 1 - b.h);
        b.confidence = null;
      } else {
        b.w = Math.max(p.x - b.x, 1 / width);
        b.h = Math.max(p.y - b.y, 1 / height);
        b.confidence = null;
      }
      paint(groups()[drag.index], b, drag.index);
    });

    function endDrag(event) {
      if (!drag) return;
      const done = drag;
      drag = null;
      if (svg.hasPointerCapture(event.pointerId)) svg.releasePointerCapture(event.pointerId);
      const b = boxes[done.index];
      if (done.mode === "draw") {
        const r = svg.getBoundingClientRect();
        if (b.w * r.width < MIN_DRAW_PX || b.h * r.height < MIN_DRAW_PX) {
          boxes.splice(done.index, 1); // a click on the image: nothing drawn
          render();
          return;
        }
        groups()[done.index].classList.remove("drawing");
        render();
        groups()[done.index].focus();
        changed();
        return;
      }
      const before = done.box;
      if (b.x !== before.x || b.y !== before.y || b.w !== before.w || b.h !== before.h) {
        render();
        changed();
      }
    }
    svg.addEventListener("pointerup", endDrag);
    svg.addEventListener("pointercancel", endDrag);

    document.querySelectorAll("#box-legend li[data-concept]").forEach((li) => {
      li.addEventListener("click", () => { if (editing) api.setConcept(Number(li.dataset.concept)); });
    });

    // ------------------------------------------------------------------ the API
    const api = {
      boxes: () => boxes.map((b) => ({ concept: b.concept, x: b.x, y: b.y, w: b.w, h: b.h })),
      changed: () => dirty,
      editing: () => editing,
      setEditing(on) {
        editing = Boolean(on);
        svg.classList.toggle("editing", editing);
        render();
      },
      focusFirst() {
        const first = groups()[0];
        if (first && editing) first.focus();
      },
      selected() {
        const active = document.activeElement;
        return active && active.matches && active.matches("g.box") && svg.contains(active) ? Number(active.dataset.index) : -1;
      },
      select(index) {
        const g = groups()[index];
        if (g) g.focus();
      },
      move(dx, dy) {
        const index = api.selected();
        if (index < 0) return;
        const b = boxes[index];
        b.x = clamp(b.x + dx / width, 0, 1 - b.w);
        b.y = clamp(b.y + dy / height, 0, 1 - b.h);
        b.confidence = null;
        render();
        changed();
      },
      remove() {
        const index = api.selected();
        if (index < 0) return;
        boxes.splice(index, 1);
        render();
        if (boxes.length) api.select(Math.min(index, boxes.length - 1));
        else if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
        status();
        changed();
      },
      setConcept(id) {
        if (!concepts.has(id)) return;
        current = id;
        legend();
      },
      handleKey(event) {
        if (!editing || event.ctrlKey || event.metaKey || event.altKey) return false;
        const step = event.shiftKey ? 10 : 1;
        const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
        const selected = api.selected() >= 0;
        if (selected && moves[event.key]) { api.move(...moves[event.key]); return true; }
        if (selected && (event.key === "Delete" || event.key === "Backspace")) { api.remove(); return true; }
        const concept = byKey.get(event.key.toLowerCase());
        if (concept) { api.setConcept(concept.id); return true; }
        return false;
      },
      reset() {
        boxes = copy(original);
        dirty = false;
        render();
      },
    };
    render();
    return api;
  }

  window.ReviewBoxes = { create };
})();
