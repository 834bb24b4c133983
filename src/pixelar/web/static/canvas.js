// The canvas of the page of `pixelar serve`: drawing on it, painting a hole over it, loading a
// test image into it, and the snapshot of it (and of the hole) that a request sends. Needs common.js.
"use strict";

// The buttons that send what the canvas shows: disabled while a test image loads into it.
const CANVAS_READERS = ["complete-drawing", "bits-drawing", "ood-drawing", "compress-drawing"];

// Marks `load` as the test image loading into the canvas (null: none), which supersedes any
// load before it, and disables the buttons that read the canvas until it is drawn.
function setLoading(load) {
  state.loading = load;
  for (const id of CANVAS_READERS) $(id).disabled = load !== null;
  $("canvas").setAttribute("aria-busy", String(load !== null));
}

// Clears the canvas to black; a test image still loading would then replace the cleared
// canvas (or land on another model's), so it is dropped.
function clearCanvas() {
  setLoading(null);
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

// The keep line marks the rows a completion keeps; hidden while a hole is painted (the hole is
// what a completion fills then).
function showKeepLine() {
  const H = $("canvas").height;
  const rows = Math.min(H, Math.max(0, Number($("keep-rows").value) || 0));
  $("keep-line").style.top = `${(100 * rows) / H}%`;
  $("keep-line").hidden = holeMask() !== null;
}

// Clears the hole painted over the canvas (and sizes it as the canvas).
function clearHole() {
  const hole = $("hole");
  hole.width = $("canvas").width;
  hole.height = $("canvas").height;
  hole.getContext("2d").clearRect(0, 0, hole.width, hole.height);
  showKeepLine();
}

// -- drawing -------------------------------------------------------------------------------

// The canvas pixel under a pointer event.
function pixelAt(event) {
  const canvas = $("canvas");
  const rect = canvas.getBoundingClientRect();
  return [
    Math.floor(((event.clientX - rect.left) / rect.width) * canvas.width),
    Math.floor(((event.clientY - rect.top) / rect.height) * canvas.height),
  ];
}

// A stroke of the brush from pixel `from` to pixel `to` (squares along the line, no gaps): on
// the image, or on the hole over it.
function stroke(from, to) {
  const onHole = $("tool").value === "hole";
  const ctx = $(onHole ? "hole" : "canvas").getContext("2d");
  const size = Math.max(1, Number($("brush-size").value) || 1);
  const half = Math.floor(size / 2);
  ctx.fillStyle = onHole ? "#f00" : $("brush").value;
  const steps = Math.max(Math.abs(to[0] - from[0]), Math.abs(to[1] - from[1]), 1);
  for (let i = 0; i <= steps; i++) {
    const x = Math.round(from[0] + ((to[0] - from[0]) * i) / steps);
    const y = Math.round(from[1] + ((to[1] - from[1]) * i) / steps);
    ctx.fillRect(x - half, y - half, size, size);
  }
}

function setUpDrawing() {
  const canvas = $("canvas");
  let last = null;
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    last = pixelAt(e);
    stroke(last, last);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!last) return;
    const here = pixelAt(e);
    stroke(last, here);
    last = here;
  });
  canvas.addEventListener("pointerup", () => { last = null; showKeepLine(); });
  canvas.addEventListener("pointercancel", () => { last = null; showKeepLine(); });
  $("clear").addEventListener("click", clearCanvas);
  $("clear-hole").addEventListener("click", clearHole);
  $("keep-rows").addEventListener("input", showKeepLine);
}

// -- test images ---------------------------------------------------------------------------

// Loads the next test image of the model's dataset into the canvas. Until it is drawn the
// buttons that read the canvas are disabled; a later load, a clear or another model drops it.
async function loadExample() {
  clearError("complete");
  state.exampleIndex += 1;
  const load = { index: state.exampleIndex };
  const current = () => state.loading === load;
  setLoading(load);
  setStatus("complete-status", "loading a test image…");
  try {
    const resp = await fetch("/api/example?" + query({ index: load.index }));
    if (!resp.ok) throw new Error(await responseError(resp));
    const body = await resp.json();
    const img = new Image();
    img.src = body.image;
    await img.decode();
    if (!current()) return;
    const canvas = $("canvas");
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    if (body.label !== null && state.model.num_classes) $("label").value = String(body.label);
    setStatus("complete-status", `test image ${body.index}` + (body.label !== null ? ` (class ${body.label})` : ""));
  } catch (e) {
    if (!current()) return;
    setStatus("complete-status", "");
    showError("complete", e instanceof TypeError ? networkError(e) : e.message);
  } finally {
    if (current()) setLoading(null);
  }
}

// -- what a request sends ------------------------------------------------------------------

// The drawing as it is now, as a PNG the model can read: every value rounded to one of its
// levels (and grey for a greyscale model), fully opaque; the canvas shows the rounded drawing.
// Taken at once (no await), so that nothing drawn or loaded later can change it.
function drawingSnapshot() {
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const K = state.model ? state.model.num_levels : 256;
  const grey = state.model && state.model.image_shape[0] === 1;
  const level = (v) => Math.round((Math.round((v * (K - 1)) / 255) * 255) / (K - 1));
  const px = image.data;
  for (let i = 0; i < px.length; i += 4) {
    if (grey) {
      const g = level((px[i] + px[i + 1] + px[i + 2]) / 3);
      px[i] = px[i + 1] = px[i + 2] = g;
    } else {
      for (let c = 0; c < 3; c++) px[i + c] = level(px[i + c]);
    }
    px[i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  const base64 = canvas.toDataURL("image/png").split(",", 2)[1];
  return new Blob([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], { type: "image/png" });
}

// The hole painted over the canvas as the app's `hidden` parameter: one bit per pixel (1: in
// the hole), row by row, most significant bit first, in URL-safe base64; null when it is empty.
function holeMask() {
  const hole = $("hole");
  const px = hole.getContext("2d").getImageData(0, 0, hole.width, hole.height).data;
  const count = hole.width * hole.height;
  const bytes = new Uint8Array(Math.ceil(count / 8));
  let any = false;
  for (let i = 0; i < count; i++) {
    if (px[4 * i + 3] > 0) {
      bytes[i >> 3] |= 0x80 >> (i & 7);
      any = true;
    }
  }
  if (!any) return null;
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// Hands `action` the snapshot of the drawing, at once: the request it sends carries the canvas
// as it was at the click (with the settings of that moment). Nothing while a test image loads.
function withDrawing(action) {
  if (state.loading === null) action(drawingSnapshot(), "drawing.png");
}
