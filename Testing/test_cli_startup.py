"""Start-up of the `vbq` command: its help imports none of the heavy libraries."""

from __future__ import annotations

import os
import subprocess
import sys


def test_cli_help_is_fast_and_lazy():
    """`vbq --help` must not import the heavy libraries."""
    code = (
        "import sys; from vbq_cli.main import build_parser; build_parser().format_help(); "
        "heavy = [m for m in ('SimpleITK','pandas','statsmodels','matplotlib','dask','scipy','slicer') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.stdout.strip() == ""
