// The relapse on a timeline (SVG): the dated records the service read (the assessment extension's
// `timeline`), one mark each, in lanes by kind, with the first 18 months after diagnosis and the
// 18-36 month band shaded: the COG risk group and the HSCT answer turn on which band a relapse is in.
// Text is set with textContent only.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  const LANES = {
    "diagnosis": 0, "all-record": 0, "no-remission": 0,
    "relapse": 1, "relapse-unplaced": 1,
    "remission": 2, "hsct": 2,
    "mrd": 3, "blasts": 4,
  };
  const LANE_NAMES = ["Diagnosis", "Relapse", "Remission / HSCT", "MRD", "Blasts"];
  const COLOURS = {
    "diagnosis": "#23395b", "all-record": "#7a8699", "no-remission": "#8b1c12", "relapse": "#d0021b",
    "relapse-unplaced": "#e57373", "remission": "#27ae60", "hsct": "#8e44ad", "mrd": "#1f5fbf", "blasts": "#e67e22",
  };
  const MONTH_MS = 30.4375 * 86400000;

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  // "2021-05-14T11:05:00-05:00" -> the day it was written with; "2021-04" -> its first day.
  function day(text) {
    const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?/.exec(text || "");
    if (!m) return null;
    return Date.UTC(+m[1], m[2] ? +m[2] - 1 : 0, m[3] ? +m[3] : 1);
  }

  function addMonths(ms, months) {
    const d = new Date(ms);
    const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1));
    const last = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
    return Date.UTC(target.getUTCFullYear(), target.getUTCMonth(), Math.min(d.getUTCDate(), last));
  }

  function describe(event) {
    const parts = [event.label, event.date.slice(0, 10)];
    if (event.sites) parts.push(event.sites.join(" + "));
    if (event.display || event.value) parts.push(event.display || event.value);
    if (event.roleLabel) parts.push(event.roleLabel);
    return parts.join(" · ");
  }

  function shortLabel(event) {
    if (event.kind === "relapse" || event.kind === "relapse-unplaced") return (event.sites || []).join(" + ") || event.label;
    if (event.kind === "mrd") {
      const role = { "end-of-reinduction": " · end of reinduction", "relapse-work-up": " · work-up" }[event.role] || "";
      return (event.display || event.value || "").split(" (")[0] + role;
    }
    if (event.kind === "blasts") return event.display || event.value || "";
    return event.label;
  }

  function draw(container, events, onSelect) {
    container.replaceChildren();
    const dated = (events || []).map(e => ({ e, t: day(e.date) })).filter(x => x.t !== null);
    const width = 840, left = 120, right = 20, laneH = 34, top = 44, height = top + LANE_NAMES.length * laneH + 30;
    const svg = el("svg", { "data-testid": "timeline", viewBox: `0 0 ${width} ${height}`, width, height, role: "img" }, container);
    el("title", {}, svg).textContent = "Timeline of the relapse";
    if (!dated.length) {
      const t = el("text", { x: 12, y: 24 }, svg); t.textContent = "No dated records to draw.";
      return svg;
    }
    const diagnosis = dated.find(x => x.e.kind === "diagnosis");
    let start = Math.min(...dated.map(x => x.t));
    let end = Math.max(...dated.map(x => x.t));
    if (diagnosis) end = Math.max(end, addMonths(diagnosis.t, 40));
    // Room on the right for the labels of the latest marks.
    const span = end - start;
    start -= MONTH_MS; end += Math.max(3 * MONTH_MS, span * 0.14);
    const x = t => left + (t - start) / (end - start) * (width - left - right);
    const bottom = top + LANE_NAMES.length * laneH;

    if (diagnosis) {
      const m18 = addMonths(diagnosis.t, 18), m36 = addMonths(diagnosis.t, 36);
      el("rect", { class: "band-early", x: x(diagnosis.t), y: top - 30, width: x(m18) - x(diagnosis.t), height: bottom - top + 30 }, svg);
      el("rect", { class: "band-mid", x: x(m18), y: top - 30, width: x(m36) - x(m18), height: bottom - top + 30 }, svg);
      const a = el("text", { x: x(diagnosis.t) + 4, y: top - 18 }, svg); a.textContent = "< 18 months";
      const b = el("text", { x: x(m18) + 4, y: top - 18 }, svg); b.textContent = "18 to 36 months";
      const c = el("text", { x: x(m36) + 4, y: top - 18 }, svg); c.textContent = "> 36 months";
    }
    LANE_NAMES.forEach((name, i) => {
      const y = top + i * laneH + laneH / 2;
      el("line", { class: "tick", x1: left, x2: width - right, y1: y, y2: y }, svg);
      const label = el("text", { x: 8, y: y + 4 }, svg); label.textContent = name;
    });
    el("line", { class: "axis", x1: left, x2: width - right, y1: bottom, y2: bottom }, svg);
    const firstYear = new Date(start).getUTCFullYear(), lastYear = new Date(end).getUTCFullYear();
    for (let year = firstYear + 1; year <= lastYear; year++) {
      const t = Date.UTC(year, 0, 1);
      el("line", { class: "axis", x1: x(t), x2: x(t), y1: bottom, y2: bottom + 5 }, svg);
      const label = el("text", { x: x(t) - 14, y: bottom + 18 }, svg); label.textContent = String(year);
    }
    const placed = {};
    for (const { e, t } of dated) {
      const lane = LANES[e.kind] ?? 0;
      const cx = x(t), cy = top + lane * laneH + laneH / 2;
      const g = el("g", { class: "event", "data-testid": "timeline-event", "data-kind": e.kind, "data-source": (e.source || []).join(" "), tabindex: 0 }, svg);
      el("title", {}, g).textContent = describe(e);
      const colour = COLOURS[e.kind] || "#333";
      if (e.kind === "relapse" || e.kind === "relapse-unplaced") {
        el("path", { d: `M${cx} ${cy - 8} L${cx + 7} ${cy + 6} L${cx - 7} ${cy + 6} Z`, fill: colour }, g);
      } else if (e.kind === "diagnosis" || e.kind === "hsct") {
        el("rect", { x: cx - 6, y: cy - 6, width: 12, height: 12, fill: colour }, g);
      } else {
        el("circle", { cx, cy, r: 5.5, fill: e.role && e.role !== "end-of-reinduction" && e.role !== "relapse-work-up" ? "#fff" : colour, stroke: colour, "stroke-width": 2 }, g);
      }
      // Alternate labels above and below the lane where marks crowd.
      const key = `${lane}:${Math.round(cx / 60)}`;
      placed[key] = (placed[key] || 0) + 1;
      const label = el("text", { x: cx + 8, y: cy + (placed[key] % 2 ? -7 : 14) }, g);
      label.textContent = shortLabel(e);
      if (onSelect) {
        g.addEventListener("click", () => onSelect(e));
        g.addEventListener("keydown", ev => { if (ev.key === "Enter") onSelect(e); });
      }
    }
    return svg;
  }

  window.RelapseTimeline = { draw };
})();
