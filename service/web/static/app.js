// The testing page: read the input, call the service's own CDS Hooks API, show the answer as an EHR
// would. Everything from the input or the answer is shown with textContent (or via SafeMarkdown).
"use strict";

(function () {
  const SERVICE = "cds-services/relapse-all-assessment";
  const PREFETCH_KEYS = { Condition: "conditions", Observation: "observations", Procedure: "procedures", Specimen: "specimens" };
  const $ = id => document.getElementById(id);
  let resources = new Map(); // "Type/id" -> resource, from the input

  function node(tag, text, attrs) {
    const n = document.createElement(tag);
    if (text !== undefined && text !== null) n.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
    return n;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
  }

  function clearOutput() {
    $("error").hidden = true;
    $("error").textContent = "";
    for (const id of ["cards", "timeline-box", "assessment", "facts"]) $(id).replaceChildren();
    $("resource-view").hidden = true;
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map(x => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function remember(resource) {
    if (resource && typeof resource === "object" && typeof resource.resourceType === "string" && typeof resource.id === "string") {
      resources.set(`${resource.resourceType}/${resource.id}`, resource);
    }
    if (resource && resource.resourceType === "Bundle" && Array.isArray(resource.entry)) {
      for (const entry of resource.entry) if (entry && entry.resource) remember(entry.resource);
    }
  }

  // A FHIR Bundle becomes a patient-view request with the service's prefetch keys, as an EHR sends it.
  function requestFromBundle(bundle) {
    const entries = Array.isArray(bundle.entry) ? bundle.entry.map(e => e && e.resource).filter(r => r && typeof r === "object") : [];
    const patient = entries.find(r => r.resourceType === "Patient");
    if (!patient) throw new Error("This Bundle has no Patient resource: the service assesses one patient, so the Bundle must carry its Patient.");
    if (typeof patient.id !== "string" || !patient.id) throw new Error("The Patient in this Bundle has no id: the other resources cannot be tied to it.");
    const groups = {};
    for (const r of entries) {
      const key = PREFETCH_KEYS[r.resourceType];
      if (key) (groups[key] = groups[key] || []).push({ resource: r });
    }
    const prefetch = { patient };
    for (const key of Object.values(PREFETCH_KEYS)) {
      prefetch[key] = groups[key] ? { resourceType: "Bundle", type: "searchset", entry: groups[key] } : null;
    }
    return { hook: "patient-view", hookInstance: uuid(), context: { userId: "Practitioner/testing-page", patientId: patient.id }, prefetch };
  }

  // What to send for what was pasted; throws an Error with a message for the user.
  function toRequest(text) {
    if (!text.trim()) throw new Error("Nothing to assess: choose an example, or paste or upload a FHIR Bundle or a CDS Hooks request.");
    let data;
    try { data = JSON.parse(text); } catch (e) { throw new Error(`This is not JSON (${e.message}). Paste a FHIR Bundle or a CDS Hooks request.`); }
    if (!data || typeof data !== "object" || Array.isArray(data)) throw new Error("This JSON is not an object: paste a FHIR Bundle or a CDS Hooks request.");
    if (typeof data.hook === "string") {
      for (const value of Object.values(data.prefetch || {})) remember(value);
      return data;
    }
    if (data.resourceType === "Bundle") { remember(data); return requestFromBundle(data); }
    if (typeof data.resourceType === "string") throw new Error(`This is a FHIR ${data.resourceType}, not a Bundle: paste a Bundle holding the Patient and their records.`);
    throw new Error("This JSON is neither FHIR (no resourceType) nor a CDS Hooks request (no hook).");
  }

  function apiMessage(body, status) {
    const issues = body && Array.isArray(body.issue) ? body.issue.map(i => i.diagnostics).filter(Boolean) : [];
    return `The service refused the request (HTTP ${status}): ${issues.join("; ") || "no details"}`;
  }

  function showResource(ref) {
    const view = $("resource-view");
    const resource = resources.get(ref);
    view.textContent = resource ? `${ref}\n\n${JSON.stringify(resource, null, 2)}` : `${ref}: not in the input`;
    view.hidden = false;
    view.scrollIntoView({ block: "nearest" });
  }

  function renderCard(card) {
    const indicator = ["info", "warning", "critical"].includes(card.indicator) ? card.indicator : "info";
    const box = node("article", null, { class: `card ${indicator}`, "data-testid": "card" });
    box.appendChild(node("div", indicator, { class: "indicator" }));
    box.appendChild(node("h3", card.summary, { class: "summary", "data-testid": "card-summary" }));
    if (card.detail) {
      const detail = node("div", null, { class: "detail" });
      detail.appendChild(window.SafeMarkdown.render(card.detail));
      box.appendChild(detail);
    }
    if (Array.isArray(card.suggestions) && card.suggestions.length) {
      const row = node("div", null, { class: "suggestions" });
      for (const s of card.suggestions) {
        const button = node("button", s.label, { type: "button", "data-testid": "suggestion", class: s.isRecommended ? "recommended" : "" });
        button.addEventListener("click", () => {
          const view = $("resource-view");
          view.textContent = `Suggestion "${s.label}" would ask the EHR to create (this page sends nothing):\n\n${JSON.stringify(s.actions, null, 2)}`;
          view.hidden = false;
        });
        row.appendChild(button);
      }
      box.appendChild(row);
    }
    if (Array.isArray(card.links) && card.links.length) {
      const links = node("div", null, { class: "links" });
      for (const link of card.links) {
        if (/^https?:\/\//i.test(link.url || "")) links.appendChild(node("a", link.label, { href: link.url, target: "_blank", rel: "noopener noreferrer" }));
      }
      box.appendChild(links);
    }
    if (card.source && card.source.label) box.appendChild(node("div", `Source: ${card.source.label}`, { class: "source" }));
    return box;
  }

  function text(value) {
    if (value === null || value === undefined) return "";
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  function renderAssessment(a) {
    const dl = node("dl", null, { class: "assessment", "data-testid": "assessment" });
    const rows = [
      ["Relapse number", a.relapseNumber === null ? "cannot be told" : a.relapseNumber],
      ["COG risk", a.cogRisk], ["HSCT", a.hsct],
      ["Flags", (a.flags || []).join(", ") || "none"], ["Missing", (a.missing || []).join(", ") || "nothing"],
      ["Rules", [...(a.rules?.cogRisk || []), ...(a.rules?.hsct || [])].join(", ")],
    ];
    if (a.contradictions) rows.push(["Contradictions", a.contradictions.join("; ")]);
    if (a.notes) rows.push(["Notes", a.notes.join("; ")]);
    if (a.problems) rows.push(["Records not used", a.problems.join("; ")]);
    rows.push(["Knowledge version", a.knowledgeVersion], ["As of", a.asOf]);
    for (const [k, v] of rows) { dl.appendChild(node("dt", k)); dl.appendChild(node("dd", text(v))); }
    $("assessment").appendChild(dl);

    const table = node("table", null, { class: "facts" });
    const head = table.createTHead().insertRow();
    for (const h of ["Fact", "Value", "Date", "FHIR source"]) head.appendChild(node("th", h));
    const body = table.createTBody();
    for (const fact of a.facts || []) {
      const row = body.insertRow();
      const name = row.insertCell();
      name.textContent = fact.label || fact.name;
      name.title = fact.name;
      const value = row.insertCell();
      value.textContent = fact.display || text(fact.value);
      value.title = text(fact.value);
      row.insertCell().textContent = fact.date || "";
      const cell = row.insertCell();
      for (const ref of fact.source || []) {
        const b = node("button", ref, { type: "button", class: "source-link", "data-testid": "fact-source" });
        b.addEventListener("click", () => showResource(ref));
        cell.appendChild(b);
        cell.appendChild(document.createElement("br"));
      }
    }
    $("facts").appendChild(table);
    window.RelapseTimeline.draw($("timeline-box"), a.timeline || [], e => showResource((e.source || [])[0]));
  }

  async function assess() {
    clearOutput();
    resources = new Map();
    let request;
    try { request = toRequest($("bundle-input").value); } catch (e) { showError(e.message); return; }
    let response, body;
    try {
      // The whole timeline: every relevant record validated and drawn, not only those that can decide.
      const ext = request.extension;
      if (ext == null || (typeof ext === "object" && !Array.isArray(ext))) request.extension = Object.assign({}, ext, { "org.relapse-cds.timeline": "all" });
      response = await fetch(SERVICE, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request) });
      body = await response.json();
    } catch (e) {
      showError(`The service could not be reached or did not answer JSON (${e.message}).`);
      return;
    }
    if (!response.ok) { showError(apiMessage(body, response.status)); return; }
    const cards = Array.isArray(body.cards) ? body.cards : [];
    if (!cards.length) $("cards").appendChild(node("p", "No card: the service had nothing to say about this patient (see the assessment).", { class: "note", "data-testid": "no-cards" }));
    for (const card of cards) $("cards").appendChild(renderCard(card));
    const assessment = body.extension && body.extension["org.relapse-cds.assessment"];
    if (assessment) renderAssessment(assessment);
    document.body.dataset.state = "assessed";
  }

  async function loadExamples() {
    const select = $("example-select");
    let examples = [];
    try {
      examples = (await (await fetch("examples")).json()).examples;
      for (const example of examples) select.appendChild(node("option", example.title, { value: example.id }));
      select.dataset.loaded = "true";
    } catch (e) {
      showError(`The examples could not be loaded (${e.message}).`);
    }
    select.addEventListener("change", async () => {
      const found = examples.find(e => e.id === select.value);
      $("example-description").textContent = "";
      delete document.body.dataset.example;
      if (!found) return;
      const response = await fetch(`examples/${encodeURIComponent(found.id)}`);
      $("bundle-input").value = JSON.stringify(await response.json(), null, 1);
      $("example-description").textContent = found.description;
      document.body.dataset.example = found.id;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("assess").addEventListener("click", () => { document.body.dataset.state = "busy"; assess().finally(() => { if (document.body.dataset.state === "busy") document.body.dataset.state = "done"; }); });
    $("file-input").addEventListener("change", async ev => {
      const file = ev.target.files && ev.target.files[0];
      if (file) $("bundle-input").value = await file.text();
    });
    loadExamples();
  });
})();
