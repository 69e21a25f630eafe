// fluidframes studio: plain JS, no build step. Talks to /api (REST + server-sent events).
// The option controls are built from the server's options schema (/api/config -> options), so
// an option offered to uploads (web=True in fluidframes/options.py) appears here by itself.
// Authentication (when the server has a token) is a cookie the page URL set: no secret is ever
// put in a URL by this page.
"use strict";

const $ = (sel) => document.querySelector(sel);
const jobs = new Map();      // id -> job JSON
const pending = [];          // {file, li, state: ready|uploading|failed|bad, msg}
let config = null;
let pickItem = null;         // the pending file the preview point is picked on

const GROUPS = { model: "Model", rate: "Frame rate", scenes: "Scenes", output: "Output", segments: "Segments" };
const RATE_FIELDS = new Set(["multi", "fps", "exp"]);  // the rate control (exp: API spelling of multi=2^K)

// ---- helpers -------------------------------------------------------------------------------
async function api(path, opts = {}) {
  const resp = await fetch(path, Object.assign({ credentials: "same-origin" }, opts));
  if (!resp.ok) {
    let msg = resp.status + " " + resp.statusText;
    try { msg = (await resp.json()).detail || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return resp.status === 204 ? null : resp.json();
}
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}
function bytes(n) {
  const u = ["bytes", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
function clock(s) {
  if (s == null || !isFinite(s)) return "–";
  s = Math.round(s); const m = Math.floor(s / 60), h = Math.floor(m / 60);
  const pad = (x) => String(x).padStart(2, "0");
  return h ? `${h}:${pad(m % 60)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}
function fraction(text) {  // "30000/1001" -> 29.97
  if (text == null || text === "") return NaN;
  const [a, b] = String(text).split("/").map(Number); return b ? a / b : a;
}
let announceTimer = null;
function announce(text) {  // one polite live region for the whole page
  const region = $("#announce");
  region.textContent = "";
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { region.textContent = text; }, 60);
}

// ---- the options form, from the schema ------------------------------------------------------
function fieldId(name) { return name === "model" ? "model" : "opt-" + name; }

function control(name, spec) {
  const id = fieldId(name), help = spec.description ? "help-" + name : null;
  const describedBy = [help, "err-" + name].filter(Boolean).join(" ");
  let input;
  if (name === "model") {
    input = el("select", { id, name });
    for (const m of config.models) input.append(el("option", { value: m }, m));
    input.value = config.default_model;
  } else if (spec.type === "boolean" && spec.default == null) {
    // no default in the schema: the model decides (e.g. on in the ensembles), so three states
    input = el("select", { id, name });
    for (const [v, text] of [["", "default"], ["true", "on"], ["false", "off"]])
      input.append(el("option", { value: v }, text));
  } else if (spec.type === "boolean") {
    input = el("input", { id, name, type: "checkbox" });
    input.checked = !!spec.default;
  } else if (spec.enum) {
    input = el("select", { id, name });
    // no default in the schema: the server decides, so "default" (sent as nothing) comes first
    if (spec.default == null) input.append(el("option", { value: "" }, "default"));
    for (const v of spec.enum) input.append(el("option", { value: String(v) }, String(v)));
    input.value = spec.default == null ? "" : String(spec.default);
  } else if (spec.type === "integer" || spec.type === "number") {
    input = el("input", { id, name, type: "number", inputmode: spec.type === "integer" ? "numeric" : "decimal",
                          min: spec.minimum, max: spec.maximum, step: spec.type === "integer" ? "1" : "any",
                          placeholder: spec.default == null ? "default" : null });
    if (spec.default != null) input.value = String(spec.default);
  } else {
    input = el("input", { id, name, type: "text", spellcheck: "false", placeholder: "default" });
    if (spec.examples) {
      const list = el("datalist", { id: "list-" + name });
      for (const v of spec.examples) list.append(el("option", { value: v }));
      input.setAttribute("list", list.id);
      input._datalist = list;
    }
    if (spec.default != null) input.value = String(spec.default);
  }
  input.setAttribute("aria-describedby", describedBy);
  input.dataset.option = name;
  input.addEventListener("input", () => clearFieldError(name));
  input.addEventListener("change", () => clearFieldError(name));
  const label = el("label", { for: id }, spec.title || name);
  const helpEl = help ? el("small", { id: help, class: "help" }, spec.description) : null;
  const errEl = el("small", { id: "err-" + name, class: "field-err", hidden: true });
  const check = input.type === "checkbox";
  const wrap = el("div", { class: "field " + (check ? "check" : ""), "data-field": name });
  const parts = check ? [input, label, helpEl, errEl]
    : [label, input, input._datalist, helpEl, errEl];
  wrap.append(...parts.filter(Boolean));
  return wrap;
}

function rateControl(schema) {
  const multi = schema.multi, fps = schema.fps;
  const fs = el("fieldset", { class: "group", "data-group": "rate" }, el("legend", {}, "Frame rate"));
  const mode = el("div", { class: "radios", role: "radiogroup", "aria-label": "How to set the rate" });
  const r1 = el("input", { type: "radio", name: "rate", id: "rate-multi", value: "multi", checked: true });
  const r2 = el("input", { type: "radio", name: "rate", id: "rate-fps", value: "fps" });
  mode.append(el("span", { class: "inline" }, r1, el("label", { for: "rate-multi" }, "Multiply")),
              el("span", { class: "inline" }, r2, el("label", { for: "rate-fps" }, "Target rate")));
  fs.append(mode);
  if (multi) {
    const c = control("multi", multi);
    c.querySelector("input").value = "2";
    c.querySelector("input").id = "multi"; c.querySelector("label").setAttribute("for", "multi");
    fs.append(c);
  }
  if (fps) {
    const c = control("fps", fps);
    const i = c.querySelector("input");
    i.id = "fps"; i.value = "60"; i.setAttribute("inputmode", "decimal");
    i.setAttribute("pattern", "\\s*\\d+(\\.\\d+)?(\\s*/\\s*\\d+(\\.\\d+)?)?\\s*");
    c.querySelector("label").setAttribute("for", "fps");
    c.hidden = true;
    fs.append(c);
  }
  const sync = () => {
    const m = r1.checked;
    fs.querySelector('[data-field="multi"]').hidden = !m;
    fs.querySelector('[data-field="fps"]').hidden = m;
  };
  r1.addEventListener("change", sync); r2.addEventListener("change", sync);
  return fs;
}

function buildForm() {
  const schema = config.options, basic = $("#basic"), adv = $("#advanced-fields");
  const groups = { basic: new Map(), advanced: new Map() };
  if (schema.multi || schema.fps) groups.basic.set("rate", rateControl(schema));
  const fieldset = (where, g) => {
    const m = groups[where];
    if (!m.has(g)) {
      const fs = el("fieldset", { class: "group", "data-group": g }, el("legend", {}, GROUPS[g] || g));
      m.set(g, fs);
    }
    return m.get(g);
  };
  for (const [name, spec] of Object.entries(schema)) {
    if (RATE_FIELDS.has(name)) continue;
    if (name === "model" && config.models.length < 2 && !spec["x-advanced"]) {
      // one model on offer: shown, not chosen
      fieldset("basic", "model").append(el("p", { class: "field muted small" }, "Model: " + config.default_model));
      continue;
    }
    fieldset(spec["x-advanced"] ? "advanced" : "basic", spec["x-group"] || "options").append(control(name, spec));
  }
  // the output container is the server's own field (the CLI takes it from the file name)
  const fmt = el("select", { id: "format", name: "format", "aria-describedby": "help-format err-format" });
  for (const f of config.formats) fmt.append(el("option", { value: f }, f.toUpperCase()));
  const fmtField = el("div", { class: "field", "data-field": "format" },
    el("label", { for: "format" }, "Format"), fmt,
    el("small", { id: "help-format", class: "help" }, "container of the result"),
    el("small", { id: "err-format", class: "field-err", hidden: true }));
  fieldset("basic", "output").prepend(fmtField);
  fmt.addEventListener("change", () => {
    const crf = document.getElementById(fieldId("crf"));
    if (crf) crf.disabled = fmt.value === "gif";
    clearFieldError("format");
  });
  const order = ["model", "rate", "scenes", "output", "segments"];
  const rank = (g) => { const i = order.indexOf(g); return i < 0 ? 99 : i; };
  const sorted = (m) => [...m.entries()].sort((a, b) => rank(a[0]) - rank(b[0]));
  for (const [, fs] of sorted(groups.basic)) basic.append(fs);
  for (const [, fs] of sorted(groups.advanced)) adv.append(fs);
  if (!groups.advanced.size) $("#advanced").hidden = true;
}

function optionFields() {
  const f = {};
  for (const input of document.querySelectorAll("#options [data-option]")) {
    const name = input.dataset.option;
    if (RATE_FIELDS.has(name) || input.disabled) continue;
    if (input.type === "checkbox") f[name] = input.checked ? "true" : "false";
    else if (input.value.trim() !== "") f[name] = input.value.trim();
  }
  const mode = document.querySelector("input[name=rate]:checked");
  if (mode && mode.value === "fps") f.fps = $("#fps").value.trim();
  else if ($("#multi")) f.multi = $("#multi").value.trim();
  f.format = $("#format").value;
  return f;
}

function clearFieldError(name) {
  const input = name === "format" ? $("#format") : document.querySelector(`#options [data-option="${name}"]`);
  const err = document.getElementById("err-" + name);
  if (input) input.removeAttribute("aria-invalid");
  if (err) { err.hidden = true; err.textContent = ""; }
  $("#form-error").hidden = true;
  // an upload refused for its options may be tried again as it is
  for (const p of pending) if (p.state === "failed" && p.field === name) setState(p, "ready");
  updateStart();
}

function showFieldError(name, msg) {
  const input = name === "format" ? $("#format") : document.querySelector(`#options [data-option="${name}"]`);
  if (!input) return false;
  if (input.closest("#advanced")) $("#advanced").open = true;
  const wrap = input.closest(".field"); if (wrap) wrap.hidden = false;
  if (name === "fps") $("#rate-fps").checked = true;
  input.setAttribute("aria-invalid", "true");
  const err = document.getElementById("err-" + name);
  if (err) { err.textContent = msg; err.hidden = false; }
  input.focus();
  return true;
}

// the browser's own checks (min/max/pattern) before anything is sent
function checkForm() {
  for (const input of document.querySelectorAll("#options [data-option], #format")) {
    if (input.closest("[hidden]") || input.disabled) continue;
    if (!input.checkValidity()) {
      const name = input.dataset.option || input.id;
      const spec = (config.options || {})[name] || {};
      let msg = input.validationMessage;
      if (spec.minimum != null && spec.maximum != null) msg = `${spec.title || name}: ${spec.minimum} to ${spec.maximum}`;
      if (name === "fps") msg = "Target frame rate: a number such as 60, 59.94 or 60000/1001";
      showFieldError(name, msg);
      return false;
    }
  }
  return true;
}

// ---- chosen files ----------------------------------------------------------------------------
function setState(item, state, msg = "") {
  item.state = state; item.msg = msg;
  item.li.dataset.state = state;
  item.status.textContent = state === "uploading" ? "uploading…" : "";
  item.err.textContent = msg;
  item.err.hidden = !msg;
  item.retry.hidden = state !== "failed";
  item.pick.hidden = state === "bad";
  if (state === "bad" && pickItem === item)  // nothing to preview in a file the server refused
    choosePick(pending.find((p) => p.state !== "bad") || null);
}

function addFiles(list) {
  for (const file of list) {
    const name = el("span", { class: "name" }, file.name);
    const size = el("span", { class: "muted small" }, bytes(file.size));
    const status = el("span", { class: "muted small status" });
    const err = el("p", { class: "err", role: "alert", hidden: true });
    const item = { file, state: "ready", msg: "", field: null };
    const retry = el("button", { type: "button", class: "ghost small-btn", hidden: true,
                                 onclick: () => { setState(item, "ready"); startAll(); } }, "Try again");
    const pick = el("button", { type: "button", class: "ghost small-btn", onclick: () => choosePick(item) }, "Preview…");
    const rm = el("button", { type: "button", class: "ghost small-btn", "aria-label": "Remove " + file.name, onclick: () => {
      if (item.state === "uploading") return;
      pending.splice(pending.indexOf(item), 1); li.remove();
      if (pickItem === item) choosePick(pending[0] || null);
      updateStart();
      $("#choose").focus();
    } }, "Remove");
    const li = el("li", {}, el("div", { class: "line" }, name, size, status,
                                el("span", { class: "btns" }, pick, retry, rm)), err);
    Object.assign(item, { li, status, err, retry, pick });
    pending.push(item); $("#pending").append(li);
    if (config && file.size > config.max_upload) setState(item, "bad", `${file.name} is larger than the limit of ${config.max_upload_text}`);
    else setState(item, "ready");
    if (!pickItem && item.state === "ready") choosePick(item);
  }
  updateStart();
}

function updateStart() {
  const busy = pending.some((p) => p.state === "uploading");
  $("#start").disabled = busy || !pending.some((p) => p.state === "ready" || p.state === "failed");
  $("#preview-go").disabled = busy || !pickItem || pickItem.state === "bad";
}

// ---- the preview point ----------------------------------------------------------------------
let localUrl = null;
function choosePick(item) {
  pickItem = item;
  const box = $("#preview-pick"), video = $("#local");
  if (localUrl) { URL.revokeObjectURL(localUrl); localUrl = null; }
  if (!item) { box.hidden = true; video.removeAttribute("src"); video.load(); updateStart(); return; }
  box.hidden = false;
  $("#pick-name").textContent = item.file.name;
  localUrl = URL.createObjectURL(item.file);
  video.src = localUrl;
  $("#preview-at-text").textContent = "";
  video.onloadedmetadata = () => {
    const d = video.duration;
    if (isFinite(d) && d > 0) {
      $("#preview-at-range").max = String(d);
      $("#preview-at").max = String(d);
      setPoint(Math.min(d / 2, d));
    }
  };
  video.hidden = false;
  video.onerror = () => {
    video.hidden = true;
    $("#preview-at-text").textContent = "this browser cannot show the file: type the point in seconds";
  };
  updateStart();
}
function setPoint(t, from) {
  t = Math.max(0, +t || 0);
  if (from !== "range") $("#preview-at-range").value = String(t);
  if (from !== "number") $("#preview-at").value = t.toFixed(2);
  $("#preview-at-text").textContent = "around " + clock(t) + " (" + t.toFixed(2) + " s)";
  const v = $("#local");
  if (v.readyState >= 1 && Math.abs(v.currentTime - t) > 0.01) v.currentTime = t;
}

// ---- uploads ----------------------------------------------------------------------------------
function upload(item, fields) {
  // XMLHttpRequest rather than fetch: it reports upload progress.
  return new Promise((resolve) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append("file", item.file, item.file.name);
    const xhr = new XMLHttpRequest();
    setState(item, "uploading");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) item.status.textContent = "uploading " + Math.round(100 * e.loaded / e.total) + "%"; };
    xhr.onload = () => {
      if (xhr.status === 201) {
        const job = JSON.parse(xhr.responseText);
        if (fields.preview_at == null) {  // the whole file is on its way: the choice is done
          item.li.remove(); pending.splice(pending.indexOf(item), 1);
          if (pickItem === item) choosePick(pending[0] || null);
        } else setState(item, "ready");
        upsert(job);
        announce(`${job.filename}: ${job.kind === "preview" ? "preview " : ""}queued`);
      } else {
        let msg = xhr.status + " " + xhr.statusText, field = null;
        try { const body = JSON.parse(xhr.responseText); msg = body.detail || msg; field = body.field || null; } catch (e) { /* not JSON */ }
        item.field = field;
        // a file the server cannot use stays refused; one refused for its options can be retried
        setState(item, field === "file" || xhr.status === 413 ? "bad" : "failed", msg);
        if (field && field !== "file") showFieldError(field, msg);
      }
      resolve();
    };
    xhr.onerror = () => { setState(item, "failed", "upload failed (connection lost): try again"); resolve(); };
    xhr.open("POST", "/api/jobs");
    xhr.send(form);
  });
}

async function startAll(ev) {
  if (ev) ev.preventDefault();
  if (!checkForm()) return;
  const fields = optionFields();
  const todo = pending.filter((p) => p.state === "ready" || p.state === "failed");
  todo.forEach((p) => setState(p, "uploading"));
  updateStart();
  for (const item of todo) await upload(item, fields);  // one at a time: keeps the disk calm
  updateStart();
}

async function startPreview() {
  if (!pickItem || !checkForm()) return;
  const fields = optionFields();
  fields.preview_at = String(Math.max(0, +$("#preview-at").value || 0));
  fields.preview_seconds = $("#preview-seconds").value;
  updateStart();
  await upload(pickItem, fields);
  updateStart();
}

// ---- jobs ----------------------------------------------------------------------------------
function describe(job) {
  const o = job.options, parts = [];
  if (o.fps) parts.push(o.fps + " fps"); else parts.push((o.multi || (o.exp ? 2 ** o.exp : 2)) + "×");
  if (o.slowmo) parts.push("slow motion");
  if (o.montage) parts.push("montage");
  if (o.dedup) parts.push("dedup");
  if (o.scene_detect === false) parts.push("no scene detection");
  if (o.model) parts.push(o.model);
  parts.push(job.format.toUpperCase());
  if (o.crf != null) parts.push("CRF " + o.crf);
  if (o.codec) parts.push(o.codec);
  if (o.pix_fmt) parts.push(o.pix_fmt);
  const s = job.source || {};
  if (s.width) parts.push(`${s.width}×${s.height} @ ${+fraction(s.fps).toFixed(3)} fps`);
  return parts.join(" · ");
}

function stats(job) {
  const p = job.progress;
  if (job.status === "queued") return "waiting for the worker";
  if (job.status === "done") {
    const sm = job.summary || {};
    return `${sm.frames_in} → ${sm.frames_out} frames · ${+fraction(sm.output_rate).toFixed(3)} fps · ` +
      `${(sm.output_duration || 0).toFixed(2)} s · made in ${clock(p.elapsed)} at ${(p.fps || 0).toFixed(1)} fps · ${bytes(job.result.size)}`;
  }
  const total = p.frames_total ? "/" + p.frames_total : "";
  if (job.status === "running" && !p.frames_out) return job.kind === "preview" ? "starting (cutting the window, loading the model)…" : "starting (loading the model)…";
  return `frames ${p.frames_out}${total} · ${p.fps ? p.fps.toFixed(1) : "–"} fps · elapsed ${clock(p.elapsed)}` +
    (job.status === "running" ? ` · ETA ${p.eta == null ? "estimating…" : clock(p.eta)}` : "");
}

function percent(job) { return job.status === "done" ? 100 : Math.round(job.progress.percent || 0); }

function actionsFor(job) {
  const actions = el("div", { class: "actions" });
  const act = (key, label, fn, cls = "ghost", extra = {}) =>
    actions.append(el("button", Object.assign({ type: "button", class: cls, "data-action": key, onclick: fn }, extra), label));
  const fail = (e) => announce("Failed: " + e.message);
  const name = job.filename;
  if (job.status === "queued" || job.status === "running")
    act("cancel", "Cancel", () => api(`/api/jobs/${job.id}/cancel`, { method: "POST" }).then(upsert).catch(fail), "ghost", { "aria-label": "Cancel " + name });
  if (job.status === "done") {
    act("compare", job.options.montage ? "Play" : "Compare", () => openViewer(jobs.get(job.id)), "", { "aria-label": (job.options.montage ? "Play " : "Compare ") + name });
    actions.append(el("a", { class: "btn ghost", href: job.urls.result, download: job.result.name, "data-action": "download", "aria-label": "Download " + job.result.name }, "Download"));
  }
  if (job.kind === "preview")
    act("render", "Render whole file", () => renderWhole(job.id), "", { "aria-label": "Render whole file: " + name });
  if (["failed", "cancelled", "interrupted", "done"].includes(job.status))
    act("rerun", "Re-run", () => api(`/api/jobs/${job.id}/rerun`, { method: "POST" }).then(upsert).catch(fail), "ghost", { "aria-label": "Re-run " + name });
  if (job.status !== "running")
    act("delete", "Delete", () => api(`/api/jobs/${job.id}`, { method: "DELETE" }).then(() => { remove(job.id); announce(name + " deleted"); $("#jobs-title").focus(); }).catch(fail), "danger", { "aria-label": "Delete " + name });
  return actions;
}

function card(job) {
  const pct = percent(job);
  const kind = job.kind === "preview" && job.clip
    ? el("span", { class: "kind" }, `preview ${job.clip.start.toFixed(1)}–${(job.clip.start + job.clip.seconds).toFixed(1)} s`) : null;
  const bar = el("div", { class: "bar", role: "progressbar", "aria-label": "Progress of " + job.filename,
                          "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct),
                          "aria-valuetext": pct + "%" }, el("div", { style: `width:${pct}%` }));
  return el("li", { class: "job " + job.status, "data-id": job.id, "data-status": job.status, "data-kind": job.kind,
                    "data-name": job.filename,
                    "data-frames": job.progress.frames_out },
    el("div", { class: "top" },
      el("span", { class: "badge " + job.status }, job.status),
      kind,
      el("h3", { class: "name" }, job.filename), actionsFor(job)),
    el("div", { class: "opts" }, describe(job)),
    bar,
    el("div", { class: "stats" }, stats(job)),
    job.error && job.status !== "cancelled" ? el("p", { class: "error" }, job.error) : null);
}

function statusWords(job) {
  if (job.status === "failed") return "failed: " + (job.error || "");
  if (job.status === "done") return (job.kind === "preview" ? "preview " : "") + "done";
  return job.status;
}

function upsert(job) {
  const prev = jobs.get(job.id);
  jobs.set(job.id, job);
  const old = document.querySelector(`.job[data-id="${job.id}"]`);
  if (old && prev && prev.status === job.status) {
    // progress only: update in place (focus and the reader's position stay where they are)
    const pct = percent(job), bar = old.querySelector(".bar");
    bar.setAttribute("aria-valuenow", String(pct)); bar.setAttribute("aria-valuetext", pct + "%");
    bar.firstChild.style.width = pct + "%";
    old.querySelector(".stats").textContent = stats(job);
    old.dataset.frames = job.progress.frames_out;
    const before = prev.progress.percent || 0, now = job.progress.percent || 0;
    if (Math.floor(now / 25) > Math.floor(before / 25) && now < 100) announce(`${job.filename}: ${Math.floor(now / 25) * 25}%`);
    return;
  }
  const focused = old && old.contains(document.activeElement) ? document.activeElement.dataset.action : null;
  const fresh = card(job);
  if (old) old.replaceWith(fresh); else $("#jobs").prepend(fresh);
  if (focused) {
    const again = fresh.querySelector(`[data-action="${focused}"]`) || fresh.querySelector("[data-action]");
    if (again) again.focus();
  }
  if (prev && prev.status !== job.status) announce(`${job.filename}: ${statusWords(job)}`);
  $("#empty").hidden = jobs.size > 0;
}
function remove(id) {
  jobs.delete(id);
  const old = document.querySelector(`.job[data-id="${id}"]`);
  if (old) old.remove();
  $("#empty").hidden = jobs.size > 0;
  if ($("#viewer").dataset.id === id) closeViewer();
}

async function renderWhole(id) {
  try {
    const job = await api(`/api/jobs/${id}/render`, { method: "POST" });
    upsert(job);
    announce(`${job.filename}: whole file queued`);
  } catch (e) { announce("Cannot render the whole file: " + e.message); alertInline(e.message); }
}
function alertInline(msg) { const f = $("#form-error"); f.textContent = msg; f.hidden = false; }

function listen() {
  const es = new EventSource("/api/events");
  const state = (on) => { $("#conn").classList.toggle("on", on); $("#conn-text").textContent = on ? "live" : "reconnecting…"; };
  es.addEventListener("open", () => state(true));
  es.addEventListener("error", () => state(false));
  es.addEventListener("job", (e) => upsert(JSON.parse(e.data)));
  es.addEventListener("deleted", (e) => remove(JSON.parse(e.data).id));
}

// ---- the comparison viewer ------------------------------------------------------------------
const CODECS = { h264: "avc1.640028", hevc: "hvc1.1.6.L93.B0", vp9: "vp9", vp8: "vp8", av1: "av01.0.05M.08", mpeg4: "mp4v.20.9" };
function sourceType(job) {
  if (job.kind === "preview") return 'video/mp4; codecs="avc1.640028"';  // the cut clip is H.264
  const s = job.source || {}, c = CODECS[s.codec];
  const ext = s.container || "";
  let mime = "video/mp4";
  if (ext.includes("webm") || ext.includes("matroska")) mime = s.codec === "vp8" || s.codec === "vp9" || s.codec === "av1" ? "video/webm" : "video/x-matroska";
  else if (ext.includes("gif")) return "image/gif";
  return c ? `${mime}; codecs="${c}"` : mime;
}
function setSources(video, first, firstType, fallback) {
  // The browser plays the first <source> it can; the WebM rendition is made only if it must.
  video.replaceChildren(el("source", { src: first, type: firstType }),
                        el("source", { src: fallback, type: 'video/webm; codecs="vp9"' }));
  video.load();
}

const V = { job: null, rate: 25, tempo: 1, montage: false, sync: null };
function origTime(t) { return t * V.tempo; }
function frameOf(t) { return Math.floor(t * V.rate + 1e-6); }
function frameCount() { const d = $("#res").duration; return isFinite(d) ? Math.max(1, Math.round(d * V.rate)) : 0; }
function showFrame() {
  const res = $("#res"), n = frameOf(res.currentTime), total = frameCount();
  $("#frame-info").textContent = `frame ${n + 1}${total ? " of " + total : ""} · ${res.currentTime.toFixed(3)} s`;
  if (isFinite(res.duration) && res.duration > 0) $("#seek").value = String(Math.round(1000 * res.currentTime / res.duration));
}
function follow(force) {
  if (V.montage) return;
  const res = $("#res"), orig = $("#orig"), want = origTime(res.currentTime);
  if (force || Math.abs(orig.currentTime - want) > 0.06) orig.currentTime = Math.min(want, orig.duration || want);
}
function seekFrame(n) {
  const res = $("#res"), total = frameCount();
  if (total) n = Math.min(Math.max(0, n), total - 1); else n = Math.max(0, n);
  res.pause(); $("#orig").pause(); setPlaying(false);
  res.currentTime = (n + 0.5) / V.rate;  // the middle of the frame: no rounding onto a neighbour
  follow(true);
}
function setPlaying(on) { const b = $("#play"); b.textContent = on ? "Pause" : "Play"; b.setAttribute("aria-pressed", on ? "true" : "false"); }
function setCompare(mode) {
  const stage = $("#stage");
  stage.dataset.mode = V.montage ? "single" : mode;
  for (const r of document.querySelectorAll("input[name=compare]")) r.checked = r.value === mode;
  $("#wipe-row").hidden = V.montage || mode !== "wipe";
  const words = { wipe: "wipe: original left, result right", original: "showing the original", result: "showing the result" };
  if (!V.montage) announce("Compare: " + words[mode]);
}
function setWipe(pct) { $("#stage").style.setProperty("--wipe", pct + "%"); $("#wipe").value = String(pct); }

function openViewer(job) {
  const v = $("#viewer"), orig = $("#orig"), res = $("#res"), stage = $("#stage");
  v.hidden = false; v.dataset.id = job.id;
  V.job = job;
  V.montage = !!job.options.montage;
  const sm = job.summary || {};
  V.rate = fraction(sm.output_rate) || 25;
  V.tempo = fraction(sm.tempo) || 1;  // slow motion: the original runs slower
  $("#viewer-title").textContent = (job.kind === "preview" ? "Preview of " : "") + job.filename;
  $("#viewer-note").textContent = describe(job) + (V.montage
    ? " · the montage as rendered: original on the left, result on the right"
    : " · the original and the result at the same size, one over the other");
  const dl = $("#viewer-download");
  dl.href = job.urls.result; dl.setAttribute("download", job.result.name);
  $("#viewer-render").hidden = job.kind !== "preview";
  const s = job.source || {};
  let w = s.width || 16, h = s.height || 9;
  if (s.rotation && Math.abs(s.rotation) % 180 === 90) [w, h] = [h, w];
  if (V.montage) w *= 2;
  stage.style.setProperty("--ar", `${w} / ${h}`);
  stage.style.setProperty("--arn", String(w / h));
  stage.style.setProperty("--natural-w", w + "px");
  const resType = job.format === "gif" ? "image/gif" : job.result.media_type;
  setSources(res, job.urls.result + "?inline=1", resType, job.urls.result_preview);
  if (V.montage) { orig.pause(); orig.replaceChildren(); orig.load(); orig.hidden = true; }
  else { orig.hidden = false; setSources(orig, job.urls.source, sourceType(job), job.urls.source_preview); }
  $("#compare-modes").hidden = V.montage;
  $("#tag-left").hidden = $("#tag-right").hidden = V.montage;
  setCompare("wipe"); setWipe(50); setPlaying(false);
  if (V.sync) V.sync.abort();
  V.sync = new AbortController();
  const o = { signal: V.sync.signal };
  res.addEventListener("play", () => { orig.playbackRate = res.playbackRate * V.tempo; follow(true); if (!V.montage) orig.play().catch(() => {}); setPlaying(true); }, o);
  res.addEventListener("pause", () => { orig.pause(); follow(true); setPlaying(false); }, o);
  res.addEventListener("seeked", () => { follow(false); showFrame(); }, o);
  res.addEventListener("timeupdate", () => { follow(false); showFrame(); }, o);
  res.addEventListener("loadedmetadata", showFrame, o);
  res.addEventListener("ended", () => { orig.pause(); setPlaying(false); }, o);
  v.scrollIntoView({ behavior: "smooth", block: "start" });
  $("#viewer-title").focus({ preventScroll: true });
  announce("Comparison open: " + job.filename);
}
function closeViewer() {
  const v = $("#viewer"), id = v.dataset.id; v.hidden = true; delete v.dataset.id;
  for (const sel of ["#orig", "#res"]) { const x = $(sel); x.pause(); x.replaceChildren(); x.load(); }
  if (V.sync) V.sync.abort();
  const back = id && document.querySelector(`.job[data-id="${id}"] [data-action="compare"]`);
  if (back) back.focus();
}

function wireViewer() {
  const res = $("#res");
  $("#viewer-close").addEventListener("click", closeViewer);
  $("#viewer-render").addEventListener("click", () => V.job && renderWhole(V.job.id));
  $("#play").addEventListener("click", () => { if (res.paused) res.play().catch(() => {}); else res.pause(); });
  $("#step-back").addEventListener("click", () => seekFrame(frameOf(res.currentTime) - 1));
  $("#step-fwd").addEventListener("click", () => seekFrame(frameOf(res.currentTime) + 1));
  $("#seek").addEventListener("input", () => {
    if (isFinite(res.duration)) { res.currentTime = res.duration * $("#seek").value / 1000; follow(true); }
  });
  for (const r of document.querySelectorAll("input[name=compare]")) r.addEventListener("change", () => setCompare(r.value));
  $("#swap").addEventListener("click", () => setCompare($("#stage").dataset.mode === "original" ? "result" : "original"));
  $("#wipe").addEventListener("input", () => setWipe($("#wipe").value));
  $("#actual").addEventListener("change", () => $("#stage-wrap").classList.toggle("actual", $("#actual").checked));
  const stage = $("#stage");
  const drag = (e) => {
    if ($("#stage").dataset.mode !== "wipe") return;
    const r = stage.getBoundingClientRect();
    setWipe(Math.round(Math.min(100, Math.max(0, 100 * (e.clientX - r.left) / r.width))));
  };
  stage.addEventListener("pointerdown", (e) => { stage.setPointerCapture(e.pointerId); drag(e); });
  stage.addEventListener("pointermove", (e) => { if (stage.hasPointerCapture(e.pointerId)) drag(e); });
  document.addEventListener("keydown", (e) => {
    if ($("#viewer").hidden || e.target.matches("input[type=text], input[type=number], select, textarea")) return;
    if (e.key === "t" || e.key === "T") { if (!V.montage) $("#swap").click(); }
    else if (e.key === "," ) seekFrame(frameOf(res.currentTime) - 1);
    else if (e.key === ".") seekFrame(frameOf(res.currentTime) + 1);
  });
}

// ---- start ---------------------------------------------------------------------------------
window.addEventListener("DOMContentLoaded", async () => {
  const drop = $("#drop"), input = $("#files");
  $("#choose").addEventListener("click", () => input.click());
  input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
  for (const t of ["dragenter", "dragover"]) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const t of ["dragleave", "drop"]) drop.addEventListener(t, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); addFiles(e.dataTransfer.files); });
  $("#options").addEventListener("submit", startAll);
  $("#preview-go").addEventListener("click", startPreview);
  $("#preview-at-range").addEventListener("input", () => setPoint($("#preview-at-range").value, "range"));
  $("#preview-at").addEventListener("change", () => setPoint($("#preview-at").value, "number"));
  wireViewer();
  try {
    config = await api("/api/config");
    buildForm();
    $("#limit").textContent = "up to " + config.max_upload_text + " per file";
    document.body.dataset.ready = "1";
    for (const job of (await api("/api/jobs")).reverse()) upsert(job);
  } catch (e) {
    $("#empty").textContent = "Cannot reach the server: " + e.message;
  }
  updateStart();
  listen();
});
