// The page of `minitorch serve`. It only draws: every number comes from the server's JSON API,
// which computes it with the minitorch library.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

/** Calls the API; resolves to the JSON body, rejects with the server's message on a 4xx/5xx. */
async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new Error("cannot reach the server (" + e.message + ")");
  }
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = null;
  }
  if (!response.ok) {
    const message = data && data.error ? data.error : "HTTP " + response.status;
    throw new Error(message);
  }
  return data;
}

function showError(id, error) {
  const box = $(id);
  if (error) {
    box.textContent = error.message || String(error);
    box.hidden = false;
  } else {
    box.textContent = "";
    box.hidden = true;
  }
}

/** Numbers as the server sends them: finite ones as numbers, others as "NaN", "inf", "-inf". */
function fmt(v, digits = 6) {
  if (typeof v === "string") return v;
  if (v === null || v === undefined) return "–";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(digits - 1);
  return String(Number(v.toPrecision(digits)));
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---------------------------------------------------------------- tabs

const loaded = {};
function showTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) {
    b.classList.toggle("active", b.dataset.tab === name);
  }
  for (const s of document.querySelectorAll("section.tab")) {
    s.hidden = s.id !== "tab-" + name;
  }
  if (!loaded[name]) {
    loaded[name] = true;
    if (name === "autodiff") runAutodiff();
    if (name === "tensor") { runLayout(); runBroadcast(); }
    if (name === "digits") drawBars(null);
  }
  if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
}

for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => showTab(b.dataset.tab));
}

// ---------------------------------------------------------------- drawing points

/** Draws points (x in [0,1]², labels 0/1) over an optional probability grid on a canvas. */
function drawPoints(canvas, pts, grid) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 6;
  const sx = (x) => pad + x * (w - 2 * pad);
  const sy = (y) => h - pad - y * (h - 2 * pad);
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  if (grid) {
    const n = grid.size;
    const cw = (w - 2 * pad) / n, ch = (h - 2 * pad) / n;
    for (let k = 0; k < n * n; k++) {
      const p = grid.p[k];
      const row = Math.floor(k / n), col = k % n;
      // Blue (class 0) to red (class 1), pale.
      const r = Math.round(255 - (1 - p) * 120), b = Math.round(255 - p * 120);
      const g = Math.round(255 - 120 * Math.abs(p - 0.5) * 2 * 0.6);
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(pad + col * cw, h - pad - (row + 1) * ch, cw + 0.5, ch + 0.5);
    }
  }
  ctx.strokeStyle = "#c9ced6";
  ctx.strokeRect(pad, pad, w - 2 * pad, h - 2 * pad);
  if (!pts) return;
  const radius = Math.max(2, Math.min(5, 120 / Math.sqrt(pts.n + 1)));
  for (let i = 0; i < pts.x.length; i++) {
    ctx.beginPath();
    ctx.arc(sx(pts.x[i][0]), sy(pts.x[i][1]), radius, 0, 2 * Math.PI);
    ctx.fillStyle = pts.y[i] === 1 ? "#d9412b" : "#2f6fde";
    ctx.fill();
    ctx.lineWidth = 0.8;
    ctx.strokeStyle = "#1d2430";
    ctx.stroke();
  }
}

// ---------------------------------------------------------------- datasets tab

async function runDatasets(event) {
  if (event) event.preventDefault();
  const pts = $("datasets-pts").value, seed = $("datasets-seed").value;
  try {
    const data = await api(`/api/datasets?pts=${encodeURIComponent(pts)}&seed=${encodeURIComponent(seed)}`);
    showError("datasets-error", null);
    const grid = $("datasets-grid");
    grid.replaceChildren();
    for (const d of data.datasets) {
      const panel = el("div", { class: "panel", "data-name": d.name });
      const title = el("h3");
      title.append(el("span", {}, d.name), el("span", { class: "muted" }, `${d.n} points`));
      const canvas = el("canvas", { width: 260, height: 260 });
      panel.append(title, canvas);
      grid.append(panel);
      drawPoints(canvas, d);
    }
  } catch (e) {
    showError("datasets-error", e);
  }
}
$("datasets-form").addEventListener("submit", runDatasets);

// ---------------------------------------------------------------- train tab

let info = null;
const run = { id: null, source: null, loss: [], correct: [], n: 0, points: null, grid: null, drawPending: false };

function applyPreset() {
  if (!info) return;
  const d = info.datasets.find((x) => x.name === $("train-dataset").value);
  if (!d) return;
  $("train-hidden").value = d.hidden;
  $("train-rate").value = d.rate;
  $("train-epochs").value = d.epochs;
}

async function loadInfo() {
  try {
    info = await api("/api/info");
  } catch (e) {
    showError("train-error", e);
    return;
  }
  $("version").textContent = "v" + info.version;
  for (const d of info.datasets) $("train-dataset").append(el("option", { value: d.name }, d.name));
  for (const b of info.backends) $("train-backend").append(el("option", { value: b }, b));
  $("train-hidden").max = info.limits.hidden;
  $("train-epochs").max = info.limits.epochs;
  $("train-pts").max = info.limits.pts;
  $("datasets-pts").max = info.limits.view_pts;
  showModel();
  applyPreset();
}
$("train-dataset").addEventListener("change", applyPreset);

/** A line chart of `values` (numbers; gaps allowed) in an SVG. */
function lineChart(svg, values, opts) {
  const w = +svg.getAttribute("width"), h = +svg.getAttribute("height");
  const left = 46, right = 10, top = 10, bottom = 22;
  svg.replaceChildren();
  const finite = values.filter((v) => typeof v === "number" && isFinite(v));
  const n = Math.max(values.length, 2);
  let lo = opts.min !== undefined ? opts.min : Math.min(...finite, 0);
  let hi = opts.max !== undefined ? opts.max : Math.max(...finite, 1e-9);
  if (hi <= lo) hi = lo + 1;
  const x = (i) => left + (i / (n - 1)) * (w - left - right);
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (h - top - bottom);
  svg.append(svgEl("rect", { x: left, y: top, width: w - left - right, height: h - top - bottom, fill: "#fff", stroke: "#d7dce3" }));
  for (const t of [lo, (lo + hi) / 2, hi]) {
    svg.append(svgEl("text", { x: left - 4, y: y(t) + 4, "text-anchor": "end" }, fmt(t, 3)));
  }
  svg.append(svgEl("text", { x: left, y: h - 6 }, "1"));
  svg.append(svgEl("text", { x: w - right, y: h - 6, "text-anchor": "end" }, String(values.length)));
  const pts = [];
  values.forEach((v, i) => {
    if (typeof v === "number" && isFinite(v)) pts.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
  });
  svg.append(svgEl("polyline", { points: pts.join(" "), fill: "none", stroke: opts.color, "stroke-width": 1.6 }));
  svg.dataset.points = String(pts.length);
}

function drawRun() {
  run.drawPending = false;
  drawPoints($("boundary"), run.points, run.grid);
  lineChart($("loss-curve"), run.loss, { color: "#d9412b" });
  lineChart($("acc-curve"), run.correct.map((c) => (run.n ? (100 * c) / run.n : 0)), { color: "#2e8b57", min: 0, max: 100 });
  const last = run.loss.length - 1;
  $("train-epoch").textContent = run.loss.length + (run.epochs ? "/" + run.epochs : "");
  $("train-loss").textContent = last >= 0 ? fmt(run.loss[last], 5) : "–";
  $("accuracy").textContent = last >= 0 ? `${run.correct[last]}/${run.n}` : "–";
}

function scheduleDraw() {
  if (!run.drawPending) {
    run.drawPending = true;
    requestAnimationFrame(drawRun);
  }
}

function finishRun(message) {
  if (run.source) run.source.close();
  run.source = null;
  $("train-state").textContent = message;
  $("train-start").disabled = false;
  $("train-stop").disabled = true;
  scheduleDraw();
}

async function startTraining(event) {
  event.preventDefault();
  if (run.source) return;
  const body = {
    dataset: $("train-dataset").value,
    backend: $("train-backend").value,
    hidden: $("train-hidden").value,
    rate: $("train-rate").value,
    epochs: $("train-epochs").value,
    pts: $("train-pts").value,
    batch: $("train-batch").value,
    seed: $("train-seed").value,
  };
  let started;
  try {
    started = await api("/api/train", body);
  } catch (e) {
    showError("train-error", e);
    return;
  }
  showError("train-error", null);
  Object.assign(run, { id: started.id, loss: [], correct: [], n: 0, points: null, grid: null, epochs: started.config.epochs });
  $("train-state").textContent = `Training (run ${started.id}, ${started.config.backend} backend)…`;
  $("train-start").disabled = true;
  $("train-stop").disabled = false;
  const source = new EventSource(started.events);
  run.source = source;
  source.addEventListener("progress", (e) => {
    const p = JSON.parse(e.data);
    p.loss.forEach((v, i) => { run.loss[p.from + i] = v; });
    p.correct.forEach((v, i) => { run.correct[p.from + i] = v; });
    if (p.points) { run.points = p.points; run.n = p.points.n; }
    if (p.grid) run.grid = p.grid;
    scheduleDraw();
  });
  source.addEventListener("done", (e) => {
    const d = JSON.parse(e.data);
    const secs = typeof d.seconds === "number" ? ` in ${d.seconds.toFixed(2)} s` : "";
    if (d.state === "failed") showError("train-error", new Error(d.message));
    finishRun(d.state === "finished" ? `Finished ${d.epoch} epochs${secs}.` : `${d.message[0].toUpperCase()}${d.message.slice(1)} (after ${d.epoch} epochs).`);
    $("train-status").dataset.state = d.state;
  });
  source.onerror = () => {
    if (run.source === source) finishRun("Lost the connection to the server.");
  };
}
$("train-form").addEventListener("submit", startTraining);

$("train-stop").addEventListener("click", async () => {
  if (run.id === null) return;
  try {
    await api(`/api/train/${run.id}/stop`, {});
  } catch (e) {
    showError("train-error", e);
  }
});

// ---------------------------------------------------------------- autodiff tab

function drawGraph(result) {
  const svg = $("graph");
  svg.replaceChildren();
  const nodes = result.nodes;
  // Columns by depth: leaves and constants first, each function right of its inputs.
  const depth = [];
  for (const n of nodes) {
    depth[n.id] = n.inputs.length ? 1 + Math.max(...n.inputs.map((i) => depth[i])) : 0;
  }
  const columns = [];
  for (const n of nodes) (columns[depth[n.id]] = columns[depth[n.id]] || []).push(n);
  const bw = 132, bh = 58, gx = 46, gy = 16, pad = 14;
  const pos = [];
  columns.forEach((col, c) => col.forEach((n, r) => { pos[n.id] = { x: pad + c * (bw + gx), y: pad + r * (bh + gy) }; }));
  const rows = Math.max(...columns.map((c) => c.length));
  svg.setAttribute("width", pad * 2 + columns.length * (bw + gx) - gx);
  svg.setAttribute("height", pad * 2 + rows * (bh + gy) - gy);
  const defs = svgEl("defs");
  const marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  marker.append(svgEl("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#778" }));
  defs.append(marker);
  svg.append(defs);
  for (const n of nodes) {
    for (const i of n.inputs) {
      const a = pos[i], b = pos[n.id];
      const x1 = a.x + bw, y1 = a.y + bh / 2, x2 = b.x, y2 = b.y + bh / 2;
      const mx = (x1 + x2) / 2;
      svg.append(svgEl("path", { class: "edge", d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`, "marker-end": "url(#arrow)" }));
    }
  }
  for (const n of nodes) {
    const kind = n.kind === "fn" ? "fn" : n.kind === "const" ? "const" : "leaf";
    const g = svgEl("g", { class: `node ${kind}${n.id === result.output ? " out" : ""}`, transform: `translate(${pos[n.id].x},${pos[n.id].y})`, "data-id": n.id });
    g.append(svgEl("rect", { width: bw, height: bh }));
    g.append(svgEl("text", { class: "op", x: 8, y: 17 }, n.kind === "const" ? "const " + n.label : n.label));
    g.append(svgEl("text", { x: 8, y: 34 }, "value " + fmt(n.value, 5)));
    g.append(svgEl("text", { x: 8, y: 50 }, n.derivative === null ? "no derivative" : "grad " + fmt(n.derivative, 5)));
    svg.append(g);
  }
}

async function runAutodiff(event) {
  if (event) event.preventDefault();
  try {
    const result = await api("/api/autodiff", { expr: $("expr").value, x: $("x-value").value, y: $("y-value").value });
    showError("autodiff-error", null);
    $("autodiff-result").hidden = false;
    $("f-value").textContent = fmt(result.value, 8);
    for (const d of result.derivatives) {
      $(d.name + "-shown").textContent = fmt(d.value, 8) + (d.used ? "" : " (unused)");
      $("d" + d.name).textContent = fmt(d.autodiff, 8);
      $("d" + d.name + "-central").textContent = fmt(d.central, 8);
      const ok = $("d" + d.name + "-ok");
      ok.textContent = d.ok ? "✓" : "✗";
      ok.className = d.ok ? "good" : "bad";
    }
    drawGraph(result);
  } catch (e) {
    showError("autodiff-error", e);
  }
}
$("autodiff-form").addEventListener("submit", runAutodiff);

// ---------------------------------------------------------------- tensor tab

const tuple = (xs) => "(" + xs.join(", ") + (xs.length === 1 ? ",)" : ")");

function layoutBox(title, l, note) {
  const box = el("div", { class: "layout" });
  box.append(el("h3", {}, title));
  box.append(el("p", { class: "summary" }, `shape ${tuple(l.shape)}  strides ${tuple(l.strides)}  offset ${l.offset}`));
  box.append(el("p", { class: "note" }, (l.contiguous ? "contiguous (row-major)" : "not contiguous") + (note ? " · " + note : "")));
  box.append(el("div", { class: "note" }, "storage"));
  const storage = el("div", { class: "storage" });
  const cells = [];
  const used = new Set(l.cells.map((c) => c.position));
  for (let p = 0; p < l.span; p++) {
    const cell = el("span", { class: "cell" + (used.has(p) ? " used" : "") }, String(p));
    cells.push(cell);
    storage.append(cell);
  }
  box.append(storage);
  box.append(el("div", { class: "note" }, "index → storage position"));
  const list = el("div", { class: "indices" });
  for (const c of l.cells) {
    const chip = el("span", { class: "index", title: `reads storage[${c.position}]` }, `${tuple(c.index)}→${c.position}`);
    chip.addEventListener("mouseenter", () => cells[c.position].classList.add("hot"));
    chip.addEventListener("mouseleave", () => cells[c.position].classList.remove("hot"));
    list.append(chip);
  }
  box.append(list);
  return box;
}

async function runLayout(event) {
  if (event) event.preventDefault();
  const q = new URLSearchParams({
    shape: $("layout-shape").value,
    strides: $("layout-strides").value,
    offset: $("layout-offset").value || "0",
    perm: $("layout-perm").value,
  });
  try {
    const r = await api("/api/layout?" + q);
    showError("layout-error", null);
    const out = $("layout-result");
    out.replaceChildren(
      layoutBox("Tensor", r.layout),
      layoutBox(`Permuted by ${tuple(r.order)}`, r.permuted, "same storage, strides reordered"),
    );
    out.dataset.permutedStrides = r.permuted.strides.join(",");
  } catch (e) {
    showError("layout-error", e);
  }
}
$("layout-form").addEventListener("submit", runLayout);

async function runBroadcast(event) {
  if (event) event.preventDefault();
  const q = new URLSearchParams({ a: $("broadcast-a").value, b: $("broadcast-b").value });
  const out = $("broadcast-result");
  try {
    const r = await api("/api/broadcast?" + q);
    showError("broadcast-error", null);
    out.replaceChildren();
    out.append(el("p", { class: "summary", id: "broadcast-shape" }, `${tuple(r.a)} with ${tuple(r.b)} → ${tuple(r.shape)}`));
    out.append(el("p", { class: "note" }, `a is read with strides ${tuple(r.a_strides)}, b with ${tuple(r.b_strides)} (0: the same element repeats along that dim)`));
    const table = el("table");
    const head = el("tr");
    for (const t of ["out index", "a index", "a position", "b index", "b position"]) head.append(el("th", {}, t));
    table.append(head);
    for (const c of r.cells) {
      const tr = el("tr");
      for (const t of [tuple(c.index), tuple(c.a.index), c.a.position, tuple(c.b.index), c.b.position]) tr.append(el("td", {}, String(t)));
      table.append(tr);
    }
    out.append(table);
  } catch (e) {
    out.replaceChildren();
    showError("broadcast-error", e);
  }
}
$("broadcast-form").addEventListener("submit", runBroadcast);

// ---------------------------------------------------------------- digits tab

const SIDE = 28;
const pad = $("digits-canvas");
const padCtx = pad.getContext("2d");
let stroke = null;
let predicting = 0;

function showModel() {
  const note = $("digits-model");
  if (info && info.mnist) {
    const m = info.mnist;
    note.textContent = "Model: " + m.file + " (" + m.pool + " pooling" +
      (m.normalize ? ", pixels scaled to [0, 1]" : ", pixels 0–255") + ")";
  } else {
    note.textContent = "No model is loaded: train one with `minitorch mnist --save model.safetensors`, " +
      "then start `minitorch serve --mnist-model model.safetensors`.";
  }
}

function clearPad() {
  padCtx.fillStyle = "#000";
  padCtx.fillRect(0, 0, pad.width, pad.height);
  const seen = $("digits-seen").getContext("2d");
  seen.fillStyle = "#000";
  seen.fillRect(0, 0, 140, 140);
  showError("digits-error", null);
  drawBars(null);
}

function padPoint(event) {
  const r = pad.getBoundingClientRect();
  return [(event.clientX - r.left) * pad.width / r.width, (event.clientY - r.top) * pad.height / r.height];
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  stroke = padPoint(event);
  padCtx.fillStyle = "#fff";
  padCtx.beginPath();
  padCtx.arc(stroke[0], stroke[1], 11, 0, 2 * Math.PI);
  padCtx.fill();
});
pad.addEventListener("pointermove", (event) => {
  if (!stroke) return;
  const p = padPoint(event);
  padCtx.strokeStyle = "#fff";
  padCtx.lineWidth = 22;
  padCtx.lineCap = "round";
  padCtx.lineJoin = "round";
  padCtx.beginPath();
  padCtx.moveTo(stroke[0], stroke[1]);
  padCtx.lineTo(p[0], p[1]);
  padCtx.stroke();
  stroke = p;
});
function endStroke() {
  if (!stroke) return;
  stroke = null;
  predictDigit();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);
$("digits-clear").addEventListener("click", clearPad);

/** The drawing as MNIST prepares digits: the ink's box scaled to fit 20×20 (keeping its shape),
 *  then moved so that its centre of mass is the centre of 28×28. Null when nothing is drawn. */
function padPixels() {
  const { data } = padCtx.getImageData(0, 0, pad.width, pad.height);
  let x0 = pad.width, y0 = pad.height, x1 = -1, y1 = -1;
  for (let y = 0; y < pad.height; y++) {
    for (let x = 0; x < pad.width; x++) {
      if (data[4 * (y * pad.width + x)] > 0) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x);
        y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const w = x1 - x0 + 1, h = y1 - y0 + 1;
  const scale = 20 / Math.max(w, h);
  const small = document.createElement("canvas");
  small.width = SIDE; small.height = SIDE;
  const ctx = small.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, SIDE, SIDE);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(pad, x0, y0, w, h, (SIDE - w * scale) / 2, (SIDE - h * scale) / 2, w * scale, h * scale);
  const img = ctx.getImageData(0, 0, SIDE, SIDE).data;
  const fitted = [];
  let mass = 0, mx = 0, my = 0;
  for (let i = 0; i < SIDE * SIDE; i++) {
    const v = img[4 * i];
    fitted.push(v);
    mass += v; mx += v * (i % SIDE + 0.5); my += v * (Math.floor(i / SIDE) + 0.5);
  }
  const dx = mass ? Math.round(SIDE / 2 - mx / mass) : 0;
  const dy = mass ? Math.round(SIDE / 2 - my / mass) : 0;
  const pixels = new Array(SIDE * SIDE).fill(0);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const sx = x - dx, sy = y - dy;
      if (sx >= 0 && sx < SIDE && sy >= 0 && sy < SIDE) pixels[y * SIDE + x] = fitted[sy * SIDE + sx];
    }
  }
  return pixels;
}

function drawSeen(pixels) {
  const seen = $("digits-seen").getContext("2d");
  const cell = 140 / SIDE;
  seen.fillStyle = "#000";
  seen.fillRect(0, 0, 140, 140);
  if (!pixels) return;
  pixels.forEach((v, i) => {
    if (!v) return;
    seen.fillStyle = `rgb(${v},${v},${v})`;
    seen.fillRect((i % SIDE) * cell, Math.floor(i / SIDE) * cell, cell, cell);
  });
}

/** Ten bars (empty when `result` is null). */
function drawBars(result) {
  const bars = $("digits-bars");
  bars.replaceChildren();
  for (let d = 0; d < 10; d++) {
    const p = result ? result.probabilities[d] : 0;
    const row = el("div", { class: "digit-row" + (result && result.digit === d ? " best" : ""), "data-digit": d, "data-p": p });
    const track = el("div", { class: "track" });
    const bar = el("div", { class: "bar" });
    bar.style.width = (100 * p).toFixed(1) + "%";
    track.append(bar);
    row.append(el("span", {}, String(d)), track, el("span", { class: "pct" }, result ? (100 * p).toFixed(1) + "%" : "–"));
    bars.append(row);
  }
  $("digits-guess").textContent = result ? "— the model reads a " + result.digit : "";
}

async function predictDigit() {
  const pixels = padPixels();
  drawSeen(pixels);
  if (!pixels) { drawBars(null); return; }
  const ticket = ++predicting;
  try {
    const result = await api("/api/mnist/predict", { pixels });
    if (ticket !== predicting) return;
    showError("digits-error", null);
    drawBars(result);
  } catch (e) {
    if (ticket !== predicting) return;
    drawBars(null);
    showError("digits-error", e);
  }
}

// ---------------------------------------------------------------- start

loadInfo();
runDatasets();
drawRun();
const first = location.hash.slice(1);
clearPad();
showTab(["datasets", "train", "autodiff", "tensor", "digits"].includes(first) ? first : "datasets");
