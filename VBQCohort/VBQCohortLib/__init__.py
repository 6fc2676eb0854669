"""VBQCohortLib: clinical spreadsheets, propensity-score matching (equal to R MatchIt), the VBQ study's
statistics and its report. Slicer-free; heavy libraries are imported lazily where practical.

Layout (one sub-package per family; see docs/ARCHITECTURE.md):

* ``reading``   — reading tables (``spreadsheet``, the fast ``delimited`` reader, ``cells`` rules), column
  ``labels``, model ``terms``, the VBQ ``join`` and preparing a cohort (``cohort``: CohortSpec, prepare_cohort);
* ``matching``  — ``propensity`` scores, ``nearest`` (the ``match`` of R MatchIt), ``balance``;
* ``stats``     — ``normality``, ``rank`` (rank-sum, signed-rank), ``ksample`` (Kruskal-Wallis, Friedman, Dunn),
  ``multiplicity`` (p.adjust), ``rnumerics`` (R's numerical routines), ``logistic``;
* ``agreement`` — ``stats`` (ICC, Bland-Altman), ``data``, ``analysis`` (run_agreement), ``report``;
* ``report``    — ``html`` (pieces shared by both reports), ``cohort`` (the cohort report);
* ``analysis``  — ``plan`` (analysis plans; the YAML files are in ``plans/``), ``run`` (run_analysis);
* ``demo``      — the synthetic demo study.

The module paths of the flat layout keep working: ``VBQCohortLib.stats``, ``.matching``, ``.report``,
``.analysis`` and ``.agreement`` are the packages (which re-export what the old modules held); the other old
paths (``VBQCohortLib.spreadsheet``, ``.labels``, ``.propensity``, ...; :data:`MOVED`) are the same module
objects as their new homes (``import VBQCohortLib.spreadsheet`` gives ``VBQCohortLib.reading.spreadsheet``), so
code and tests that set attributes on them still reach the real module.
"""

import importlib
import importlib.machinery
import sys

__version__ = "0.1.0"

#: old module (``VBQCohortLib.<name>``) -> the module it now is (relative to VBQCohortLib)
MOVED = {
    "spreadsheet": "reading.spreadsheet",
    "delimited": "reading.delimited",
    "labels": "reading.labels",
    "terms": "reading.terms",
    "join": "reading.join",
    "propensity": "matching.propensity",
    "balance": "matching.balance",
    "logistic": "stats.logistic",
    "agreement_stats": "agreement.stats",
    "agreement_data": "agreement.data",
    "agreement_report": "agreement.report",
    "plan": "analysis.plan",
}


class _MovedModules:
    """Import hook: ``VBQCohortLib.<old name>`` is the module at its new path (imported on first use, so the
    old paths cost nothing until asked for). A hook rather than one-line modules at the old paths, so that a
    branch editing e.g. ``spreadsheet.py`` merges into ``reading/spreadsheet.py`` (git follows a rename only
    when the old path is gone). A meta path finder and loader (importlib's protocol; not derived from
    importlib.abc, whose import costs more than the rest of this package's start-up)."""

    def find_spec(self, fullname, path=None, target=None):
        parent, _, name = fullname.rpartition(".")
        if parent == __name__ and name in MOVED:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(f"{__name__}.{MOVED[spec.name.rpartition('.')[2]]}")

    def exec_module(self, module):  # already executed under its new name
        pass


if not any(type(f).__name__ == "_MovedModules" and getattr(f, "package", None) == __name__ for f in sys.meta_path):
    _finder = _MovedModules()
    _finder.package = __name__
    sys.meta_path.insert(0, _finder)


def __getattr__(name):
    """``VBQCohortLib.spreadsheet`` etc. as attributes (after ``import VBQCohortLib``)."""
    if name in MOVED:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
