"""Helpers shared by the test_score_*.py files (small hand-built images and segmentations), plus their tests."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from VBQScoreLib.segments import Segment


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


def test_make_image_geometry():
    img = make_image(np.zeros((2, 3, 4)), spacing=(0.5, 1, 2), origin=(1, 2, 3))
    assert img.GetSize() == (4, 3, 2)
    assert img.TransformIndexToPhysicalPoint((1, 1, 1)) == (1.5, 3.0, 5.0)
