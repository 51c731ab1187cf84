"""Load and validate `mappings/`: FHIR codes -> the concepts the feature extractor understands.

Knowledge is data: which codes mean "ALL in relapse" or "bone marrow" is reviewed in YAML, not code.
The extractor only asks `codemap.has(concept, codings)`; this module makes that one dict lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from marshmallow import Schema, ValidationError, fields, validate

from .errors import KnowledgeError
from .locate import knowledge_dir

#: Every concept the extractor reads. A file naming any other concept is an error (a typo would
#: otherwise silently map nothing).
CONCEPTS: frozenset[str] = frozenset(
    {
        "all-diagnosis", "all-failed-remission", "all-in-remission", "all-in-relapse",
        "lineage-b-precursor", "lineage-t-cell", "lineage-not-stated",
        "subtype-etv6-runx1", "subtype-bcr-abl1", "subtype-kmt2a",
        "down-syndrome", "site-bone-marrow", "site-cns", "site-testis",
        "status-relapse", "status-remission", "verification-ignored",
        "hsct", "mrd", "peripheral-blasts", "genetic-variant-assessment", "variant-present",
        "gene-studied", "gene-tp53", "gene-ikzf1", "gene-etv6", "gene-runx1", "specimen-bone-marrow",
        "dna-change-type", "change-deletion",
        "hsct-order",  # draft orders checked by the order-sign service (mappings/orders.yaml)
    }
)
#: Concepts that may legitimately list no code (a site may have no bone-marrow specimen type).
MAY_BE_EMPTY: frozenset[str] = frozenset({"specimen-bone-marrow"})
#: Groups whose members must not share a code: one code cannot mean two lineages or two sites.
EXCLUSIVE_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"lineage-b-precursor", "lineage-t-cell", "lineage-not-stated"}),
    frozenset({"site-bone-marrow", "site-cns", "site-testis"}),
    frozenset({"all-in-relapse", "all-in-remission"}),
    frozenset({"status-relapse", "status-remission"}),
    frozenset({"gene-tp53", "gene-ikzf1", "gene-etv6", "gene-runx1"}),
)
EXTENSIONS: frozenset[str] = frozenset({"histology-morphology-behavior"})
UNITS: frozenset[str] = frozenset({"mrd-fraction", "blasts-per-microliter"})

Code = tuple[str, str]  # (system URI, code)


class _CodeSchema(Schema):
    system = fields.String(required=True, validate=validate.Length(min=1))
    code = fields.String(required=True, validate=validate.Length(min=1))
    display = fields.String(required=True, validate=validate.Length(min=1))
    source = fields.String(required=True, validate=validate.Length(min=1))


class _ConceptSchema(Schema):
    # A concept's meaning is described once, where it is defined (the shipped files); a site's file
    # that only adds codes to it need not repeat it: each code carries its own display and source.
    description = fields.String(validate=validate.Length(min=1))
    codes = fields.List(fields.Nested(_CodeSchema), required=True)


class _ExtensionSchema(Schema):
    description = fields.String(required=True)
    urls = fields.List(fields.Url(schemes={"http", "https"}), required=True, validate=validate.Length(min=1))


class _UnitSchema(Schema):
    system = fields.String(required=True)
    code = fields.String(required=True, validate=validate.Length(min=1))
    factor = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False))


class _UnitGroupSchema(Schema):
    description = fields.String(required=True)
    accepted = fields.List(fields.Nested(_UnitSchema), required=True)


class _MappingFileSchema(Schema):
    systems = fields.Dict(keys=fields.String(), values=fields.List(fields.String(), validate=validate.Length(min=1)))
    concepts = fields.Dict(keys=fields.String(validate=validate.OneOf(sorted(CONCEPTS))), values=fields.Nested(_ConceptSchema))
    extensions = fields.Dict(keys=fields.String(validate=validate.OneOf(sorted(EXTENSIONS))), values=fields.Nested(_ExtensionSchema))
    units = fields.Dict(keys=fields.String(validate=validate.OneOf(sorted(UNITS))), values=fields.Nested(_UnitGroupSchema))


@dataclass(frozen=True)
class CodeEntry:
    """One reviewed code: what it is, where it was checked, which file listed it."""

    system: str
    code: str
    display: str
    source: str
    file: str


@dataclass
class CodeMap:
    """The merged, validated mappings: code -> concepts, plus unit factors and extension URLs."""

    entries: dict[str, list[CodeEntry]] = field(default_factory=dict)
    units: dict[str, dict[Code, float]] = field(default_factory=dict)
    extension_urls: dict[str, frozenset[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    _index: dict[Code, frozenset[str]] = field(default_factory=dict, repr=False)

    def concepts_of(self, system: str | None, code: str | None) -> frozenset[str]:
        """The concepts a single coding belongs to (empty when unknown)."""
        if not system or not code:
            return frozenset()
        return self._index.get((system, code), frozenset())

    def has(self, concept: str, codings: Iterable[Mapping]) -> bool:
        """True when any of the codings (raw FHIR Coding dicts) is listed under `concept`."""
        return any(concept in self.concepts_of(c.get("system"), c.get("code")) for c in codings)

    def codes(self, concept: str) -> list[CodeEntry]:
        return self.entries.get(concept, [])

    def unit_factor(self, group: str, system: str | None, code: str | None) -> float | None:
        """Factor converting a value in (system, code) to the group's unit, or None if not accepted."""
        table = self.units.get(group, {})
        if code is None:
            return None
        if system is None:
            # Some EHRs send the UCUM code without its system; the code string alone is unambiguous.
            matches = {f for (s, c), f in table.items() if c == code}
            return matches.pop() if len(matches) == 1 else None
        return table.get((system, code))


def _read_yaml(path: Path) -> object:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except OSError as exc:
        raise KnowledgeError([f"{path.name}: cannot read ({exc.strerror})"]) from exc
    except yaml.YAMLError as exc:
        raise KnowledgeError([f"{path.name}: not valid YAML ({exc})"]) from exc


def _flatten(messages: object, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        out: list[str] = []
        for key, value in messages.items():
            out.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{prefix}: {'; '.join(messages)}"]
    if isinstance(messages, list):
        return [line for m in messages for line in _flatten(m, prefix)]
    return [f"{prefix}: {messages}"]


def _resolve_systems(alias: str, systems: Mapping[str, list[str]], where: str, problems: list[str]) -> list[str]:
    if alias in systems:
        return systems[alias]
    if alias.startswith(("http://", "https://", "urn:")):
        return [alias]
    problems.append(f"{where}: system {alias!r} is neither an alias from systems.yaml nor a URI")
    return []


def default_mapping_files() -> list[Path]:
    return sorted(knowledge_dir("mappings").glob("*.yaml"))


def load_mappings(extra_files: Iterable[Path] = ()) -> CodeMap:
    """Load the shipped mappings plus a site's extra files; raise KnowledgeError listing every problem."""
    paths = default_mapping_files() + [Path(p) for p in extra_files]
    problems: list[str] = []
    documents: list[tuple[Path, dict]] = []
    for path in paths:
        try:
            raw = _read_yaml(path)
        except KnowledgeError as exc:
            problems.extend(exc.problems)
            continue
        if raw is None:
            continue
        try:
            documents.append((path, _MappingFileSchema().load(raw)))
        except ValidationError as exc:
            problems.extend(f"{path.name}: {line}" for line in _flatten(exc.messages))

    systems: dict[str, list[str]] = {}
    for _, doc in documents:
        systems.update(doc.get("systems", {}))

    codemap = CodeMap(files=[str(p) for p in paths])
    concepts_seen: set[str] = set()
    for path, doc in documents:
        for concept, body in doc.get("concepts", {}).items():
            concepts_seen.add(concept)
            bucket = codemap.entries.setdefault(concept, [])
            for i, item in enumerate(body["codes"]):
                where = f"{path.name}: concepts.{concept}.codes.{i}"
                for uri in _resolve_systems(item["system"], systems, where, problems):
                    entry = CodeEntry(uri, item["code"], item["display"], item["source"], path.name)
                    if all((e.system, e.code) != (uri, item["code"]) for e in bucket):
                        bucket.append(entry)
        for name, body in doc.get("extensions", {}).items():
            codemap.extension_urls[name] = codemap.extension_urls.get(name, frozenset()) | frozenset(body["urls"])
        for group, body in doc.get("units", {}).items():
            table = codemap.units.setdefault(group, {})
            for i, unit in enumerate(body["accepted"]):
                for uri in _resolve_systems(unit["system"], systems, f"{path.name}: units.{group}.accepted.{i}", problems):
                    table[(uri, unit["code"])] = unit["factor"]

    for concept in sorted(CONCEPTS - concepts_seen):
        problems.append(f"concept {concept!r} is not defined in any mappings file")
    described = {c for _, doc in documents for c, body in doc.get("concepts", {}).items() if body.get("description")}
    for concept in sorted(concepts_seen - described):
        problems.append(f"concept {concept!r} has no description in any mappings file")
    for concept in sorted(CONCEPTS - MAY_BE_EMPTY):
        if concept in concepts_seen and not codemap.entries.get(concept):
            problems.append(f"concept {concept!r} lists no code")
    for missing in sorted(UNITS - codemap.units.keys()):
        problems.append(f"units {missing!r} are not defined")
    for missing in sorted(EXTENSIONS - codemap.extension_urls.keys()):
        problems.append(f"extension {missing!r} is not defined")

    index: dict[Code, set[str]] = {}
    for concept, entries in codemap.entries.items():
        for entry in entries:
            index.setdefault((entry.system, entry.code), set()).add(concept)
    for group in EXCLUSIVE_GROUPS:
        for code, concepts in index.items():
            clash = concepts & group
            if len(clash) > 1:
                problems.append(f"code {code[0]}|{code[1]} is listed under exclusive concepts {sorted(clash)}")
    if problems:
        raise KnowledgeError(problems)
    codemap._index = {code: frozenset(c) for code, c in index.items()}
    return codemap
