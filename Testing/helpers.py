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
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
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
        pass

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
