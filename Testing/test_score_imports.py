"""`vbq score` imports only what measuring needs (issue 8.5): not a timed check, a list of modules.

A fresh interpreter runs the `vbq` entry point on a phantom (a labelmap + labels file, and the same ROIs as a
Slicer .seg.nrrd) and reports ``sys.modules``: none of the libraries of other commands (pandas, matplotlib,
dask, statsmodels, scipy, openpyxl, yaml, the cohort core, Slicer/VTK) may be there, slicerio/pynrrd only for
a .seg.nrrd, and the parsers of the other subcommands are not even built. The score itself is checked, so
the run is a real one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from VBQScoreLib.phantom import make_phantom, write_phantom

HEAVY = ("pandas", "matplotlib", "dask", "distributed", "statsmodels", "scipy", "openpyxl", "yaml", "tqdm",
         "VBQCohortLib", "slicer", "vtk", "trame", "psutil")
OTHER_COMMANDS = ("vbq_cli.cmd_batch", "vbq_cli.cmd_cohort", "vbq_cli.cohort_match", "vbq_cli.cohort_analyze",
                  "vbq_cli.cmd_demo")

RUN = r"""
import json, sys
from vbq_cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    d = tmp_path_factory.mktemp("ph")
    return write_phantom(make_phantom(), d)


def _modules(argv) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    p = subprocess.run([sys.executable, "-c", RUN, *map(str, argv)], capture_output=True, text=True, encoding="utf-8", errors="replace", env=env,
                       timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["code"] == 0
    return set(out["modules"])


def _top(mods: set[str]) -> set[str]:
    return {m.split(".")[0] for m in mods}


@pytest.mark.parametrize("kind", ["labelmap", "seg_nrrd"])
def test_vbq_score_imports_only_what_it_needs(phantom, tmp_path, kind):
    out = tmp_path / "r.json"
    argv = ["score", phantom["image"], phantom[kind]]
    argv += ["--labels", phantom["labels"]] if kind == "labelmap" else []
    mods = _modules(argv + ["--json", out])
    result = json.loads(out.read_text(encoding="utf-8"))
    truth = json.loads(phantom["truth"].read_text(encoding="utf-8"))
    assert result["overall"]["vbq"] == pytest.approx(truth["overall_vbq"]["lu2024"], rel=1e-9)
    assert "SimpleITK" in mods and "VBQScoreLib.measuring.api" in mods  # it did measure
    assert sorted(_top(mods) & set(HEAVY)) == []
    assert sorted(mods & set(OTHER_COMMANDS)) == []
    if kind == "labelmap":
        assert not _top(mods) & {"slicerio", "nrrd"}
    else:
        # .seg.nrrd is read by slicerio's own segmentation module, loaded without the package's __init__ (which
        # imports every submodule and importlib.metadata: issue 16's start-up cost)
        assert "VBQScoreLib.input._slicerio_segmentation" in mods and "nrrd" in mods
        assert "slicerio" not in mods and "importlib.metadata" not in mods and "email" not in _top(mods)


def test_slicerio_module_loaded_alone_is_slicerio(phantom):
    """The module that reads .seg.nrrd in `vbq score` is slicerio's file: the same header and voxels as the
    package's read_segmentation (a 3-D file here; the 4-D/cropped variants go through the same functions in
    test_score_io)."""
    import numpy as np
    import slicerio

    r = subprocess.run([sys.executable, "-c", "import sys, json\n"
                        "from VBQScoreLib.input.segmentations import slicerio_segmentation as s\n"
                        f"seg = s().read_segmentation({str(phantom['seg_nrrd'])!r})\n"
                        "print(json.dumps({'names': [x['name'] for x in seg['segments']], "
                        "'ijk': seg['ijkToLPS'].tolist(), 'sum': int(seg['voxels'].sum()), "
                        "'file': s().__file__, 'pkg': 'slicerio' in sys.modules}))"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    ref = slicerio.read_segmentation(str(phantom["seg_nrrd"]))
    assert got["names"] == [x["name"] for x in ref["segments"]] and got["ijk"] == ref["ijkToLPS"].tolist()
    assert got["sum"] == int(np.asarray(ref["voxels"]).sum()) and got["pkg"] is False
    assert got["file"] == slicerio.segmentation.__file__


def test_other_commands_still_listed(capsys):
    """Building only the named subcommand changes nothing a user sees: `vbq --help` lists them all, an unknown
    command names them all."""
    from vbq_cli.main import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(c in out for c in ("score", "batch", "cohort", "demo"))
    with pytest.raises(SystemExit) as e:
        main(["nosuch"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nosuch'" in err and "'score'" in err and "'demo'" in err
