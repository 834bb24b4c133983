// The page of `pixelar serve`: the model chosen, watched sampling, the uploads to the app's
// /api endpoints (see pixelar/web/app.py), and what each control does. Needs common.js and canvas.js.
"use strict";

// -- the model -----------------------------------------------------------------------------

function chooseModel(name) {
  setLoading(null); // a test image still loading is the last model's
  state.model = state.models.find((m) => m.name === name) || null;
  const m = state.model;
  if (!m) return;
  if (m.error) {
    $("model-info").textContent = "";
    showError("page", m.error);
    return;
  }
  clearError("page");
  const [C, H, W] = m.image_shape;
  $("model-info").textContent =
    `${m.model}: ${W}×${H}, ${C === 1 ? "greyscale" : "colour"}, ${m.num_levels} levels` +
    (m.num_classes ? `, ${m.num_classes} classes` : "");
  for (const el of document.querySelectorAll(".conditional")) el.hidden = !m.num_classes;
  const select = $("label");
  select.innerHTML = "";
  for (let k = 0; k < m.num_classes; k++) select.add(new Option(String(k), String(k)));
  const order = $("order");
  order.innerHTML = "";
  // "auto" sends no order: the model's own for sampling, and for completion the order the
  // library chooses (one it was trained in that takes the known pixels first, if any)
  if (m.orders.length > 1) order.add(new Option("auto", ""));
  for (const name of m.orders) order.add(new Option(name, name));
  order.disabled = m.orders.length < 2; // a raster-only model: raster alone
  const canvas = $("canvas");
  canvas.width = W;
  canvas.height = H;
  $("keep-rows").max = H;
  $("keep-rows").value = Math.floor(H / 2);
  $("brush-size").value = Math.max(1, Math.round(W / 14));
  clearCanvas();
  clearHole();
}

async function loadInfo() {
  try {
    const resp = await fetch("/api/info");
    if (!resp.ok) throw new Error(await responseError(resp));
    const info = await resp.json();
    state.models = info.models;
    state.limits = info.limits;
  } catch (e) {
    showError("page", e instanceof TypeError ? networkError(e) : e.message);
    return;
  }
  const select = $("model");
  for (const m of state.models) select.add(new Option(m.name, m.name));
  select.addEventListener("change", () => chooseModel(select.value));
  $("sample-n").max = state.limits.max_samples;
  $("complete-n").max = state.limits.max_samples;
  chooseModel(select.value);
  document.body.dataset.ready = "true";
}

// -- sampling (a stream of Server-Sent Events read with fetch) ------------------------------

async function generate() {
  clearError("sample");
  if (state.sampling) state.sampling.abort();
  const controller = new AbortController();
  state.sampling = controller;
  $("generate").disabled = true;
  $("stop").disabled = false;
  $("sample-progress").value = 0;
  setStatus("sample-status", "sampling…");
  const url = "/api/sample?" + query({
    n: $("sample-n").value, temperature: $("temperature").value, label: label(), seed: $("seed").value,
    order: $("order").value,
  });
  try {
    const resp = await fetch(url, { signal: controller.signal });
    if (!resp.ok) throw new Error(await responseError(resp));
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        onEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (e) {
    if (e.name === "AbortError") setStatus("sample-status", "stopped");
    else {
      setStatus("sample-status", "");
      showError("sample", e instanceof TypeError ? networkError(e) : e.message);
    }
  } finally {
    if (state.sampling === controller) state.sampling = null;
    $("generate").disabled = false;
    $("stop").disabled = true;
  }
}

function onEvent(block) {
  let kind = "message";
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) kind = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  const payload = JSON.parse(data || "{}");
  if (kind === "error") {
    setStatus("sample-status", "");
    showError("sample", payload.error);
    return;
  }
  $("sample-image").src = payload.image;
  $("sample-progress").value = payload.filled;
  if (kind === "done") {
    setStatus("sample-status", `done: ${payload.images.length} image(s), drawn in ${payload.order} order`);
    $("sample-image").dataset.done = "true";
  } else {
    setStatus("sample-status",
      `sampling in ${$("order").value || "the model's"} order… ${Math.round(100 * payload.filled)}% of the sub-pixels drawn`);
    delete $("sample-image").dataset.done;
  }
}

// -- uploads -------------------------------------------------------------------------------

// POST a file (or the drawing) to an endpoint; the response, or an Error with the app's message.
async function upload(path, blob, filename, params) {
  if (blob.size > state.limits.max_upload_bytes) {
    throw new Error(
      `the upload is larger than the limit of ${sizeText(state.limits.max_upload_bytes)}; choose a smaller file`,
    );
  }
  let resp;
  try {
    resp = await fetch(`${path}?` + query({ ...params, filename }), { method: "POST", body: blob });
  } catch (e) {
    throw new Error(networkError(e));
  }
  if (!resp.ok) throw new Error(await responseError(resp));
  return resp;
}

function fileOf(input) {
  const file = input.files && input.files[0];
  input.value = ""; // the same file can be chosen again
  return file;
}

async function runTask(section, statusId, busyText, task) {
  clearError(section);
  setStatus(statusId, busyText);
  try {
    await task();
  } catch (e) {
    setStatus(statusId, "");
    showError(section, e.message);
  }
}

// Completions of an image: of the pixels in `hidden` (the hole painted over the drawing, see
// holeMask) when given, else of all but its top rows.
function complete(blob, filename, hidden = null) {
  return runTask("complete", "complete-status", "completing…", async () => {
    const resp = await upload("/api/complete", blob, filename, {
      ...(hidden ? { hidden } : { keep_rows: $("keep-rows").value }),
      order: $("order").value, n: $("complete-n").value, temperature: $("temperature").value,
      label: label(), seed: $("seed").value,
    });
    const body = await resp.json();
    $("complete-image").src = body.image;
    const what = hidden ? `filled a hole of ${body.hidden_pixels} pixel(s)` : `kept the top ${body.keep_rows} rows`;
    const how = body.exact
      ? "every known pixel first: exact draws given all of them"
      : "known pixels after the first unknown one are kept, but what is drawn before them does not see them";
    setStatus("complete-status",
      `${what} in ${body.order} order (${how}); each row: the input, ${body.completions.length} completions, the original`);
  });
}

function bits(blob, filename) {
  return runTask("bits", "bits-summary", "measuring…", async () => {
    const resp = await upload("/api/bits", blob, filename, { label: label() });
    const body = await resp.json();
    $("bits-image").src = body.image;
    setStatus("bits-summary",
      `${body.width}×${body.height}: ${body.total_bits.toFixed(1)} bits in all, ${body.bits_per_dim.toFixed(3)} bits/dim; ` +
      `the costliest pixel ${body.max_bits.toFixed(2)} bits`);
  });
}

// -- OOD scores ----------------------------------------------------------------------------

// The scores /api/ood gives: how each is named on the page, and its decimals.
const OOD_SCORES = {
  bits_per_dim: { name: "bits/dim", short: "bits/dim", digits: 4 },
  corrected_png_bits: { name: "complexity-corrected (PNG) bits", short: "complexity-corrected", digits: 1 },
  typicality_nats: { name: "typicality (nats)", short: "typicality", digits: 2 },
};

// A score as text; null is a score JSON cannot hold (an image of probability 0: infinite).
function scoreText(value, digits) {
  return value === null ? "∞" : value.toFixed(digits);
}

function ood(blob, filename) {
  return runTask("ood", "ood-summary", "scoring… (the first time, with the model's training images)", async () => {
    const resp = await upload("/api/ood", blob, filename, { label: label() });
    state.ood = await resp.json();
    showOod();
  });
}

// The last scores: the numbers, the note of why there is no reference (the model's training
// data could not be read), and the histogram of the score chosen over the training images with
// the image's value marked, and its percentiles among them.
function showOod() {
  const body = state.ood;
  if (!body) return;
  const ref = body.reference;
  setStatus("ood-summary",
    `NLL ${scoreText(body.nll_nats, 2)} nats (${scoreText(body.bits_per_dim, 4)} bits/dim); ` +
    `PNG ${body.png_bits} bits, complexity-corrected ${scoreText(body.corrected_png_bits, 1)} bits` +
    (ref ? `; typicality ${scoreText(body.typicality_nats, 2)} nats (the training images' mean NLL: ${ref.entropy_nats.toFixed(2)})` : ""));
  $("ood-note").textContent = body.note || "";
  $("ood-note").hidden = !body.note;
  $("ood-histogram").hidden = !ref;
  if (!ref) {
    setStatus("ood-percentile", "");
    return;
  }
  const key = $("ood-score").value;
  drawHistogram($("ood-histogram"), ref.scores[key], body[key], OOD_SCORES[key], ref);
  const percentiles = Object.entries(ref.scores)
    .map(([k, h]) => `${OOD_SCORES[k].short} ${h.percentile === null ? "?" : h.percentile}`).join(", ");
  setStatus("ood-percentile",
    `percentiles among ${ref.images} ${ref.data} training images (the share that scores lower): ${percentiles}`);
}

// A histogram (edges, counts) of a score over the reference on `canvas`, with a red line at
// the image's `value` (at the right end when infinite); the axis spans both.
function drawHistogram(canvas, hist, value, what, ref) {
  const ctx = canvas.getContext("2d");
  const [W, H, left, right, top, bottom] = [canvas.width, canvas.height, 12, 12, 20, 32];
  const edges = hist.edges;
  let [lo, hi] = [edges[0], edges[edges.length - 1]];
  if (value !== null) [lo, hi] = [Math.min(lo, value), Math.max(hi, value)];
  const pad = (hi - lo) * 0.03 || 0.5;
  [lo, hi] = [lo - pad, hi + pad];
  const x = (v) => left + ((v - lo) / (hi - lo)) * (W - left - right);
  const base = H - bottom;
  const most = Math.max(1, ...hist.counts);
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = "#7a9cc6";
  hist.counts.forEach((count, i) => {
    const h = (count / most) * (base - top);
    ctx.fillRect(x(edges[i]), base - h, Math.max(1, x(edges[i + 1]) - x(edges[i]) - 1), h);
  });
  ctx.fillStyle = "#999";
  ctx.fillRect(left, base, W - left - right, 1);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#555";
  ctx.textAlign = "center";
  for (const edge of [edges[0], edges[edges.length - 1]]) ctx.fillText(scoreText(edge, what.digits), x(edge), base + 13);
  ctx.fillText(`${what.name} of ${ref.images} ${ref.data} training images`, W / 2, H - 4);
  const marker = value === null ? W - right : x(value);
  ctx.fillStyle = "#d22";
  ctx.fillRect(marker - 1, top - 6, 2, base - top + 6);
  const onLeft = marker > W / 2;
  ctx.textAlign = onLeft ? "right" : "left";
  ctx.fillText(`this image: ${scoreText(value, what.digits)}`, marker + (onLeft ? -5 : 5), top - 8 + 10);
  canvas.setAttribute("aria-label",
    `histogram of the ${what.name} of ${ref.images} training images; this image's: ${scoreText(value, what.digits)}`);
}

function compress(blob, filename) {
  return runTask("compress", "compress-summary", "compressing…", async () => {
    const resp = await upload("/api/compress", blob, filename, { label: label() });
    const summary = JSON.parse(resp.headers.get("X-Pixelar-Summary") || "{}");
    const match = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "");
    const name = match ? match[1] : "images.pxz";
    const data = await resp.blob();
    if (state.pxzUrl) URL.revokeObjectURL(state.pxzUrl);
    state.pxzUrl = URL.createObjectURL(data);
    const link = $("pxz-link");
    link.href = state.pxzUrl;
    link.download = name;
    link.textContent = `download ${name} (${sizeText(data.size)})`;
    link.hidden = false;
    setStatus("compress-summary",
      `${summary.images} image(s), ${sizeText(summary.upload_bytes)} uploaded → ${sizeText(summary.bytes)}: ` +
      `${summary.bits_per_dim.toFixed(3)} bits/dim (the model's NLL: ${summary.nll_bits_per_dim === null ? "infinite" : summary.nll_bits_per_dim.toFixed(3)})`);
  });
}

function decompress(blob, filename) {
  return runTask("decompress", "decompress-summary", "restoring…", async () => {
    const resp = await upload("/api/decompress", blob, filename, {});
    const body = await resp.json();
    const box = $("decompress-images");
    box.innerHTML = "";
    for (const src of body.images) {
      const img = new Image();
      img.className = "pixels restored";
      img.alt = "restored image";
      img.src = src;
      box.append(img);
    }
    const sizes = body.sizes.map(([w, h]) => `${w}×${h}`).join(", ");
    setStatus("decompress-summary", `restored ${body.images.length} image(s): ${sizes}`);
  });
}

function onFile(id, action) {
  $(id).addEventListener("change", (e) => {
    const file = fileOf(e.target);
    if (file) action(file, file.name);
  });
}

// A file dropped on the element `id` is handed to `action`, as one chosen would be.
function onDrop(id, action) {
  const box = $(id);
  box.addEventListener("dragover", (e) => {
    e.preventDefault();
    box.classList.add("dropping");
  });
  box.addEventListener("dragleave", () => box.classList.remove("dropping"));
  box.addEventListener("drop", (e) => {
    e.preventDefault();
    box.classList.remove("dropping");
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) action(file, file.name);
  });
}

// -- wiring --------------------------------------------------------------------------------

$("generate").addEventListener("click", generate);
$("stop").addEventListener("click", () => state.sampling && state.sampling.abort());
$("example").addEventListener("click", loadExample);
$("complete-drawing").addEventListener("click", () => withDrawing((blob, name) => complete(blob, name, holeMask())));
$("bits-drawing").addEventListener("click", () => withDrawing(bits));
$("compress-drawing").addEventListener("click", () => withDrawing(compress));
$("ood-drawing").addEventListener("click", () => withDrawing(ood));
$("ood-score").addEventListener("change", showOod);
onFile("complete-file", complete);
onFile("bits-file", bits);
onFile("ood-file", ood);
onDrop("ood", ood);
onFile("compress-file", compress);
onFile("decompress-file", decompress);
setUpDrawing();
loadInfo();
