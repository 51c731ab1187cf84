"""Benchmark: what the treatment-options and transplant work-up cards add to rendering, and the order-sign
check, in-process on the 300-resource patient (no HTTP). Baseline in the same run: render() with the
treatment knowledge switched off. Bounded loops, no network. Usage: python bench/treatment.py [--n N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from patient300 import PATIENT_ID, hook_request  # noqa: E402


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300, help="iterations per measurement (bounded: at most 5000)")
    n = min(parser.parse_args().n, 5000)
    from service.definition import relapse_service
    from service.fhir.select import Selector
    from service.knowledge import load_knowledge
    from service.pipeline import evaluate
    from service.render import render
    from service.treatment.orders import hsct_orders, order_cards

    knowledge = load_knowledge()
    without = dataclasses.replace(knowledge, treatment=None)
    service = relapse_service(knowledge.codemap)
    request = json.loads(json.dumps(hook_request()))
    evaluation = evaluate(request["prefetch"], PATIENT_ID, knowledge, service, Selector.from_codemap(knowledge.codemap), date.today())
    a = evaluation.assessment
    drafts = {"resourceType": "Bundle", "entry": [{"resource": {
        "resourceType": "ServiceRequest", "id": "d1", "status": "draft", "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT_ID}"}, "code": {"coding": [{"system": "http://snomed.info/sct", "code": "234336002"}]}}}]}
    today = date.today().isoformat()
    cards_with = render(a, knowledge, PATIENT_ID, today).cards
    cards_without = render(a, without, PATIENT_ID, today).cards
    for fn in (lambda: render(a, knowledge, PATIENT_ID, today), lambda: render(a, without, PATIENT_ID, today)):
        _timed(fn, 20)  # warm-up
    base = _timed(lambda: render(a, without, PATIENT_ID, today), n)
    full = _timed(lambda: render(a, knowledge, PATIENT_ID, today), n)
    order = _timed(lambda: order_cards(a, knowledge, hsct_orders(drafts, knowledge, PATIENT_ID)), n)
    print(f"patient: hsct={a.hsct.value}; cards {len(cards_without)} without, {len(cards_with)} with the treatment cards; n={n}")
    for name, values in (("render, treatment cards off (baseline)", base), ("render, treatment cards on", full), ("order-sign check (select draft + card)", order)):
        print(f"{name:42s} median {statistics.median(values):.3f} ms  p99 {sorted(values)[int(0.99 * (len(values) - 1))]:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
