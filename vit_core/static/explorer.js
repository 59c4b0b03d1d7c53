// The attention explorer's front end, shared by the live widget and the static book page.
//
// render({model, el}) draws the explorer into el. The model is anywidget's (get/set/on/save_changes) in
// Jupyter, or, in the book, the small shim that mount() builds over the exported data. Data format: see
// vit_core/explorer.py. Loaded as a classic script (book) it defines the global VitExplorer; the live widget
// appends an ES module export to this same source.
var VitExplorer = (function () {
  "use strict";

  const MAIN = 288; // main canvas size in CSS pixels
  const THUMB = 96; // per-head canvas size
  const MODE_LABELS = { raw: "Raw attention", rollout: "Rollout", class: "Class-specific" };

  // An inferno-like colour map: 5 stops interpolated into 256 RGB entries.
  const STOPS = [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]];
  const LUT = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (STOPS.length - 1), k = Math.min(Math.floor(t), STOPS.length - 2), f = t - k;
    for (let c = 0; c < 3; c++) LUT[i * 3 + c] = Math.round(STOPS[k][c] * (1 - f) + STOPS[k + 1][c] * f);
  }

  // Arrays travel as base64 of zlib-compressed uint8 (see vit_core/explorer.py); inflating is asynchronous.
  async function unpack(b64) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  const decoded = new WeakMap(); // record -> its arrays, once inflated
  const inflating = new WeakMap(); // record -> the promise of them
  function inflate(record) {
    if (!inflating.has(record)) {
      const keys = ["pixels", "attn", "rollout", "class"];
      inflating.set(record, Promise.all(keys.map((k) => unpack(record[k]))).then((parts) => {
        const a = {};
        keys.forEach((k, i) => { a[k] = parts[i]; });
        decoded.set(record, a);
        return a;
      }));
    }
    return inflating.get(record);
  }

  function argmax(a) {
    return a.reduce((best, v, i) => (v > a[best] ? i : best), 0);
  }

  // The map on show (N uint8 values) for a view {mode, layer, head, query, target} of a record's inflated
  // arrays a: the same rule as select_map in vit_core/explorer.py.
  function selectMap(meta, record, a, v) {
    const L = meta.layers, H = meta.heads, N = meta.grid * meta.grid;
    let arr, offset;
    if (v.mode === "raw") {
      arr = a.attn;
      offset = ((v.layer * (H + 1) + (v.head < 0 ? H : v.head)) * (1 + N) + v.query + 1) * N;
    } else if (v.mode === "rollout") {
      arr = a.rollout;
      offset = (v.layer * (1 + N) + v.query + 1) * N;
    } else {
      arr = a.class;
      offset = ((v.target < 0 ? argmax(record.probs) : v.target) * L + v.layer) * N;
    }
    return arr.subarray(offset, offset + N);
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function canvas(size, cls) {
    const c = el("canvas", cls), dpr = window.devicePixelRatio || 1;
    c.width = c.height = Math.round(size * dpr);
    c.style.width = c.style.height = size + "px";
    return c;
  }

  // An off-screen canvas holding a w x w RGBA image; fill(i) returns [r, g, b, a] of pixel i.
  function bitmap(w, fill) {
    const c = document.createElement("canvas");
    c.width = c.height = w;
    const ctx = c.getContext("2d"), img = ctx.createImageData(w, w);
    for (let i = 0; i < w * w; i++) img.data.set(fill(i), i * 4);
    ctx.putImageData(img, 0, 0);
    return c;
  }

  function pixelsBitmap(p, size) { // p: (size, size, 3) RGB
    return bitmap(size, (i) => [p[i * 3], p[i * 3 + 1], p[i * 3 + 2], 255]);
  }

  function heatBitmap(map, grid, alpha) {
    return bitmap(grid, (i) => [LUT[map[i] * 3], LUT[map[i] * 3 + 1], LUT[map[i] * 3 + 2], Math.round(alpha * 255)]);
  }

  // Draw the image, the heat map over it (smoothly upsampled) and, optionally, the patch grid and query.
  function paint(c, imageBitmap, map, grid, alpha, query) {
    const ctx = c.getContext("2d"), s = c.width;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(imageBitmap, 0, 0, s, s);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(heatBitmap(map, grid, alpha), 0, 0, s, s);
    if (query === undefined) return;
    const cell = s / grid;
    ctx.strokeStyle = "rgba(255,255,255,0.35)";
    ctx.lineWidth = 1;
    for (let k = 1; k < grid; k++) {
      ctx.beginPath(); ctx.moveTo(k * cell, 0); ctx.lineTo(k * cell, s); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(0, k * cell); ctx.lineTo(s, k * cell); ctx.stroke();
    }
    if (query >= 0) {
      ctx.strokeStyle = "#00e5ff";
      ctx.lineWidth = Math.max(2, s / 120);
      ctx.strokeRect((query % grid) * cell + 1, Math.floor(query / grid) * cell + 1, cell - 2, cell - 2);
    }
  }

  function render({ model, el: root }) {
    const m = model, meta = () => m.get("meta");
    const set = (k, v) => { m.set(k, v); m.save_changes(); };
    root.classList.add("vx");
    root.replaceChildren();

    const gallery = el("div", "vx-gallery");
    const row = el("div", "vx-row");
    const mainWrap = el("div", "vx-main-wrap");
    const main = canvas(MAIN, "vx-main");
    main.title = "Click a patch to see where it attends";
    const caption = el("div", "vx-caption");
    mainWrap.append(main, caption);

    const side = el("div", "vx-side");
    const modeBox = el("div", "vx-buttons");
    const layerInput = el("input");
    layerInput.type = "range"; layerInput.min = 0; layerInput.step = 1;
    layerInput.setAttribute("aria-label", "layer");
    const layerValue = el("span", "vx-value");
    const headBox = el("div", "vx-buttons");
    const queryText = el("span", "vx-value");
    const pooledButton = el("button", "vx-btn"); // labelled on each render: CLS or pooled
    const targetSelect = el("select", "vx-select");
    targetSelect.setAttribute("aria-label", "target class");
    const opacityInput = el("input");
    opacityInput.type = "range"; opacityInput.min = 0; opacityInput.max = 1; opacityInput.step = 0.05;
    opacityInput.setAttribute("aria-label", "opacity");
    const top5 = el("div", "vx-top5");

    function field(label, ...children) {
      const f = el("div", "vx-field");
      f.append(el("span", "vx-label", label), ...children);
      side.append(f);
      return f;
    }
    field("Mode", modeBox);
    field("Layer", layerInput, layerValue);
    field("Head", headBox);
    field("Query", queryText, pooledButton);
    const targetField = field("Class", targetSelect);
    field("Opacity", opacityInput);
    side.append(el("div", "vx-label", "Top-5 prediction"), top5);
    row.append(mainWrap, side);

    const headsTitle = el("div", "vx-label");
    const heads = el("div", "vx-heads");
    root.append(gallery, row, headsTitle, heads);

    for (const mode of Object.keys(MODE_LABELS)) {
      const b = el("button", "vx-btn", MODE_LABELS[mode]);
      b.dataset.mode = mode;
      b.onclick = () => set("mode", mode);
      modeBox.append(b);
    }
    layerInput.oninput = () => set("layer", Number(layerInput.value));
    opacityInput.oninput = () => set("opacity", Number(opacityInput.value));
    targetSelect.onchange = () => set("target", Number(targetSelect.value));
    pooledButton.onclick = () => set("query", -1);
    main.onclick = (ev) => {
      const r = main.getBoundingClientRect(), g = meta().grid;
      const col = Math.min(g - 1, Math.floor(((ev.clientX - r.left) / r.width) * g));
      const rw = Math.min(g - 1, Math.floor(((ev.clientY - r.top) / r.height) * g));
      set("query", rw * g + col);
    };

    let imageBitmap = null, imageKey = null;

    function buildStatic() { // parts that change only with the meta data or the gallery
      const mt = meta();
      layerInput.max = mt.layers - 1;
      headBox.replaceChildren();
      heads.replaceChildren();
      for (let h = -1; h < mt.heads; h++) {
        const b = el("button", "vx-btn", h < 0 ? "Mean" : String(h + 1));
        b.dataset.head = h;
        b.onclick = () => set("head", h);
        headBox.append(b);
        const cell = el("figure", "vx-head");
        const c = canvas(THUMB, "vx-head-canvas");
        c.onclick = () => { set("mode", "raw"); set("head", h); };
        cell.append(c, el("figcaption", "", h < 0 ? "mean" : "head " + (h + 1)));
        heads.append(cell);
      }
      targetSelect.replaceChildren(el("option", "", "predicted"));
      targetSelect.firstChild.value = -1;
      mt.classes.forEach((name, i) => {
        const o = el("option", "", name);
        o.value = i;
        targetSelect.append(o);
      });
      gallery.replaceChildren();
      m.get("gallery").forEach((g, i) => {
        const b = el("button", "vx-thumb");
        b.title = g.label == null ? "image " + (i + 1) : mt.classes[g.label];
        const c = canvas(40);
        unpack(g.pixels).then((p) => c.getContext("2d").drawImage(pixelsBitmap(p, mt.img), 0, 0, c.width, c.height));
        b.append(c);
        b.onclick = () => set("image_index", i);
        gallery.append(b);
      });
    }

    function update() {
      const t0 = performance.now();
      const mt = meta(), record = m.get("record");
      if (!record || !record.attn) return;
      const a = decoded.get(record);
      if (!a) { // first view of this record: inflate it, then draw (unless another record came meanwhile)
        inflate(record).then(() => { if (m.get("record") === record) update(); });
        return;
      }
      const view = { mode: m.get("mode"), layer: m.get("layer"), head: m.get("head"), query: m.get("query"),
        target: m.get("target") };
      const { mode, layer, head, query } = view, alpha = m.get("opacity");
      if (imageKey !== record) {
        imageBitmap = pixelsBitmap(a.pixels, mt.img);
        imageKey = record;
      }
      const map = selectMap(mt, record, a, view);
      paint(main, imageBitmap, map, mt.grid, alpha, mode === "class" ? undefined : query);
      main.dataset.map = map.join(",");

      const where = query < 0 ? (mt.pool === "cls" ? "CLS token" : "pooled (mean over queries)")
        : "patch (row " + (Math.floor(query / mt.grid) + 1) + ", col " + (query % mt.grid + 1) + ")";
      const target = view.target < 0 ? argmax(record.probs) : view.target;
      caption.textContent = mode === "raw"
        ? "Layer " + (layer + 1) + ", " + (head < 0 ? "mean of heads" : "head " + (head + 1)) + ", query: " + where
        : mode === "rollout" ? "Rollout through layer " + (layer + 1) + ", query: " + where
          : "Evidence for \u201c" + mt.classes[target] + "\u201d through layer " + (layer + 1);

      const chosen = m.get("gallery")[m.get("image_index")];
      if (chosen && chosen.pixels !== record.pixels) { // the live widget is still computing the chosen image
        caption.textContent = "Computing this image's attention\u2026 (this needs a running Python kernel)";
      }
      for (const b of modeBox.children) b.classList.toggle("vx-on", b.dataset.mode === mode);
      for (const b of headBox.children) {
        b.classList.toggle("vx-on", Number(b.dataset.head) === head);
        b.disabled = mode !== "raw";
      }
      layerInput.value = layer;
      layerValue.textContent = layer + 1 + " / " + mt.layers;
      opacityInput.value = alpha;
      queryText.textContent = mode === "class" ? "(not used)" : where;
      pooledButton.textContent = mt.pool === "cls" ? "Back to CLS token" : "Back to pooled";
      pooledButton.disabled = query < 0 || mode === "class";
      targetSelect.value = view.target;
      targetField.style.display = mode === "class" ? "" : "none";
      gallery.childNodes.forEach((b, i) => b.classList.toggle("vx-on", i === m.get("image_index")));

      top5.replaceChildren();
      const order = record.probs.map((p, i) => i).sort((i, j) => record.probs[j] - record.probs[i]).slice(0, 5);
      for (const i of order) {
        const line = el("div", "vx-bar" + (i === record.label ? " vx-true" : ""));
        const bar = el("span", "vx-bar-fill");
        bar.style.width = (100 * record.probs[i]).toFixed(1) + "%";
        line.append(el("span", "vx-bar-name", mt.classes[i]), bar,
          el("span", "vx-bar-p", (100 * record.probs[i]).toFixed(1) + "%"));
        top5.append(line);
      }
      if (record.label != null) {
        top5.append(el("div", "vx-note", "true class: " + mt.classes[record.label]));
      }

      headsTitle.textContent = "Each head of layer " + (layer + 1) + ", query: " + where + " (click to select)";
      heads.childNodes.forEach((cell, k) => {
        const h = k - 1;
        cell.classList.toggle("vx-on", mode === "raw" && h === head);
        paint(cell.firstChild, imageBitmap, selectMap(mt, record, a, { mode: "raw", layer, head: h, query }),
          mt.grid, alpha);
      });
      root.dataset.renderMs = (performance.now() - t0).toFixed(2);
    }

    buildStatic();
    update();
    const events = ["record", "layer", "head", "query", "mode", "opacity", "target", "image_index"];
    const onGallery = () => { buildStatic(); update(); };
    events.forEach((k) => m.on("change:" + k, update));
    m.on("change:gallery", onGallery);
    m.on("change:meta", onGallery);
    return () => {
      events.forEach((k) => m.off("change:" + k, update));
      m.off("change:gallery", onGallery);
      m.off("change:meta", onGallery);
    };
  }

  // The static page's stand-in for anywidget's model: the exported data and the same state keys.
  function mount(root, data) {
    if (!data) {
      root.textContent = "The explorer's data is missing: build it with python -m vit_core.export_explorer.";
      return null;
    }
    const state = {
      meta: data.meta, gallery: data.images.map((r) => ({ pixels: r.pixels, label: r.label })),
      record: data.images[0], image_index: 0, layer: data.meta.layers - 1, head: -1, query: -1,
      mode: "raw", opacity: 0.6, target: -1,
    };
    const handlers = {};
    const model = {
      get: (k) => state[k],
      set(k, v) {
        if (state[k] === v) return;
        state[k] = v;
        if (k === "image_index") model.set("record", data.images[v]);
        (handlers["change:" + k] || []).forEach((f) => f());
      },
      on(ev, f) { (handlers[ev] = handlers[ev] || []).push(f); },
      off(ev, f) { handlers[ev] = (handlers[ev] || []).filter((g) => g !== f); },
      save_changes() {},
    };
    render({ model, el: root });
    return model;
  }

  return { render, mount, selectMap };
})();
