"""Shared pytest fixtures for the Slicer-free cores."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Slicer puts each module's folder on sys.path, so the modules' GUI-free helper packages (VBQScoreModuleLib,
# VBQCohortModuleLib) import by name there; the wheel does not ship them (they serve the Slicer modules only), so
# the tests put the same folders on the path as Slicer does.
for _module_dir in (REPO / "VBQScore", REPO / "VBQCohort"):
    if str(_module_dir) not in sys.path:
        sys.path.append(str(_module_dir))
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


# CI installs R, R's packages and Chromium from Debian and sets VBQ_NO_SKIP=1 (see .ci/run): there a test that
# skips (a missing system program, a missing optional package) is a failure, so CI never passes by skipping.
def pytest_sessionfinish(session, exitstatus):
    import os

    if not os.environ.get("VBQ_NO_SKIP"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        if reporter is not None:
            reporter.write_line(f"VBQ_NO_SKIP is set: {len(skipped)} skipped test(s) count as failures", red=True)
            for rep in skipped:
                reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
                reporter.write_line(f"  skipped: {rep.nodeid}: {reason}", red=True)
        session.exitstatus = 1
