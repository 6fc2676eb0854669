"""Shared pytest fixtures for the Slicer-free cores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
REAL_T1 = SHARED_DATA / "sct_t1w.nii.gz"


@pytest.fixture(scope="session")
def real_t1_path() -> Path:
    """The real cervical T1 MRI from ../shared/data (Spinal Cord Toolbox testing data)."""
    if not REAL_T1.exists():
        pytest.fail(f"missing test data {REAL_T1}: the repository must sit beside shared/")
    return REAL_T1


@pytest.fixture(scope="session")
def rscript() -> str | None:
    """Path of Rscript when R with MatchIt is installed (CI installs it), else None."""
    return shutil.which("Rscript")


# Property tests: the same examples on every CI run (a red CI must mean a real regression, not a new draw).
try:
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    import os as _os

    if _os.environ.get("CI"):
        _hyp_settings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass
