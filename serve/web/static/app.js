// StreetWatch inspector page: one small module, no dependencies. Every read and every decision goes
// through the case API (/v1/...) with the session cookie; the server only renders the page shells.
"use strict";

const CONFIG = JSON.parse(document.getElementById("sw-config").textContent);
const TAXONOMY = CONFIG.classes; // [{name, zh, en, matter_code, severity, color, violation}]
const CLASS_BY_NAME = Object.fromEntries(TAXONOMY.map((c) => [c.name, c]));
const VIOLATION_CLASSES = TAXONOMY.filter((c) => c.violation);

export const REJECT_REASONS = [
  { key: "not_a_violation", zh: "非违规", en: "Not a violation" },
  { key: "wrong_class", zh: "类别错误", en: "Wrong class" },
  { key: "duplicate", zh: "重复案件", en: "Duplicate" },
  { key: "image_unclear", zh: "图像不清", en: "Image unclear" },
  { key: "already_handled", zh: "已处置", en: "Already handled" },
];

const STATUS_LABELS = {
  pending_review: ["待审核", "Pending review"],
  confirmed: ["已确认", "Confirmed"],
  rejected: ["已驳回", "Rejected"],
  dispatched: ["已派遣", "Dispatched"],
  handled: ["已处置", "Handled"],
  verified: ["已核查", "Verified"],
  closed: ["已结案", "Closed"],
  voided: ["已作废", "Voided"],
};

const ACTION_LABELS = {
  confirm: ["确认", "Confirm"],
  reject: ["驳回", "Reject"],
  correct: ["改类", "Correct class"],
  dispatch: ["派遣", "Dispatch"],
  handle: ["处置完成", "Mark handled"],
  verify: ["核查通过", "Verify"],
  close: ["结案", "Close"],
  void: ["作废", "Void"],
  reopen: ["重新打开", "Reopen"],
  created: ["立案", "Created"],
  observed: ["新观测", "Observed"],
  reobserved: ["再次观测", "Re-observed"],
  patrol_verification: ["巡查核查", "Patrol verification"],
};

// ---------------------------------------------------------------- small helpers
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, v);
  return el;
}

function pad(n) { return String(n).padStart(2, "0"); }
export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
export function fmtDuration(ms) {
  const min = Math.round(Math.abs(ms) / 60000);
  if (min < 60) return `${min} min`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours} h ${pad(min % 60)} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** Deadline badge: overdue (red), due within 1 h (amber), later (green), none (grey). */
export function deadlineBadge(c, now = Date.now()) {
  if (!c.deadline) return h("span", { class: "badge none" }, "无期限", h("span", { class: "en" }, " · no deadline"));
  const left = new Date(c.deadline).getTime() - now;
  if (c.overdue || left < 0) {
    return h("span", { class: "badge bad", title: fmtTime(c.deadline) }, `超期 ${fmtDuration(left)}`,
      h("span", { class: "en" }, " · overdue"));
  }
  const cls = left < 3600 * 1000 ? "warn" : "ok";
  return h("span", { class: `badge ${cls}`, title: fmtTime(c.deadline) }, `剩余 ${fmtDuration(left)}`,
    h("span", { class: "en" }, " · due"));
}

function statusTag(status) {
  const [zh, en] = STATUS_LABELS[status] || [status, ""];
  return h("span", { class: `status ${status}`, title: en }, zh, h("span", { class: "en" }, ` ${en}`));
}

function classColor(name) { return (CLASS_BY_NAME[name] && CLASS_BY_NAME[name].color) || "#888888"; }

export function evidenceUrl(obj) {
  if (obj.evidence_key) return `/v1/evidence/${encodeURIComponent(obj.evidence_key).replace(/%2F/g, "/")}`;
  return obj.evidence_url || null;
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: { Accept: "application/json" }, ...options };
  if (options.json !== undefined) {
    init.method = init.method || "POST";
    init.headers = { ...init.headers, "Content-Type": "application/json" };
    init.body = JSON.stringify(options.json);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401) {
    window.location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
    throw new Error("login required");
  }
  let body = null;
  try { body = await resp.json(); } catch { body = null; }
  if (!resp.ok) {
    const detail = body && (body.detail || body.error || body.message);
    const err = new Error(typeof detail === "string" ? detail : `HTTP ${resp.status}`);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function toast(text, kind = "info", ms = 3500) {
  const box = $("#toasts");
  if (!box) return;
  const el = h("div", { class: `toast ${kind}`, role: "status" }, text);
  box.append(el);
  while (box.children.length > 4) box.firstChild.remove();
  setTimeout(() => el.remove(), ms);
}

function actionPayload(action, extra = {}) {
  return { action, ...extra };
}

/** Highlight `box` (x1,y1,x2,y2 in image pixels; the evidence already has it drawn) over an <img>
 * that uses object-fit: contain: a soft ring just outside the box so the eye finds it at once. */
function drawBox(svg, img, box, color) {
  svg.replaceChildren();
  if (!box || !img.naturalWidth) return;
  svg.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const [x1, y1, x2, y2] = box;
  // keep the crop inset away from the box: bottom-left when the box is on the right half
  const inset = svg.parentElement.querySelector(".crop-inset");
  if (inset) {
    inset.classList.toggle("left", (x1 + x2) / 2 > img.naturalWidth * 0.55);
    inset.classList.toggle("big-box", x2 - x1 > img.naturalWidth * 0.4); // large objects need no inset
  }
  const w = Math.max(2, img.naturalWidth / 400);
  const gap = 3 * w;
  svg.append(s("rect", {
    x: x1 - gap, y: y1 - gap, width: x2 - x1 + 2 * gap, height: y2 - y1 + 2 * gap, fill: "none",
    stroke: "#ffffff", "stroke-width": w, "stroke-dasharray": `${6 * w} ${4 * w}`, rx: 2 * w, opacity: 0.9,
    class: "box-ring", "data-color": color,
  }));
}

function showEvidence(stage, obj, klass) {
  const img = $("img", stage);
  const svg = $("svg.boxes", stage);
  const url = evidenceUrl(obj);
  const color = classColor(klass);
  const label = `${(CLASS_BY_NAME[klass] || {}).zh || klass} ${obj.score ? obj.score.toFixed(2) : ""}`;
  const box = obj.best_box || obj.box;
  svg.replaceChildren();
  showCrop(stage, obj);
  $(".empty-img", stage)?.classList.toggle("hidden", !!url);
  img.classList.toggle("hidden", !url);
  if (!url) return;
  img.onload = () => drawBox(svg, img, box, color);
  if (img.getAttribute("src") !== url) img.src = url;
  else if (img.complete) drawBox(svg, img, box, color);
  img.alt = label;
}

/** Inset of the detection's raw crop (no box drawn over it), so small objects can be judged without
 * zooming; hidden when the observation has no crop. */
function showCrop(stage, obj) {
  let inset = $(".crop-inset", stage);
  const url = obj.crop_key ? `/v1/evidence/${obj.crop_key}` : obj.crop_url || null;
  if (!url) { inset?.classList.add("hidden"); return; }
  if (!inset) {
    inset = h("figure", { class: "crop-inset" }, h("img", { alt: "crop" }), h("figcaption", {}, "放大 · crop"));
    stage.append(inset);
  }
  inset.classList.remove("hidden");
  const img = $("img", inset);
  if (img.getAttribute("src") !== url) img.src = url;
}

function thumbs(container, detail, onPick) {
  container.replaceChildren();
  const obs = (detail.observations || []).filter((o) => evidenceUrl(o));
  for (const o of obs) {
    const btn = h("button", {
      type: "button", title: `${fmtTime(o.time)} · ${o.vehicle_id}`, dataset: { obs: o.id },
      class: o.id === detail.best_observation_id ? "active" : null,
      onclick: () => {
        $$("button", container).forEach((b) => b.classList.toggle("active", b === btn));
        onPick(o);
      },
    }, h("img", { src: evidenceUrl(o), loading: "lazy", alt: `observation ${o.id}` }),
    h("span", { class: "t-meta" }, `${o.kind === "verification" ? "核查 " : ""}${fmtTime(o.time).slice(5)}`));
    container.append(btn);
  }
  return obs.length;
}

function factsList(c) {
  const row = (zh, en, value) => [h("dt", { title: en }, zh, h("span", { class: "en" }, en)), h("dd", {}, value)];
  const seg = c.road_segment_id
    ? [c.road_name || c.road_segment_id, " ", h("small", { class: "mono" }, c.road_segment_id),
      c.area_class ? h("small", {}, ` · ${c.area_class}类区域`) : null] : "—";
  return h("dl", { class: "facts" },
    row("发现时间", "Seen", [fmtTime(c.first_seen || c.created_at),
      c.last_seen && c.last_seen !== c.first_seen ? h("small", {}, ` → ${fmtTime(c.last_seen).slice(11)}`) : null]),
    row("巡查车辆", "Vehicle", (c.vehicle_ids || []).join(", ") || "—"),
    row("路段", "Road segment", seg),
    row("责任单位", "Responsible", c.responsible_unit || "—"),
    row("路长", "Road chief", c.road_chief || "—"),
    row("位置", "Position", h("span", { class: "mono" }, `${c.lat.toFixed(5)}, ${c.lon.toFixed(5)}`)),
  );
}

/** Deadline badge plus the deadline time itself, on one line. */
function deadlineLine(c) {
  return h("div", { class: "deadline-line" }, deadlineBadge(c),
    c.deadline ? h("span", { class: "muted", title: fmtTime(c.deadline) }, `截止 ${fmtTime(c.deadline).slice(5)}`) : null);
}

function classHeader(c) {
  return h("div", { class: "cls" },
    h("span", { class: "swatch", style: `background:${classColor(c.class_name)}` }),
    h("div", {},
      h("h2", { class: "cls-zh" }, c.class_zh || c.class_name),
      h("div", { class: "cls-en" }, c.class_en || c.class_name)));
}

function caseChips(c) {
  return h("div", { class: "chips" },
    h("span", { class: "chip code", title: "matter code 事项编码" }, c.matter_code),
    h("span", { class: "chip" }, `#${c.id}`),
    h("span", { class: "chip", title: "score" }, `置信 ${Number(c.score || 0).toFixed(2)}`),
    h("span", { class: "chip", title: "observations" }, `观测 ${c.observation_count || 0}`),
    statusTag(c.status));
}

// ---------------------------------------------------------------- review queue
class ReviewQueue {
  constructor(root) {
    this.root = root;
    this.ids = CONFIG.queue.slice();
    this.cache = new Map(); // id -> Promise<CaseDetail>
    this.current = null;
    this.mode = "main"; // main | reject | correct
    this.busy = false;
    this.done = 0;
    this.decided = new Set(); // ids decided in this tab: never shown again, even if a refill lags
    this.refs = {
      stage: $("#stage", root), panel: $("#panel", root), thumbs: $("#thumbs", root),
      head: $("#stage-head", root), empty: $("#empty-queue"), layout: $("#queue-layout"),
    };
    document.addEventListener("keydown", (e) => this.onKey(e));
    this.next();
    setInterval(() => this.tick(), 30000);
  }

  load(id) {
    if (!this.cache.has(id)) {
      const p = api(`/v1/cases/${id}`).then((c) => {
        const url = evidenceUrl(c);
        if (url) { const img = new Image(); img.src = url; c._img = img; } // preload the evidence
        const cropUrl = c.crop_key ? `/v1/evidence/${c.crop_key}` : c.crop_url; // live: drawn on request
        if (cropUrl) { const crop = new Image(); crop.src = cropUrl; c._crop = crop; }
        return c;
      });
      p.catch(() => this.cache.delete(id));
      this.cache.set(id, p);
    }
    return this.cache.get(id);
  }

  async refill() {
    try {
      const data = await api("/web/queue.json");
      const known = new Set(this.ids);
      for (const id of data.ids) {
        if (!known.has(id) && !this.decided.has(id) && (!this.current || id !== this.current.id)) this.ids.push(id);
      }
      this.setCount(data.ids.length);
    } catch (err) { toast(`队列刷新失败 · queue refresh failed: ${err.message}`, "bad"); }
  }

  setCount(n) {
    const badge = $("#nav-queue-count");
    if (badge) { badge.textContent = n; badge.classList.toggle("hidden", !n); }
  }

  async next() {
    this.mode = "main";
    if (!this.ids.length) await this.refill();
    while (this.ids.length) {
      const id = this.ids.shift();
      if (this.decided.has(id)) continue;
      let c;
      try { c = await this.load(id); } catch (err) { this.cache.delete(id); continue; }
      if (c.status !== "pending_review") { this.cache.delete(id); continue; }
      this.show(c);
      if (this.ids.length) this.load(this.ids[0]).catch(() => {}); // prefetch the next case
      return;
    }
    this.current = null;
    this.refs.layout.classList.add("hidden");
    this.refs.empty.classList.remove("hidden");
    this.setCount(0);
  }

  show(c) {
    if (this.keyAt !== undefined) { // key press -> next case on screen, for tests and curious people
      (window.swTimings = window.swTimings || []).push(Math.round(performance.now() - this.keyAt));
      this.keyAt = undefined;
    }
    this.current = c;
    this.refs.layout.classList.remove("hidden");
    this.refs.empty.classList.add("hidden");
    this.root.dataset.caseId = c.id;
    showEvidence(this.refs.stage, c, c.class_name);
    const n = thumbs(this.refs.thumbs, c, (o) => showEvidence(this.refs.stage, o, o.class_name || c.class_name));
    $("#thumbs-label").textContent = n > 1 ? `本案全部观测 · all ${n} observations of this case` : "";
    this.refs.head.replaceChildren(
      h("strong", {}, `案件 Case #${c.id}`),
      h("span", { class: "muted" }, c.road_name || ""),
      h("span", { class: "progress" }, `待审核 ${this.ids.length + 1} · 本次已审 ${this.done}`),
      h("a", { href: `/cases/${c.id}` }, "详情 details →"));
    this.renderPanel();
    this.setCount(this.ids.length + 1);
  }

  tick() {
    if (!this.current) { this.next(); return; } // empty queue: look for new cases
    const b = $("#deadline-slot");
    if (b) b.replaceChildren(deadlineLine(this.current));
  }

  renderPanel() {
    const c = this.current;
    const p = this.refs.panel;
    const btn = (cls, key, zh, en, action) => h("button", { class: `btn ${cls}`, type: "button", "data-action": action,
      onclick: () => this.onAction(action) }, h("kbd", {}, key), zh, h("span", { class: "en" }, en));
    p.replaceChildren(...[
      h("div", { id: "deadline-slot" }, deadlineLine(c)),
      classHeader(c),
      caseChips(c),
      factsList(c),
      this.mode === "reject" ? this.pickerReject() : null,
      this.mode === "correct" ? this.pickerCorrect() : null,
      h("div", { class: "actions" },
        btn("primary wide", "C", "确认", "Confirm", "confirm"),
        btn("danger", "R", "驳回", "Reject", "reject"),
        btn("", "K", "改类", "Correct", "correct"),
        btn("wide", "S", "跳过", "Skip", "skip")),
      h("div", { class: "keys-hint" },
        h("span", {}, h("kbd", {}, "Enter"), " 确认"), h("span", {}, h("kbd", {}, "Space"), " 跳过"),
        h("span", {}, h("kbd", {}, "?"), " 快捷键 keys")),
    ].filter(Boolean));
  }

  pickerReject() {
    return h("div", { class: "picker", id: "reject-picker" },
      h("h3", {}, "驳回原因 · Reject reason"),
      h("ol", {}, REJECT_REASONS.map((r, i) => h("li", {}, h("button", { type: "button",
        onclick: () => this.reject(i) }, h("kbd", {}, i + 1), `${r.zh} · ${r.en}`)))),
      h("div", { class: "hint" }, "按数字选择，Esc 取消 · digit to pick, Esc to cancel"));
  }

  pickerCorrect() {
    const choices = VIOLATION_CLASSES.filter((k) => k.name !== this.current.class_name);
    this.correctChoices = choices;
    return h("div", { class: "picker", id: "correct-picker" },
      h("h3", {}, "改为类别 · Correct class to"),
      h("ol", {}, choices.map((k, i) => h("li", {}, h("button", { type: "button",
        onclick: () => this.correct(i) }, h("kbd", {}, i + 1),
        h("span", { class: "swatch", style: `background:${k.color}` }), `${k.zh} · ${k.en}`,
        h("span", { class: "muted mono" }, ` ${k.matter_code}`))))),
      h("div", { class: "hint" }, "按数字选择，Esc 取消 · digit to pick, Esc to cancel"));
  }

  onAction(action) {
    if (!this.current || this.busy) return;
    if (action === "confirm") return this.decide("confirm", {}, "ok", "已确认 Confirmed");
    if (action === "skip") return this.skip();
    this.mode = this.mode === action ? "main" : action;
    this.renderPanel();
  }

  skip() {
    const c = this.current;
    this.ids.push(c.id);
    this.log("info", `跳过 Skipped · 稍后再审 later`, c);
    this.next();
  }

  /** The action log under the evidence: the last decisions of this session, newest first, each
   * linking to its case (no undo: a mistake is fixed in the case detail with reopen/correct). */
  log(kind, label, c) {
    const list = $("#action-log");
    if (!list) return;
    const now = new Date();
    list.prepend(h("li", { class: `log-${kind}` },
      h("span", { class: "when" }, `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`),
      h("span", { class: "what" }, label),
      h("a", { href: `/cases/${c.id}` }, `#${c.id} ${c.class_zh || ""}`),
      h("span", { class: "muted" }, c.road_name || "")));
    while (list.children.length > 4) list.lastChild.remove();
  }

  reject(i) {
    const r = REJECT_REASONS[i];
    if (!r) return;
    this.decide("reject", { reason: r.key, note: `${r.zh} / ${r.en}` }, "bad", `已驳回 Rejected (${r.zh})`);
  }

  correct(i) {
    const k = (this.correctChoices || [])[i];
    if (!k) return;
    this.decide("correct", { class_name: k.name }, "info",
      `已改类 Corrected ${CLASS_BY_NAME[this.current.class_name]?.zh || ""} → ${k.zh} ${k.matter_code}`, true);
  }

  /** Send a decision. Confirm/reject move on at once (the next case is already loaded) and the
   * toast reports the stored result; a failed decision is put back at the front of the queue. */
  async decide(action, extra, kind, label, stay = false) {
    const c = this.current;
    const request = api(`/v1/cases/${c.id}/actions`, { json: actionPayload(action, extra) });
    this.cache.delete(c.id);
    if (stay) { // a corrected case stays on screen for its confirm/reject decision
      this.busy = true;
      $$("#panel button").forEach((b) => { b.disabled = true; });
      try {
        await request;
        this.mode = "main";
        this.show(await this.load(c.id));
        this.log(kind, label, this.current);
      } catch (err) {
        toast(`#${c.id} ${action} 失败 failed: ${err.message}`, "bad", 6000);
        this.mode = "main";
        this.renderPanel();
      } finally { this.busy = false; }
      return;
    }
    this.done += 1;
    this.decided.add(c.id);
    const shown = this.next();
    try {
      await request;
      this.log(kind, label, c);
    } catch (err) {
      this.done -= 1;
      this.decided.delete(c.id);
      toast(`#${c.id} ${action} 失败 failed: ${err.message}`, "bad", 8000);
      if (err.status !== 409 && err.status !== 404) { // 409: someone else decided it already
        await shown;
        if (this.current) this.ids.unshift(this.current.id);
        this.ids.unshift(c.id);
        await this.next();
      }
    }
  }

  onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target && ["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName)) return;
    const key = e.key;
    if (key === "?") { toggleHelp(); e.preventDefault(); return; }
    if (key === "Escape") { closeHelp(); if (this.mode !== "main") { this.mode = "main"; this.renderPanel(); } return; }
    if (!this.current || this.busy) return;
    if (this.mode === "reject" && /^[1-9]$/.test(key)) { this.reject(Number(key) - 1); e.preventDefault(); return; }
    if (this.mode === "correct" && /^[1-9]$/.test(key)) { this.correct(Number(key) - 1); e.preventDefault(); return; }
    if (key === "ArrowLeft" || key === "ArrowRight") { // browse the case's observations
      const buttons = $$("#thumbs button");
      const at = buttons.findIndex((b) => b.classList.contains("active"));
      const next = buttons[(at + (key === "ArrowRight" ? 1 : -1) + buttons.length) % buttons.length];
      if (next) { next.click(); e.preventDefault(); }
      return;
    }
    const k = key.toLowerCase();
    this.keyAt = performance.now();
    if (k === "c" || key === "Enter") { e.preventDefault(); this.onAction("confirm"); }
    else if (k === "r") { e.preventDefault(); this.onAction("reject"); }
    else if (k === "k") { e.preventDefault(); this.onAction("correct"); }
    else if (k === "s" || key === " ") { e.preventDefault(); this.onAction("skip"); }
  }
}

function toggleHelp() { $("#help")?.classList.toggle("hidden"); }
function closeHelp() { $("#help")?.classList.add("hidden"); }

// ---------------------------------------------------------------- case list
class CaseList {
  constructor(root) {
    this.root = root;
    this.form = $("#filters", root);
    this.body = $("#case-rows", root);
    this.more = $("#more", root);
    this.cursor = null;
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.reload(true); });
    this.form.addEventListener("change", () => this.reload(true));
    this.more.addEventListener("click", () => this.page());
    this.reload(false);
  }

  query() {
    const fd = new FormData(this.form);
    const q = new URLSearchParams();
    for (const [k, v] of fd.entries()) if (v !== "") q.append(k, v);
    return q;
  }

  reload(push) {
    const q = this.query();
    if (push) history.replaceState(null, "", `${location.pathname}?${q}`);
    this.body.replaceChildren();
    this.cursor = null;
    this.count = 0;
    this.page();
  }

  async page() {
    const q = this.query();
    const apiQ = new URLSearchParams();
    for (const [k, v] of q.entries()) {
      if (k === "since" || k === "until") {
        const d = new Date(`${v}T00:00:00`); // local midnight; `until` is inclusive: add a day
        if (!isNaN(d)) {
          if (k === "until") d.setDate(d.getDate() + 1);
          apiQ.append(k, d.toISOString());
        }
      } else apiQ.append(k, v);
    }
    apiQ.set("limit", "50");
    if (this.cursor) apiQ.set("cursor", this.cursor);
    this.more.disabled = true;
    try {
      const data = await api(`/v1/cases?${apiQ}`);
      for (const c of data.items) this.body.append(this.row(c));
      this.count += data.items.length;
      this.cursor = data.next_cursor;
      $("#list-count").textContent = `${this.count} 件${this.cursor ? "+" : ""} · ${this.count}${this.cursor ? "+" : ""} cases`;
      this.more.classList.toggle("hidden", !this.cursor);
      if (!this.count) this.body.append(h("tr", {}, h("td", { colspan: 9, class: "muted" }, "没有符合条件的案件 · no cases match")));
    } catch (err) {
      toast(`加载失败 load failed: ${err.message}`, "bad");
    } finally { this.more.disabled = false; }
  }

  row(c) {
    const url = evidenceUrl(c);
    return h("tr", { class: "clickable", dataset: { caseId: c.id }, onclick: () => { location.href = `/cases/${c.id}`; } },
      h("td", {}, url ? h("img", { class: "mini", src: url, loading: "lazy", alt: "" }) : ""),
      h("td", { class: "num" }, h("a", { href: `/cases/${c.id}` }, `#${c.id}`)),
      h("td", { class: "wrap" }, h("span", { class: "swatch", style: `background:${classColor(c.class_name)}` }), " ",
        c.class_zh, h("div", { class: "muted" }, c.class_en)),
      h("td", { class: "mono" }, c.matter_code),
      h("td", {}, statusTag(c.status)),
      h("td", {}, c.road_name || c.road_segment_id || "—", h("div", { class: "muted mono" }, c.road_segment_id || "")),
      h("td", { title: fmtTime(c.first_seen || c.created_at) }, fmtTime(c.first_seen || c.created_at).slice(5)),
      h("td", {}, ["pending_review", "confirmed", "dispatched"].includes(c.status) || c.overdue ? deadlineBadge(c) : "—"),
      h("td", { class: "wrap" }, (c.vehicle_ids || []).join(", ")));
  }
}

// ---------------------------------------------------------------- case detail
class CaseDetailView {
  constructor(root) {
    this.root = root;
    this.id = CONFIG.case_id;
    this.reload();
  }

  async reload() {
    try {
      this.c = await api(`/v1/cases/${this.id}`);
      this.render();
    } catch (err) {
      this.root.replaceChildren(h("div", { class: "card forbidden" }, h("h2", {}, "无法加载案件 · cannot load case"),
        h("p", {}, err.message)));
    }
  }

  render() {
    const c = this.c;
    $("#case-title").textContent = `案件 #${c.id} · ${c.class_zh}`;
    const stage = $("#stage", this.root);
    showEvidence(stage, c, c.class_name);
    const n = thumbs($("#thumbs", this.root), c, (o) => showEvidence(stage, o, o.class_name || c.class_name));
    $("#thumbs-label").textContent = `全部观测 · ${n} observation(s) with evidence`;
    const side = $("#side", this.root);
    side.replaceChildren(
      deadlineLine(c), classHeader(c), caseChips(c), factsList(c),
      h("h3", { class: "section-title" }, "操作 ", h("span", { class: "en" }, "Actions")), this.actions(),
      h("h3", { class: "section-title" }, "历史 ", h("span", { class: "en" }, "History")), this.history());
  }

  actions() {
    const allowed = (CONFIG.actions_by_status[this.c.status] || []).filter((a) => CONFIG.role_actions.includes(a));
    const box = h("div", { class: "lifecycle", id: "lifecycle" });
    if (!allowed.length) { box.append(h("span", { class: "muted" }, "此状态无可用操作 · no actions in this state")); return box; }
    const note = h("input", { class: "note", id: "action-note", placeholder: "原因（驳回/作废/重开必填） · reason / note" });
    const unit = h("input", { id: "action-unit", value: this.c.responsible_unit || "", placeholder: "责任单位 · unit" });
    const klass = h("select", { id: "action-class" }, VIOLATION_CLASSES.filter((k) => k.name !== this.c.class_name)
      .map((k) => h("option", { value: k.name }, `${k.zh} ${k.matter_code}`)));
    const button = (a) => {
      const [zh, en] = ACTION_LABELS[a] || [a, a];
      const cls = ["confirm", "close", "verify", "dispatch", "handle"].includes(a) ? "primary" : ["reject", "void"].includes(a) ? "danger" : "";
      return h("button", { type: "button", class: `btn small ${cls}`, "data-action": a,
        onclick: () => this.act(a, note.value, klass.value, unit.value) }, zh, h("span", { class: "en" }, en));
    };
    box.append(h("label", { class: "field" }, h("span", {}, "备注 ", h("span", { class: "en" }, "Note")), note));
    const plain = allowed.filter((a) => a !== "dispatch" && a !== "correct");
    if (plain.length) box.append(h("div", { class: "row" }, plain.map(button)));
    if (allowed.includes("dispatch")) {
      box.append(h("label", { class: "field" }, h("span", {}, "派遣至 ", h("span", { class: "en" }, "Dispatch to")),
        h("div", { class: "row" }, unit, button("dispatch"))));
    }
    if (allowed.includes("correct")) {
      box.append(h("label", { class: "field" }, h("span", {}, "改为类别 ", h("span", { class: "en" }, "Correct class to")),
        h("div", { class: "row" }, klass, button("correct"))));
    }
    return box;
  }

  async act(action, note, klass, unit) {
    if (CONFIG.note_required.includes(action) && !note.trim()) {
      toast(`${ACTION_LABELS[action][0]} 需要填写原因 · ${action} needs a reason`, "bad");
      $("#action-note")?.focus();
      return;
    }
    const payload = actionPayload(action, note.trim() ? { note: note.trim() } : {});
    if (action === "correct") payload.class_name = klass;
    if (action === "dispatch" && unit.trim()) payload.unit = unit.trim();
    try {
      await api(`/v1/cases/${this.c.id}/actions`, { json: payload });
      toast(`${ACTION_LABELS[action][0]} ${ACTION_LABELS[action][1]} · #${this.c.id}`, "ok");
      await this.reload();
    } catch (err) { toast(`${action} 失败 failed: ${err.message}`, "bad", 6000); }
  }

  history() {
    const list = h("ol", { class: "timeline", id: "history" });
    for (const e of this.c.history || []) {
      const [zh, en] = ACTION_LABELS[e.action] || [e.action, ""];
      const move = e.from_status && e.to_status && e.from_status !== e.to_status
        ? ` ${STATUS_LABELS[e.from_status]?.[0] || e.from_status} → ${STATUS_LABELS[e.to_status]?.[0] || e.to_status}` : "";
      list.append(h("li", {}, h("div", {}, h("strong", {}, `${zh} `), h("span", { class: "muted" }, en), move),
        h("div", { class: "when" }, `${fmtTime(e.at)} · ${e.actor}`),
        e.note ? h("div", {}, e.note) : null,
        changeLine(e.data && e.data.changes)));
    }
    return list;
  }
}

const CHANGE_LABELS = { class_name: "类别 class", matter_code: "编码 code", responsible_unit: "责任单位 unit" };

/** "类别 class: 垃圾站(箱)满溢 → 机动车乱停放" lines for the fields an action changed. */
function changeLine(changes) {
  if (!changes) return null;
  const show = (k, v) => (k === "class_name" && CLASS_BY_NAME[v] ? CLASS_BY_NAME[v].zh : v ?? "—");
  const parts = Object.entries(changes).filter(([k]) => k in CHANGE_LABELS)
    .map(([k, v]) => `${CHANGE_LABELS[k]}: ${show(k, v.from)} → ${show(k, v.to)}`);
  return parts.length ? h("div", { class: "muted" }, parts.join(" · ")) : null;
}

// ---------------------------------------------------------------- map
class MapView {
  constructor(root) {
    this.root = root;
    this.svg = $("#map-svg", root);
    this.tip = $("#map-tip", root);
    this.view = null; // {x, y, w, h} in projected units
    this.init();
  }

  async init() {
    const empty = () => ({ type: "FeatureCollection", features: [] });
    const [layer, zones, cases] = await Promise.all([
      api("/web/layers/road-segments.geojson").catch(empty),
      api("/web/layers/zones.geojson").catch(empty),
      this.allCases(),
    ]);
    this.layer = layer;
    this.zones = zones;
    this.cases = cases;
    this.fit();
    this.draw();
    this.bind();
    $("#map-count").textContent = `${cases.length} 件 cases · ${layer.features.length} 路段 segments`;
    if (!layer.features.length) {
      $("#map-note").textContent = `没有路段图层 · no road-segment layer: put road_segments.geojson in ${CONFIG.zones_dir}`;
      $("#map-note").classList.remove("hidden");
    }
  }

  async allCases() {
    const out = [];
    let cursor = null;
    const q = new URLSearchParams(location.search);
    for (let i = 0; i < 20; i += 1) { // at most 20 pages of 500
      const p = new URLSearchParams(q);
      p.set("limit", "500");
      if (cursor) p.set("cursor", cursor);
      const data = await api(`/v1/cases?${p}`);
      out.push(...data.items);
      cursor = data.next_cursor;
      if (!cursor) break;
    }
    return out;
  }

  // Equirectangular projection around the data's centre: metres east/south of it. Coordinates stay
  // small, so SVG (float32) keeps sub-metre precision for text and markers.
  project(lon, lat) { return [(lon - this.lon0) * this.kx, -(lat - this.lat0) * this.ky]; }

  fit() {
    const pts = [];
    for (const f of this.layer.features) walkCoords(f.geometry, (lon, lat) => pts.push([lon, lat]));
    for (const f of this.zones.features) walkCoords(f.geometry, (lon, lat) => pts.push([lon, lat]));
    for (const c of this.cases) pts.push([c.lon, c.lat]);
    if (!pts.length) pts.push([CONFIG.map_center[1], CONFIG.map_center[0]]);
    this.lat0 = pts.reduce((a, p) => a + p[1], 0) / pts.length;
    this.lon0 = pts.reduce((a, p) => a + p[0], 0) / pts.length;
    this.ky = 111320;
    this.kx = 111320 * Math.cos((this.lat0 * Math.PI) / 180);
    const xy = pts.map(([lon, lat]) => this.project(lon, lat));
    let [minx, miny, maxx, maxy] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const [x, y] of xy) { minx = Math.min(minx, x); maxx = Math.max(maxx, x); miny = Math.min(miny, y); maxy = Math.max(maxy, y); }
    const padding = Math.max(60, 0.08 * Math.max(maxx - minx, maxy - miny));
    this.home = { x: minx - padding, y: miny - padding, w: maxx - minx + 2 * padding, h: maxy - miny + 2 * padding };
    this.view = { ...this.home };
  }

  applyView() {
    const r = this.svg.getBoundingClientRect();
    const aspect = r.width / Math.max(1, r.height);
    let { x, y, w, h: hh } = this.view;
    if (w / hh < aspect) { const nw = hh * aspect; x -= (nw - w) / 2; w = nw; } else { const nh = w / aspect; y -= (nh - hh) / 2; hh = nh; }
    this.view = { x, y, w, h: hh };
    this.svg.setAttribute("viewBox", `${x} ${y} ${w} ${hh}`);
    this.scale = r.width / w; // px per metre
    const k = 1 / this.scale;
    $$(".road", this.svg).forEach((el) => el.setAttribute("stroke-width", 9 * k));
    $$(".road-casing", this.svg).forEach((el) => el.setAttribute("stroke-width", 13 * k));
    $$(".zone", this.svg).forEach((el) => el.setAttribute("stroke-width", 1.5 * k));
    $$(".road-label", this.svg).forEach((el) => { el.style.fontSize = `${13 * k}px`; el.style.strokeWidth = `${4 * k}px`;
      el.setAttribute("dy", el.dataset.area ? 4.5 * k : -10 * k); });
    $$(".road-area-casing", this.svg).forEach((el) => { el.style.strokeWidth = `${5 * k}px`; });
    $$(".case-pt", this.svg).forEach((el) => el.setAttribute("transform", `translate(${el.dataset.x} ${el.dataset.y}) scale(${k})`));
    const metres = niceNumber(120 / this.scale);
    $("#map-scale").textContent = `${metres >= 1000 ? `${metres / 1000} km` : `${metres} m`} ≈ ${Math.round(metres * this.scale)} px`;
  }

  draw() {
    const roads = s("g", { class: "roads" });
    const casings = s("g");
    const labels = s("g");
    for (const f of this.layer.features) {
      // Road segments are centre lines (LineString) or road-area polygons: lines get a white stroke
      // over a casing, areas a white fill with a casing outline.
      const area = /Polygon/.test(f.geometry && f.geometry.type);
      const d = pathData(f.geometry, (lon, lat) => this.project(lon, lat), area);
      if (!d) continue;
      casings.append(s("path", { d, class: area ? "road-area-casing" : "road-casing" }));
      const path = s("path", { d, class: area ? "road-area" : "road", "data-segment": (f.properties || {}).road_segment_id });
      const p = f.properties || {};
      const title = s("title");
      title.textContent = `${p.road_name || p.name || ""} ${p.road_segment_id || p.id || ""} · 路长 ${p.road_chief || "—"}`;
      path.append(title);
      roads.append(path);
      const anchor = labelAnchor(f.geometry);
      if (anchor && (p.road_name || p.name)) {
        const [x, y] = this.project(anchor.at[0], anchor.at[1]);
        const [ax, ay] = this.project(anchor.from[0], anchor.from[1]);
        const [bx, by] = this.project(anchor.to[0], anchor.to[1]);
        let angle = (Math.atan2(by - ay, bx - ax) * 180) / Math.PI;
        if (angle > 90) angle -= 180;
        if (angle < -90) angle += 180; // keep the text upright
        const t = s("text", { x, y, class: "road-label", "text-anchor": "middle", "data-area": area ? 1 : null,
          transform: `rotate(${angle.toFixed(1)} ${x} ${y})` });
        t.textContent = p.road_name || p.name;
        labels.append(t);
      }
    }
    const zoneGroup = s("g", { class: "zones" });
    for (const f of this.zones.features) {
      const d = pathData(f.geometry, (lon, lat) => this.project(lon, lat), true);
      if (!d) continue;
      const path = s("path", { d, class: "zone", "fill-rule": "evenodd" });
      const title = s("title");
      title.textContent = `${f.properties.layer} ${f.properties.name || ""}`;
      path.append(title);
      zoneGroup.append(path);
    }
    const pts = s("g", { class: "cases" });
    const order = [...this.cases].sort((a, b) => (a.status === "pending_review") - (b.status === "pending_review"));
    for (const c of order) {
      const [x, y] = this.project(c.lon, c.lat);
      const g = s("g", { class: "case-pt", "data-case-id": c.id, "data-x": x, "data-y": y, tabindex: 0, role: "link",
        "data-class": c.class_name, "data-group": statusGroup(c.status) });
      g.append(markerShape(c.status, classColor(c.class_name)));
      g.addEventListener("click", (e) => { e.stopPropagation(); location.href = `/cases/${c.id}`; });
      g.addEventListener("keydown", (e) => { if (e.key === "Enter") location.href = `/cases/${c.id}`; });
      g.addEventListener("mouseenter", () => this.showTip(c, g));
      g.addEventListener("mouseleave", () => this.tip.classList.add("hidden"));
      pts.append(g);
    }
    this.svg.replaceChildren(zoneGroup, casings, roads, labels, pts);
    this.applyView();
  }

  showTip(c, g) {
    const r = g.getBoundingClientRect();
    const box = this.root.querySelector(".map-box").getBoundingClientRect();
    this.tip.textContent = `#${c.id} ${c.class_zh} · ${STATUS_LABELS[c.status]?.[0] || c.status} · ${c.road_name || ""}`;
    this.tip.style.left = `${r.right - box.left + 8}px`;
    this.tip.style.top = `${r.top - box.top - 6}px`;
    this.tip.classList.remove("hidden");
  }

  zoom(factor, cx, cy) {
    const v = this.view;
    const px = cx ?? v.x + v.w / 2;
    const py = cy ?? v.y + v.h / 2;
    this.view = { x: px - (px - v.x) * factor, y: py - (py - v.y) * factor, w: v.w * factor, h: v.h * factor };
    this.applyView();
  }

  toWorld(e) {
    const r = this.svg.getBoundingClientRect();
    return [this.view.x + ((e.clientX - r.left) / r.width) * this.view.w, this.view.y + ((e.clientY - r.top) / r.height) * this.view.h];
  }

  bind() {
    this.svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [x, y] = this.toWorld(e);
      this.zoom(e.deltaY > 0 ? 1.2 : 1 / 1.2, x, y);
    }, { passive: false });
    let drag = null;
    this.svg.addEventListener("pointerdown", (e) => {
      if (e.target.closest(".case-pt")) return;
      drag = { x: e.clientX, y: e.clientY, view: { ...this.view } };
      this.svg.setPointerCapture(e.pointerId);
      this.svg.classList.add("dragging");
    });
    this.svg.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const r = this.svg.getBoundingClientRect();
      const dx = ((e.clientX - drag.x) / r.width) * drag.view.w;
      const dy = ((e.clientY - drag.y) / r.height) * drag.view.h;
      this.view = { ...drag.view, x: drag.view.x - dx, y: drag.view.y - dy };
      this.applyView();
    });
    const end = () => { drag = null; this.svg.classList.remove("dragging"); };
    this.svg.addEventListener("pointerup", end);
    this.svg.addEventListener("pointercancel", end);
    $("#zoom-in").addEventListener("click", () => this.zoom(1 / 1.5));
    $("#zoom-out").addEventListener("click", () => this.zoom(1.5));
    $("#zoom-home").addEventListener("click", () => { this.view = { ...this.home }; this.applyView(); });
    window.addEventListener("resize", () => this.applyView());
  }
}

function niceNumber(x) {
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function walkCoords(geom, fn) {
  if (!geom) return;
  const rec = (c) => { if (typeof c[0] === "number") fn(c[0], c[1]); else c.forEach(rec); };
  if (geom.type === "GeometryCollection") geom.geometries.forEach((g) => walkCoords(g, fn));
  else rec(geom.coordinates);
}

function lines(geom) {
  switch (geom && geom.type) {
    case "LineString": return [geom.coordinates];
    case "MultiLineString": return geom.coordinates;
    case "Polygon": return geom.coordinates;
    case "MultiPolygon": return geom.coordinates.flat();
    case "GeometryCollection": return geom.geometries.flatMap(lines);
    default: return [];
  }
}

function pathData(geom, project, close = false) {
  return lines(geom).map((line) => line.map(([lon, lat], i) => {
    const [x, y] = project(lon, lat);
    return `${i ? "L" : "M"}${x.toFixed(1)} ${y.toFixed(1)}`;
  }).join("") + (close ? "Z" : "")).join("");
}

/** Where to write a road's name: lines at their middle vertex along the local direction; areas at
 * the ring's centre along its longest edge (the road's direction for a street polygon). */
function labelAnchor(geom) {
  const ls = lines(geom);
  if (!ls.length || ls[0].length < 2) return null;
  const line = ls[0];
  if (/Polygon/.test(geom.type)) {
    const pts = line.slice(0, -1);
    const at = [pts.reduce((a, p) => a + p[0], 0) / pts.length, pts.reduce((a, p) => a + p[1], 0) / pts.length];
    let best = null;
    for (let i = 0; i < line.length - 1; i += 1) {
      const len = Math.hypot(line[i + 1][0] - line[i][0], line[i + 1][1] - line[i][1]);
      if (!best || len > best.len) best = { len, from: line[i], to: line[i + 1] };
    }
    return { at, from: best.from, to: best.to };
  }
  const i = Math.min(Math.floor(line.length / 2), line.length - 2);
  return { at: line[i], from: line[i], to: line[i + 1] };
}

/** Marker for a case: fill = class colour, shape + stroke = status group. Drawn at 1 px = 1 unit. */
export function markerShape(status, color) {
  if (status === "pending_review") {
    return s("circle", { r: 8, fill: color, stroke: "#f0883e", "stroke-width": 3.5 });
  }
  if (["confirmed", "dispatched", "handled", "verified"].includes(status)) {
    return s("rect", { x: -7, y: -7, width: 14, height: 14, rx: 2, fill: color, stroke: "#17212e", "stroke-width": 2.5, transform: "rotate(45)" });
  }
  if (status === "closed") return s("circle", { r: 6, fill: color, stroke: "#ffffff", "stroke-width": 2, opacity: 0.75 });
  return s("path", { d: "M-6 -6 L6 6 M6 -6 L-6 6", stroke: color, "stroke-width": 4, "stroke-linecap": "round" }); // rejected / voided
}

/** Status group of a case on the map: one marker shape per group. */
export function statusGroup(status) {
  if (status === "pending_review") return "pending";
  if (["confirmed", "dispatched", "handled", "verified"].includes(status)) return "progress";
  if (status === "closed") return "closed";
  return "rejected";
}

/** Legend whose rows also filter the map: click a class or a status group to hide/show it. */
function buildLegend() {
  const hidden = new Set();
  const apply = () => {
    $$("#map-svg .case-pt").forEach((g) => {
      g.style.display = hidden.has(`class:${g.dataset.class}`) || hidden.has(`group:${g.dataset.group}`) ? "none" : "";
    });
    $$(".legend li[data-key]").forEach((li) => li.classList.toggle("off", hidden.has(li.dataset.key)));
  };
  const toggle = (key) => { if (hidden.has(key)) hidden.delete(key); else hidden.add(key); apply(); };
  const item = (key, ...children) => h("li", { "data-key": key, role: "button", tabindex: 0, title: "点击显示/隐藏 · click to show/hide",
    onclick: () => toggle(key), onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(key); } } },
  ...children);
  const ul = $("#legend-classes");
  if (ul) {
    for (const k of VIOLATION_CLASSES) {
      ul.append(item(`class:${k.name}`, h("span", { class: "swatch", style: `background:${k.color}` }),
        h("div", {}, k.zh, h("span", { class: "en" }, k.en))));
    }
  }
  const st = $("#legend-status");
  if (st) {
    const rows = [["pending_review", "待审核 pending"], ["confirmed", "处理中 in progress"], ["closed", "已结案 closed"], ["rejected", "驳回/作废 rejected/voided"]];
    for (const [status, label] of rows) {
      const svg = s("svg", { width: 22, height: 22, viewBox: "-11 -11 22 22" });
      svg.append(markerShape(status, "#9aa5b1"));
      st.append(item(`group:${statusGroup(status)}`, svg, label));
    }
  }
}

// ---------------------------------------------------------------- ranking
function initRanking(root) {
  const table = $("#ranking-table", root);
  if (!table) return;
  const tbody = table.tBodies[0];
  const headers = $$("th.sortable", table);
  headers.forEach((th, index) => th.addEventListener("click", () => {
    const dir = th.classList.contains("sorted-desc") ? "asc" : "desc";
    headers.forEach((x) => x.classList.remove("sorted-asc", "sorted-desc"));
    th.classList.add(`sorted-${dir}`);
    const col = Number(th.dataset.col ?? index);
    const rows = Array.from(tbody.rows);
    const val = (r) => {
      const cell = r.cells[col];
      const raw = cell.dataset.sort ?? cell.textContent.trim();
      const num = Number(raw);
      return raw === "" ? null : Number.isNaN(num) ? raw : num;
    };
    rows.sort((a, b) => {
      const va = val(a); const vb = val(b);
      if (va === null) return 1; if (vb === null) return -1;
      const cmp = typeof va === "number" && typeof vb === "number" ? va - vb : String(va).localeCompare(String(vb), "zh");
      return dir === "asc" ? cmp : -cmp;
    });
    tbody.append(...rows);
  }));
}

// ---------------------------------------------------------------- boot
function boot() {
  const page = document.body.dataset.page;
  const root = $("main");
  $("#help-close")?.addEventListener("click", closeHelp);
  if (page !== "queue") {
    document.addEventListener("keydown", (e) => {
      if (e.key === "?" && !["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName)) toggleHelp();
      if (e.key === "Escape") closeHelp();
    });
  }
  if (page === "queue") window.swQueue = new ReviewQueue(root);
  else if (page === "cases") window.swList = new CaseList(root);
  else if (page === "case") window.swCase = new CaseDetailView(root);
  else if (page === "map") { buildLegend(); window.swMap = new MapView(root); }
  else if (page === "ranking") initRanking(root);
}

boot();
