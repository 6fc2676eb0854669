"""VBQCohortLib: clinical spreadsheets, propensity-score matching (equal to R MatchIt), the VBQ study's
statistics and its report. Slicer-free; heavy libraries are imported lazily where practical."""

__version__ = "0.1.0"
