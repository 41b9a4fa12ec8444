"""pytest plugin loaded by scripts/mutation.py for the runs against mutants only (never by `make test`).

Property tests try at most `MAX_EXAMPLES` examples and do not shrink a failure: a mutant is killed by the first
failing example, and the tests that pass (most of them, for most mutants) cost a fraction of a full run. A mutant
that only a rarer example would catch survives and is listed, so the cap shows instead of hiding anything.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import Phase, settings

MAX_EXAMPLES = 25


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        test: Any = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if isinstance(current, settings):
            test._hypothesis_internal_use_settings = settings(
                current,
                max_examples=min(current.max_examples, MAX_EXAMPLES),
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
            )
