"""Inputs some tests read from `../shared`, beside the repository (README: "What ../shared holds").

They are written by others (the Battery Pass longlist and schemas, third-party EPCIS documents and hash vectors),
so they are not copied into the project. A test that needs one fails, naming the missing path and what to do,
when it is not there: it never skips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest

from services.common.settings import REPO_ROOT

SHARED: Final = REPO_ROOT.parent / "shared"


def missing_reason(path: Path, holds: str) -> str:
    return (
        f"{path} is missing: it holds {holds}. Put the project's shared directory beside the repository as "
        f"{SHARED} (README: 'What ../shared holds'); these tests check the code against it and do not skip."
    )


def require(path: Path, holds: str) -> Path:
    """`path`, or a failed test naming it and what to do."""
    if not path.exists():
        pytest.fail(missing_reason(path, holds), pytrace=False)
    return path
