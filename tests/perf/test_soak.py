"""The soak (`tests/perf/soak.py`) as a test: 200 answers in the real app with
random faults and Esc, then the history and the memory are audited.

    .venv/bin/python -m pytest -m slow -s tests/perf/test_soak.py
    TOKENTIDE_SOAK_SEED=1234 .venv/bin/python -m pytest -m slow -s tests/perf/test_soak.py

The seed is random unless TOKENTIDE_SOAK_SEED gives one, and it is printed
first, so a failing run can be replayed with `python -m tests.perf.soak
--seed N`. About two to three minutes on two cores.
"""

from __future__ import annotations

import os

import pytest

from tests.perf import soak

pytestmark = pytest.mark.slow


@pytest.mark.timeout(600)
async def test_200_answers_with_faults_and_esc_lose_nothing_and_leak_nothing() -> None:
    seed = os.environ.get("TOKENTIDE_SOAK_SEED")
    config = soak.Config(seed=int(seed) if seed else None)
    report = await soak.soak(config)
    print(soak.format_report(report))
    assert len(report.answers) == soak.ANSWERS_DEFAULT
    assert report.stored == soak.ANSWERS_DEFAULT
    # Each kind of ending happened, so the audit checked each of them.
    assert {"finished", "failed", "stopped", "interrupted"} <= set(report.outcomes)
    assert report.problems == [], soak.format_report(report)
    assert report.growth <= soak.RSS_GROWTH
