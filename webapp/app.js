// The gan-ad web app: the run's networks (ONNX, run by onnxruntime-web in WebAssembly) judge a digit in the browser.
// What it computes is gan_ad.export.Exported (Python), which the parity tests compare with the run's detectors.
"use strict";

const ganAd = (window.ganAd = { ready: false, last: null, error: null });
const $ = (id) => document.getElementById(id);
const MODEL = "model/";

function say(sentence) {
  $("message").textContent = sentence;
  if (sentence) $("result").hidden = true;
}

function fail(sentence) {
  ganAd.error = sentence;
  $("status").textContent = sentence;
  say(sentence);
}

async function sha256(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function fetchChecked(manifest, name) {
  const record = manifest.files[name];
  let response;
  try {
    response = await fetch(MODEL + name);
  } catch (err) {
    throw new Error(`The model file ${name} could not be loaded; rebuild the app with make webapp.`);
  }
  if (!response.ok) throw new Error(`The model file ${name} is missing (HTTP ${response.status}); rebuild the app with make webapp.`);
  const buffer = await response.arrayBuffer();
  if (buffer.byteLength !== record.bytes || (await sha256(buffer)) !== record.sha256) {
    throw new Error(`The model file ${name} is damaged: it does not match its checksum in manifest.json; rebuild the app with make webapp.`);
  }
  return buffer;
}

const f32array = (buffer) => new Float32Array(buffer);

async function load() {
  if (typeof WebAssembly !== "object" || typeof window.ort === "undefined") {
    fail("This browser cannot run WebAssembly, which the model needs; open the page in a current Chrome, Firefox, Safari or Edge.");
    return;
  }
  let manifest;
  try {
    const response = await fetch(MODEL + "manifest.json");
    if (!response.ok) throw new Error();
    manifest = await response.json();
  } catch (err) {
    fail("The model's manifest.json is missing or damaged; rebuild the app with make webapp.");
    return;
  }
  try {
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = new URL("ort/", document.baseURI).href;
    const buffers = {};
    const [binary] = await Promise.all([onnxruntimeBinary(),  // fetched beside the model's files, not before them
      ...Object.keys(manifest.files).map(async (name) => { buffers[name] = await fetchChecked(manifest, name); })]);
    ort.env.wasm.wasmBinary = binary;
    const sessions = {};
    for (const name of ["features", "encoder", "generator"]) {
      sessions[name] = await ort.InferenceSession.create(new Uint8Array(buffers[name + ".onnx"]), { executionProviders: ["wasm"] });
    }
    const shape = (name) => manifest.files[name].shape;
    const model = {
      manifest, sessions, judge: manifest.judge,
      memory: f32array(buffers["memory_codes.f32"]), memoryShape: shape("memory_codes.f32"),
      normalScores: f32array(buffers["normal_scores.f32"]),
      testDigits: new Uint8Array(buffers["test_digits.u8"]),
      testInfo: JSON.parse(new TextDecoder().decode(buffers["test_digits.json"])),
    };
    if (manifest.files["pca_mean.f32"]) {
      model.pcaMean = f32array(buffers["pca_mean.f32"]);
      model.pcaComponents = f32array(buffers["pca_components.f32"]);
      model.pcaShape = shape("pca_components.f32");
    }
    if (manifest.files["knn_codes.f32"]) {
      model.knnCodes = f32array(buffers["knn_codes.f32"]);
      model.knnShape = shape("knn_codes.f32");
    }
    model.atlas = await createImageBitmap(new Blob([buffers["train_digits.png"]], { type: "image/png" }));
    ganAd.model = model;
    setUp(model);
    await judgeDigit(new Float32Array(784), { quiet: true });  // the first inference compiles: do it before the first stroke
    ganAd.ready = true;
    $("status").textContent = `Ready: judged by ${model.judge.label}, the best of run ${manifest.run}'s detectors on validation that a browser can compute.`;
  } catch (err) {
    fail(err.message && err.message.startsWith("The model") ? err.message
      : `The model could not be started (${err.message || err}); rebuild the app with make webapp.`);
  }
}

// onnxruntime's WebAssembly, which gan_ad.export.build_site stores gzip-compressed (a quarter of its size)
async function onnxruntimeBinary() {
  if (typeof DecompressionStream === "undefined") {
    throw new Error("The model needs a browser that can decompress its files (DecompressionStream); open the page in a current Chrome, Firefox, Safari or Edge.");
  }
  try {
    const response = await fetch("ort/ort-wasm-simd-threaded.wasm.gz");
    if (!response.ok) throw new Error();
    return await new Response(response.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();
  } catch (err) {
    throw new Error("The model's runtime (ort/ort-wasm-simd-threaded.wasm.gz) is missing or damaged; rebuild the app with make webapp.");
  }
}

async function run(name, data, dims) {
  const session = ganAd.model.sessions[name];
  const output = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", data, dims) });
  return output[session.outputNames[0]].data;
}

function unit(v) {
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.max(Math.sqrt(norm), 1e-12);
  return Float32Array.from(v, (x) => x / norm);
}

// the k nearest rows of codes (n x d) to q: [distances, indices], nearest first
function nearest(codes, n, d, q, k) {
  const dist = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) { const t = codes[i * d + j] - q[j]; s += t * t; }
    dist[i] = s;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => dist[a] - dist[b] || a - b).slice(0, k);
  return [order.map((i) => Math.sqrt(dist[i])), order];
}

function project(v) {
  const m = ganAd.model, [c, d] = m.pcaShape, out = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += (v[j] - m.pcaMean[j]) * m.pcaComponents[i * d + j];
    out[i] = s;
  }
  return out;
}

// the judge's score of x (784 values in [-1, 1]): gan_ad.export.Exported.score
async function score(x, reconstruction) {
  const m = ganAd.model, key = m.judge.key, dims = [1, 28, 28, 1];
  if (key === "feature_knn" || key === "pixel_knn") {
    const v = key === "feature_knn" ? unit(await run("features", x, dims)) : x;
    const [dist, idx] = nearest(m.knnCodes, m.knnShape[0], m.knnShape[1], project(v), m.judge.settings.k);
    return { score: dist.reduce((a, b) => a + b, 0) / dist.length, neighbours: idx };
  }
  if (key === "pca") {
    const codes = project(x), [c, d] = m.pcaShape;
    let s = 0;
    for (let j = 0; j < d; j++) {
      let r = m.pcaMean[j];
      for (let i = 0; i < c; i++) r += codes[i] * m.pcaComponents[i * d + j];
      s += (x[j] - r) ** 2;
    }
    return { score: s / d, neighbours: null };
  }
  const a = unit(await run("features", x, dims)), b = unit(await run("features", reconstruction.image, dims));
  let s = 0;
  for (let j = 0; j < a.length; j++) s += (a[j] - b[j]) ** 2;
  return { score: Math.sqrt(s), neighbours: reconstruction.memory };
}

// G(z), z the mean of the memory's k nearest normal codes to E(x): gan_ad.export.Exported.reconstruct
async function reconstruct(x) {
  const m = ganAd.model, [n, d] = m.memoryShape, k = m.manifest.memory.k;
  const z = await run("encoder", x, [1, 28, 28, 1]);
  const [, idx] = nearest(m.memory, n, d, z, k);
  const mean = new Float32Array(d);
  for (const i of idx) for (let j = 0; j < d; j++) mean[j] += m.memory[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= k;
  return { image: Float32Array.from(await run("generator", mean, [1, d])), memory: idx };
}

function percentile(s) {
  const scores = ganAd.model.normalScores;
  let lo = 0, hi = scores.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (scores[mid] < s) lo = mid + 1; else hi = mid; }
  return 100 * lo / scores.length;
}

// scores of many digits (each 784 values in [0, 1]), for the benchmark and the parity tests
ganAd.scoreDigits = async (digits) => {
  const out = [];
  for (const digit of digits) {
    const x = Float32Array.from(digit, (v) => v * 2 - 1);
    const recon = ganAd.model.judge.key === "encoder_memory" ? await reconstruct(x) : null;
    out.push((await score(x, recon)).score);
  }
  return out;
};

function paint(canvas, values, colour) {
  const ctx = canvas.getContext("2d"), image = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.min(1, Math.max(0, values[i]));
    const [r, g, b] = colour ? [255 * Math.min(1, 3 * v), 255 * Math.min(1, Math.max(0, 3 * v - 1)), 255 * Math.max(0, 3 * v - 2)] : [255 * v, 255 * v, 255 * v];
    image.data.set([r, g, b, 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
}

async function judgeDigit(digit, { quiet = false, raw = null } = {}) {
  const m = ganAd.model, x = Float32Array.from(digit, (v) => v * 2 - 1);
  const recon = await reconstruct(x);
  const { score: s, neighbours } = await score(x, recon);
  const anomalous = s > m.judge.threshold;
  if (quiet) return;
  ganAd.last = { digit: Array.from(digit), score: s, verdict: anomalous ? "ANOMALOUS" : "NORMAL", raw, at: performance.now() };
  say("");
  $("verdict").textContent = anomalous ? "ANOMALOUS" : "NORMAL";
  $("verdict").className = "verdict " + (anomalous ? "anomalous" : "normal");
  $("explanation").innerHTML = `Anomaly score <b>${s.toFixed(4)}</b> against the threshold ${m.judge.threshold.toFixed(4)} of `
    + `${m.judge.label} (${Math.round(100 * m.judge.false_alarm_rate)} % false alarms on validation). `
    + `It scores higher than ${percentile(s).toFixed(0)} % of the validation's normal digits.`;
  paint($("seen"), digit);
  paint($("reconstruction"), Array.from(recon.image, (v) => (v + 1) / 2));
  paint($("residual"), Array.from(recon.image, (v, i) => Math.abs(x[i] - v) / 2), true);
  const box = $("neighbours");
  box.textContent = "";
  $("neighbour-title").textContent = neighbours ? (m.judge.key === "encoder_memory"
    ? "the normal training digits whose codes made G(z)" : "nearest normal training digits in the judge's space") : "";
  for (const i of neighbours || []) {
    const c = document.createElement("canvas");
    c.width = c.height = 28;
    const cols = m.manifest.files["train_digits.png"].columns;
    c.getContext("2d").drawImage(m.atlas, (i % cols) * 28, Math.floor(i / cols) * 28, 28, 28, 0, 0, 28, 28);
    box.appendChild(c);
  }
  $("result").hidden = false;
}

async function judgeImage(grey, w, h) {
  if (!ganAd.ready) { say("The model is still loading; try again in a moment."); return; }
  let digit;
  try {
    digit = GanAdPreprocess.mnistStyle(grey, w, h, ganAd.model.manifest.preprocessing);
  } catch (err) {
    if (err instanceof GanAdPreprocess.EmptyImageError) { say(err.message); ganAd.last = null; return; }
    throw err;
  }
  await judgeDigit(digit, { raw: { grey: Array.from(grey), w, h } });
}

function setUp(model) {
  const pad = $("pad"), ctx = pad.getContext("2d");
  let strokes = [], drawing = false;
  const render = () => {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
    const points = strokes.flat();
    if (!points.length) return;
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    const side = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
    // a pen as wide as MNIST's strokes once the drawing is scaled to 20 px (gan_ad.images.PEN_FRACTION)
    ctx.lineWidth = Math.max(2, model.manifest.preprocessing.pen_fraction * side);
    ctx.strokeStyle = ctx.fillStyle = "#fff";
    ctx.lineCap = ctx.lineJoin = "round";
    for (const stroke of strokes) {
      ctx.beginPath();
      ctx.moveTo(...stroke[0]);
      for (const p of stroke.slice(1)) ctx.lineTo(...p);
      if (stroke.length === 1) ctx.lineTo(stroke[0][0] + 0.01, stroke[0][1]);
      ctx.stroke();
    }
  };
  const at = (e) => { const r = pad.getBoundingClientRect(); return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height]; };
  pad.addEventListener("pointerdown", (e) => { drawing = true; pad.setPointerCapture(e.pointerId); strokes.push([at(e)]); render(); });
  pad.addEventListener("pointermove", (e) => { if (drawing) { strokes[strokes.length - 1].push(at(e)); render(); } });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    window.ganAdStrokeEnd = performance.now();  // the benchmark times the verdict from here
    const rgba = ctx.getImageData(0, 0, pad.width, pad.height).data;
    judgeImage(GanAdPreprocess.toGrey(rgba, pad.width, pad.height), pad.width, pad.height);
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  render();
  $("clear").addEventListener("click", () => { strokes = []; render(); ganAd.last = null; say(""); $("result").hidden = true; });
  $("score").addEventListener("click", () => judgeImage(GanAdPreprocess.toGrey(ctx.getImageData(0, 0, pad.width, pad.height).data, pad.width, pad.height), pad.width, pad.height));
  ganAd.scorePad = () => judgeImage(GanAdPreprocess.toGrey(ctx.getImageData(0, 0, pad.width, pad.height).data, pad.width, pad.height), pad.width, pad.height);

  $("upload").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    const limit = model.manifest.preprocessing.max_upload_bytes;
    if (file.size === 0) { say("The file is empty; upload a PNG or JPEG of a digit."); return; }
    if (file.size > limit) { say(`The file is ${(file.size / 2 ** 20).toFixed(1)} MB; upload an image under 5 MB.`); return; }
    let bitmap;
    try {
      bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    } catch (err) {
      say("This file is not an image that can be read; upload a PNG or JPEG of a digit.");
      return;
    }
    const c = document.createElement("canvas");
    c.width = bitmap.width;
    c.height = bitmap.height;
    const cctx = c.getContext("2d");
    cctx.drawImage(bitmap, 0, 0);
    judgeImage(GanAdPreprocess.toGrey(cctx.getImageData(0, 0, c.width, c.height).data, c.width, c.height), c.width, c.height);
  });

  const select = $("digit"), normal = new Set(model.manifest.normal_digits);
  model.manifest.classes.forEach((name, i) => {
    const option = document.createElement("option");
    option.value = i;
    option.textContent = `${name} (${normal.has(i) ? "normal" : "anomaly"})`;
    select.appendChild(option);
  });
  ganAd.pick = (index) => {
    const digit = Float32Array.from(model.testDigits.subarray(784 * index, 784 * (index + 1)), (v) => v / 255);
    return judgeDigit(digit);
  };
  $("pick").addEventListener("click", () => {
    const choices = model.testInfo.digits.flatMap((d, i) => (d === Number(select.value) ? [i] : []));
    if (!choices.length) { say("This run's test set has no such digit."); return; }
    ganAd.pick(choices[Math.floor(Math.random() * choices.length)]);
  });
  $("about").textContent = `Run ${model.manifest.run} (split ${model.manifest.split}); normal digits: `
    + `${model.manifest.normal_digits.map((i) => model.manifest.classes[i]).join(", ")}. Models run with onnxruntime-web in WebAssembly.`;
}

load();
