"""Batch VBQ: measure many cases, on this machine's cores or on a Dask cluster, resumably.

- :mod:`.manifest`: the cases — :class:`Case`, :func:`read_manifest` (a CSV manifest), :func:`discover_cases`
  (a folder walked with naming patterns), :func:`load_cases` (either);
- :mod:`.records`: one measured case as table rows — :func:`record_from_result`, the wide and long table
  layouts and :func:`write_tables` (also used by the MRML adapter and ``vbq web --worklist``);
- :mod:`.journal`: the resume journal (what an earlier run finished, settings checks);
- :mod:`.execution`: :func:`score_case` (the task a worker runs) and :func:`run_batch`, in-process or on Dask.

The inputs, outputs, failures and ``resume`` are described in :mod:`.execution`.
"""

from .execution import SYNCHRONOUS, BatchSummary, run_batch, score_case
from .journal import journal_path_for
from .manifest import (
                       DEFAULT_PATTERN,
                       DEMO_PATTERN,
                       MANIFEST_COLUMNS,
                       OPTIONAL_MANIFEST_COLUMNS,
                       Case,
                       discover_cases,
                       load_cases,
                       read_manifest,
)
from .records import (
                       DICOM_COLUMNS,
                       HASH_COLUMNS,
                       LONG_COLUMNS,
                       WIDE_HEAD,
                       WIDE_TAIL,
                       check_pair,
                       checksums_path_for,
                       long_path_for,
                       record_from_result,
                       write_tables,
)

__all__ = ["DEFAULT_PATTERN", "DEMO_PATTERN", "DICOM_COLUMNS", "HASH_COLUMNS", "LONG_COLUMNS", "MANIFEST_COLUMNS",
           "OPTIONAL_MANIFEST_COLUMNS", "SYNCHRONOUS", "WIDE_HEAD", "WIDE_TAIL", "BatchSummary", "Case",
           "check_pair", "checksums_path_for", "discover_cases", "journal_path_for", "load_cases", "long_path_for",
           "read_manifest",
           "record_from_result", "run_batch", "score_case", "write_tables"]
