"""`bpass simulate` exits 1 when the end check finds a disagreement, as it does for a refusal, and passes its
options through."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

import bpass.simulate
from bpass.cli import app
from bpass.simulate_check import Disagreement


def outcome(**overrides: Any) -> dict[str, Any]:
    return {"refusals": [], "disagreements": [], **overrides}


@pytest.mark.parametrize(
    ("result", "code"),
    [
        (outcome(), 0),
        (outcome(disagreements=[Disagreement("B1", "p1", "stage", "recycled", "in_treatment")]), 1),
        (outcome(refusals=[{"topic": "t", "violations": []}]), 1),
    ],
)
def test_the_exit_code_says_whether_the_platform_told_the_truth(
    monkeypatch: pytest.MonkeyPatch, result: dict[str, Any], code: int
) -> None:
    seen: dict[str, Any] = {}

    async def fake_run(settings: object, **kwargs: Any) -> dict[str, Any]:
        seen.update(kwargs)
        return result

    monkeypatch.setattr(bpass.simulate, "run_simulation", fake_run)
    answer = CliRunner().invoke(
        app, ["simulate", "--batteries", "5", "--shuffle", "--backdate-days", "120", "--check-sample", "3"]
    )
    assert answer.exit_code == code, answer.output
    assert (seen["shuffle"], seen["backdate_days"], seen["check_sample"]) == (True, 120, 3)


def test_backdating_beyond_the_permits_is_refused_by_the_cli() -> None:
    answer = CliRunner().invoke(app, ["simulate", "--backdate-days", "5000"])
    assert answer.exit_code == 2
