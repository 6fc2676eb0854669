"""Reading segmentations: Slicer ``.seg.nrrd`` files (through slicerio) and integer labelmaps with a label map.

Every segment becomes a :class:`Segment`: its name and a binary mask (``SimpleITK.Image``, uint8 0/1) on its
own grid, cropped to the segment's bounding box (geometry in LPS). Resampling onto the MRI grid happens later
(:mod:`VBQScoreLib.resample`).

- ``.seg.nrrd``: read with :func:`slicerio.read_segmentation`, which handles LPS/RAS space, cropped files
  (the space origin is the position of the first stored voxel; ``Segmentation_ReferenceImageExtentOffset`` only
  records where that crop sits in Slicer's reference geometry) and 4-D files with overlapping segments in several
  layers; each segment's voxels are selected with :func:`slicerio.segment_mask`, i.e. by (layer, label value).
- Integer labelmaps (NIfTI, NRRD, MHA): a label map gives the names, either a text file with lines ``1=C3``
  (``#`` starts a comment) or a Slicer color table (``.ctbl``/``.txt`` lines ``label name r g b a``).
  Label values present in the image but not in the label map become segments named ``label N`` (flagged
  ``UNKNOWN_SEGMENT`` later); label-map entries absent from the image are not segments (a missing level).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import VBQInputError
from .detached_data import check_image_file


class Segment:
    """One ROI: its name and a binary mask on its own grid (LPS).

    ``mask`` is a SimpleITK uint8 image (0/1). Readers may instead give the mask as a numpy array
    (``array``, bool, numpy order z, y, x) with its geometry (``origin`` of ``array[0, 0, 0]``, ``spacing``,
    ``direction`` as SimpleITK tuples); the SimpleITK image is then built on first use of ``mask`` (measuring
    does not need it when the segment's grid is an index-aligned part of the image grid).
    """

    __slots__ = ("name", "_mask", "layer", "label_value", "segment_id", "array", "origin", "spacing", "direction")

    def __init__(self, name: str, mask: object = None, layer: Optional[int] = None,
                 label_value: Optional[int] = None, segment_id: Optional[str] = None, *, array=None,
                 origin=None, spacing=None, direction=None):
        if mask is None and array is None:
            raise TypeError("Segment needs a mask (SimpleITK image) or an array with its geometry")
        self.name = name
        self._mask = mask
        self.layer = layer  # .seg.nrrd layer the voxels came from
        self.label_value = label_value  # label value in that layer / in the labelmap
        self.segment_id = segment_id  # Slicer segment ID
        self.array = array
        self.origin = None if origin is None else tuple(float(v) for v in origin)
        self.spacing = None if spacing is None else tuple(float(v) for v in spacing)
        self.direction = None if direction is None else tuple(float(v) for v in direction)

    @property
    def mask(self):
        """SimpleITK uint8 image (0/1) of the segment on its own grid."""
        if self._mask is None:
            import numpy as np
            import SimpleITK as sitk

            img = sitk.GetImageFromArray(np.ascontiguousarray(self.array, dtype=np.uint8))
            img.SetSpacing(self.spacing)
            img.SetOrigin(self.origin)
            img.SetDirection(self.direction)
            self._mask = img
        return self._mask

    @mask.setter
    def mask(self, value):
        self._mask = value
        self.array = self.origin = self.spacing = self.direction = None

    def grid(self):
        """``(array, origin, spacing, direction)``: the mask as a numpy array (z, y, x; nonzero = in the
        segment) and its geometry, without building a SimpleITK image when the reader gave an array."""
        if self.array is not None:
            return self.array, self.origin, self.spacing, self.direction
        import SimpleITK as sitk

        m = self._mask
        return sitk.GetArrayViewFromImage(m), m.GetOrigin(), m.GetSpacing(), m.GetDirection()

    def __repr__(self) -> str:
        return (f"Segment(name={self.name!r}, layer={self.layer!r}, label_value={self.label_value!r}, "
                f"segment_id={self.segment_id!r})")


# ---------------------------------------------------------------------------------------------- label maps
def read_label_map(path) -> dict[int, str]:
    """Parse a label map: lines ``VALUE=NAME`` or Slicer color-table lines ``VALUE NAME R G B A``.

    ``#`` starts a comment; blank lines are skipped; value 0 (background) is ignored. Raises
    :class:`VBQInputError` naming the file and line for anything else.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise VBQInputError(f"{path}: labels file not found") from None
    except UnicodeDecodeError:
        raise VBQInputError(f"{path}: labels file is not text (expected lines like 1=C3)") from None
    except OSError as exc:
        raise VBQInputError(f"{path}: cannot read labels file ({exc.strerror})") from None
    labels: dict[int, str] = {}
    name_lines: dict[str, tuple[int, int]] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" in line:
            value_text, name = (s.strip() for s in line.split("=", 1))
        else:
            tokens = line.split()
            if len(tokens) < 2:
                raise VBQInputError(f"{path} line {lineno}: '{raw.strip()}' is not 'VALUE=NAME' "
                                    f"(e.g. 1=C3) or a color-table line 'VALUE NAME R G B A'")
            value_text = tokens[0]
            rest = tokens[1:]
            if len(rest) >= 5 and all(_is_number(t) for t in rest[-4:]):
                rest = rest[:-4]  # Slicer color table: name r g b a
            name = " ".join(rest)
        try:
            value = int(value_text)
        except ValueError:
            raise VBQInputError(f"{path} line {lineno}: label value '{value_text}' is not a whole number "
                                f"(expected lines like 1=C3)") from None
        if value < 0:
            raise VBQInputError(f"{path} line {lineno}: label value {value} is negative")
        if not name:
            raise VBQInputError(f"{path} line {lineno}: label {value} has no name")
        if value == 0:
            continue  # background (Slicer color tables list it)
        if value in labels:
            raise VBQInputError(f"{path} line {lineno}: label value {value} given twice "
                                f"('{labels[value]}' and '{name}')")
        key = " ".join(name.lower().split())
        if key in name_lines:
            raise VBQInputError(f"{path} line {lineno}: name '{name}' is already given to label "
                                f"{name_lines[key][1]} on line {name_lines[key][0]}; each label needs its own name")
        name_lines[key] = (lineno, value)
        labels[value] = name
    if not labels:
        raise VBQInputError(f"{path}: labels file names no labels (expected lines like 1=C3)")
    return labels


def _is_number(t: str) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------- helpers
def _mask_image(mask_ijk, ijk_to_lps, name: str, path, start=(0, 0, 0)) -> object:
    """SimpleITK uint8 image (LPS geometry) of a bool (i, j, k) mask whose first voxel is file voxel ``start``."""
    import numpy as np
    import SimpleITK as sitk

    cols, origin0, spacing, direction = _geometry_from_ijk(ijk_to_lps, name, path)
    if mask_ijk.size == 0:
        mask_ijk = np.zeros((1, 1, 1), bool)
    img = sitk.GetImageFromArray(np.ascontiguousarray(mask_ijk.transpose(2, 1, 0), dtype=np.uint8))
    origin = cols @ np.asarray(start, float) + origin0
    img.SetSpacing(spacing)
    img.SetOrigin([float(o) for o in origin])
    try:
        img.SetDirection(direction)
    except RuntimeError:
        raise VBQInputError(f"{path}: segment '{name}' has a non-orthogonal voxel grid") from None
    return img


def _geometry_from_ijk(ijk_to_lps, name: str, path):
    """``(cols, origin, spacing, direction)`` of a grid given by slicerio's 4x4 ``ijkToLPS`` matrix: the 3x3
    index-to-LPS matrix, the LPS position of voxel (0, 0, 0) and SimpleITK spacing and direction; voxel ``start``
    lies at ``cols @ start + origin`` (used by :func:`_mask_image`)."""
    import numpy as np

    m = np.asarray(ijk_to_lps, dtype=float)
    cols = m[:3, :3]
    spacing = np.linalg.norm(cols, axis=0)
    if np.any(spacing <= 0) or not np.all(np.isfinite(m)):
        raise VBQInputError(f"{path}: segment '{name}' has an invalid voxel geometry")
    direction = cols / spacing
    return cols, m[:3, 3], [float(v) for v in spacing], [float(d) for d in direction.flatten()]


def _bbox(mask):
    """``(lo, hi)`` (per axis, hi exclusive) of the nonzero voxels of a 3-D array, or ``None`` if empty."""
    import numpy as np

    p01 = mask.any(axis=2)
    a0 = np.flatnonzero(p01.any(axis=1))
    if a0.size == 0:
        return None
    a1 = np.flatnonzero(p01.any(axis=0))
    a2 = np.flatnonzero(mask.any(axis=(0, 1)))
    return (int(a0[0]), int(a1[0]), int(a2[0])), (int(a0[-1]) + 1, int(a1[-1]) + 1, int(a2[-1]) + 1)


# with more labels than this in a foreground box of more than 2**20 voxels, one LabelShapeStatistics pass is
# cheaper than one comparison per label
_PER_LABEL_LIMIT = 16


def _label_boxes(layer_ijk, values=None) -> dict:
    """``{label value: (i0, i1, j0, j1, k0, k1)}`` (stop exclusive) of the labels of one (i, j, k) label layer
    (``values``: only these labels; ``None``: all nonzero labels, which must then be non-negative integers).

    The box of all nonzero voxels comes first (two reductions); inside it, each label's box is found by
    comparison when there are few labels, else by one SimpleITK LabelShapeStatisticsImageFilter pass."""
    import numpy as np

    arr = np.asarray(layer_ijk)
    box = _bbox(arr)
    if box is None:
        return {}
    (i0, j0, k0), (i1, j1, k1) = box
    crop = arr[i0:i1, j0:j1, k0:k1]
    big = crop.size > (1 << 20)
    if values is None and not big and arr.dtype.kind in "ui" and int(crop.max()) < (1 << 16):
        counts = np.bincount(crop.ravel().astype(np.intp, copy=False), minlength=1)
        values = [int(v) for v in np.flatnonzero(counts[1:]) + 1]
    if values is None or (big and len(values) > _PER_LABEL_LIMIT):
        keep = None if values is None else set(int(v) for v in values)
        boxes = _label_boxes_lss(crop)
        return {v: (b[0] + i0, b[1] + i0, b[2] + j0, b[3] + j0, b[4] + k0, b[5] + k0)
                for v, b in boxes.items() if keep is None or v in keep}
    values = [int(v) for v in values if v != 0]
    out = {}
    for v in values:
        b = _bbox(crop == v)
        if b is not None:
            (a0, a1, a2), (b0, b1, b2) = b
            out[v] = (a0 + i0, b0 + i0, a1 + j0, b1 + j0, a2 + k0, b2 + k0)
    return out


def _label_boxes_lss(layer_ijk) -> dict:
    """:func:`_label_boxes` of all labels by one SimpleITK LabelShapeStatisticsImageFilter pass."""
    import numpy as np
    import SimpleITK as sitk

    arr = np.asarray(layer_ijk)
    if arr.dtype.kind not in "ui" or arr.dtype.itemsize > 4:
        arr = arr.astype(np.int64)
        if arr.min(initial=0) < 0 or arr.max(initial=0) > np.iinfo(np.uint32).max:
            return {}
        arr = arr.astype(np.uint32)
    if arr.dtype.kind == "i":
        if arr.min(initial=0) < 0:
            arr = np.where(arr < 0, 0, arr)
    img = sitk.GetImageFromArray(np.ascontiguousarray(arr.transpose(2, 1, 0)))
    lss = sitk.LabelShapeStatisticsImageFilter()
    lss.ComputePerimeterOff()
    lss.ComputeFeretDiameterOff()
    lss.ComputeOrientedBoundingBoxOff()
    lss.Execute(img)
    out = {}
    for v in lss.GetLabels():
        x0, y0, z0, sx, sy, sz = lss.GetBoundingBox(v)
        out[int(v)] = (x0, x0 + sx, y0, y0 + sy, z0, z0 + sz)
    return out


def looks_like_seg_nrrd(p: Path) -> bool:
    name = p.name.lower()
    if name.endswith(".seg.nrrd"):
        return True
    if name.endswith((".nrrd", ".nhdr")):
        try:
            import nrrd

            header = nrrd.read_header(str(p))
        except Exception:
            return False
        return any(str(k).startswith("Segment0_") for k in header)
    return False


# ---------------------------------------------------------------------------------------------- readers
_SLICERIO_SEGMENTATION = "VBQScoreLib.input._slicerio_segmentation"


def slicerio_segmentation():
    """slicerio's ``segmentation`` module (``read_segmentation``, ``segment_mask``), without running the package's
    ``__init__``, which imports every submodule (volumes, markups, test-data downloads) and ``importlib.metadata``
    for its version: a fifth of a whole ``vbq score`` of a .seg.nrrd. The module is slicerio's own file, loaded
    under a private name (:data:`_SLICERIO_SEGMENTATION`; slicerio's namespace is not touched, a later ``import
    slicerio`` loads the package as usual); once slicerio is imported, this is simply ``slicerio.segmentation``.
    The module imports nothing at its top (pynrrd and numpy inside its functions), which is what makes this
    possible; if a future slicerio does not fit, the package is imported as usual."""
    import sys

    mod = sys.modules.get("slicerio.segmentation") or sys.modules.get(_SLICERIO_SEGMENTATION)
    if mod is not None:
        return mod
    if "slicerio" not in sys.modules:
        from importlib.machinery import PathFinder, SourceFileLoader

        spec = PathFinder.find_spec("slicerio")  # finds the package folder without importing it
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        sub_spec = PathFinder.find_spec("slicerio.segmentation", locations) if locations else None
        if sub_spec is not None and str(sub_spec.origin).endswith(".py"):
            import types

            loader = SourceFileLoader(_SLICERIO_SEGMENTATION, sub_spec.origin)  # uses its cached bytecode
            mod = types.ModuleType(_SLICERIO_SEGMENTATION)
            mod.__file__, mod.__loader__, mod.__package__ = sub_spec.origin, loader, "slicerio"
            sys.modules[_SLICERIO_SEGMENTATION] = mod
            try:
                loader.exec_module(mod)
                if callable(getattr(mod, "read_segmentation", None)) and callable(getattr(mod, "segment_mask", None)):
                    return mod
            except Exception:  # pragma: no cover - a slicerio this loader does not fit: import it as usual
                pass
            sys.modules.pop(_SLICERIO_SEGMENTATION, None)
    import slicerio.segmentation

    return slicerio.segmentation


def _voxels_via_sitk(path, ijk_to_lps=None):
    """The voxel array of a .seg.nrrd in slicerio's layout ((i, j, k), or (layer, i, j, k) for a 4-D file), read
    by SimpleITK's C++ NRRD reader (several times faster than pure-Python decoding); ``None`` when SimpleITK
    cannot read it or its voxel geometry disagrees with the header's as slicerio reads it (the caller then lets
    slicerio read the voxels). ``ijk_to_lps``: the header's matrix when the caller has read it already."""
    import numpy as np
    import SimpleITK as sitk

    try:
        if ijk_to_lps is None:
            ijk_to_lps = slicerio_segmentation().read_segmentation(str(path), skip_voxels=True)["ijkToLPS"]
        img = sitk.ReadImage(str(path))
    except Exception:
        return None
    if img.GetDimension() != 3:
        return None
    m = np.asarray(ijk_to_lps, float)[:3].tolist()
    direction, spacing, origin = img.GetDirection(), img.GetSpacing(), img.GetOrigin()
    tol = 1e-6 * max(1.0, *(abs(v) for row in m for v in row))
    if any(abs(direction[3 * r + c] * spacing[c] - m[r][c]) > tol for r in range(3) for c in range(3)) or \
            any(abs(origin[r] - m[r][3]) > tol for r in range(3)):
        return None  # SimpleITK's voxel geometry is not slicerio's: let slicerio read the voxels
    arr = sitk.GetArrayFromImage(img)
    if img.GetNumberOfComponentsPerPixel() > 1 and arr.ndim == 4:
        return arr.transpose(3, 2, 1, 0)  # (k, j, i, layer) -> (layer, i, j, k)
    if arr.ndim == 3:
        return arr.transpose(2, 1, 0)
    return None


def read_seg_nrrd(path) -> list[Segment]:
    """Segments of a Slicer ``.seg.nrrd`` file (3-D or 4-D multi-layer).

    slicerio reads the header (segment names, layers, label values, LPS/RAS space, cropped origin), once; the
    voxels are decoded by SimpleITK when its geometry agrees with the header's, else by slicerio; slicerio
    selects each segment's voxels by (layer, label value), within the segment's bounding box.
    """
    import numpy as np

    slicerio = slicerio_segmentation()  # read_segmentation, segment_mask
    try:
        seg = slicerio.read_segmentation(str(path), skip_voxels=True)
        voxels = _voxels_via_sitk(path, seg["ijkToLPS"])
        via_sitk = voxels is not None
        if voxels is None:
            seg = slicerio.read_segmentation(str(path))
        else:
            seg["voxels"] = voxels
    except Exception as exc:  # pynrrd / slicerio raise assorted errors
        reason = " ".join(str(exc).split())[:200]
        raise VBQInputError(f"{path}: not a readable Slicer segmentation (.seg.nrrd): {reason}") from None
    voxels = seg.get("voxels")
    if voxels is None or voxels.ndim not in (3, 4):
        raise VBQInputError(f"{path}: segmentation voxels must be 3-D or 4-D (layers), "
                            f"got {getattr(voxels, 'ndim', None)}-D")
    seg_list = seg.get("segments") or []
    if not seg_list:
        raise VBQInputError(f"{path}: segmentation has no segments")
    n_layers = voxels.shape[0] if voxels.ndim == 4 else 1
    wanted: dict = {}
    for info in seg_list:
        wanted.setdefault(int(info.get("layer", 0)), set()).add(int(info.get("labelValue", 1)))
    boxes = {layer: _label_boxes(voxels[layer] if voxels.ndim == 4 else voxels, sorted(values))
             for layer, values in wanted.items() if layer < n_layers}
    out: list[Segment] = []
    geometry = None
    for info in seg_list:
        name = info.get("name") or info.get("id") or "unnamed"
        layer = int(info.get("layer", 0))
        if layer >= n_layers:
            raise VBQInputError(f"{path}: segment '{name}' is in layer {layer} but the file has {n_layers} layer(s)")
        box = boxes[layer].get(int(info.get("labelValue", 1)))
        if box is None:
            mask, start = np.zeros((1, 1, 1), bool), (0, 0, 0)
        else:
            i0, i1, j0, j1, k0, k1 = box
            # slicerio selects the voxels by (layer, label value); give it only the segment's bounding box
            cropped = {"voxels": voxels[..., i0:i1, j0:j1, k0:k1], "segments": seg_list}
            try:
                mask = np.asarray(slicerio.segment_mask(cropped, info))
            except (ValueError, KeyError) as exc:
                raise VBQInputError(f"{path}: segment '{name}': {exc}") from None
            start = (i0, j0, k0)
        common = dict(name=str(name), layer=layer, label_value=int(info.get("labelValue", 1)),
                      segment_id=info.get("id"))
        if via_sitk:  # SimpleITK accepted this voxel geometry: the mask image is built only if needed
            if geometry is None:
                geometry = _geometry_from_ijk(seg["ijkToLPS"], name, path)
            cols, o, spacing, direction = geometry
            origin = [float(v) for v in cols @ np.asarray(start, float) + o]
            out.append(Segment(array=mask.T, origin=origin, spacing=spacing, direction=direction, **common))
        else:
            out.append(Segment(mask=_mask_image(mask, seg["ijkToLPS"], name, path, start), **common))
    return out


MAX_UNNAMED_LABELS = 255  # more distinct unnamed values than this: not a labelmap (TotalSegmentator has ~117)


def read_labelmap(path, labels: dict[int, str]) -> list[Segment]:
    """Segments of an integer labelmap (any format SimpleITK reads) named by ``labels``."""
    import numpy as np
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError:
        raise VBQInputError(f"{path}: not a readable labelmap image (NIfTI, NRRD, MHA) or .seg.nrrd") from None
    if img.GetDimension() != 3:
        raise VBQInputError(f"{path}: labelmap is {img.GetDimension()}-D; a 3-D labelmap is needed")
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise VBQInputError(f"{path}: labelmap has {img.GetNumberOfComponentsPerPixel()} components per voxel")
    integer_types = {sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16, sitk.sitkUInt32,
                     sitk.sitkInt32, sitk.sitkUInt64, sitk.sitkInt64}
    arr = sitk.GetArrayViewFromImage(img)
    if img.GetPixelID() not in integer_types:
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise VBQInputError(f"{path}: labelmap holds non-integer values ({img.GetPixelIDTypeAsString()}); "
                                "an integer labelmap is needed")
        img = sitk.Cast(img, sitk.sitkInt32)
        arr = sitk.GetArrayViewFromImage(img)
    if img.GetPixelID() in (sitk.sitkInt8, sitk.sitkInt16, sitk.sitkInt32, sitk.sitkInt64) and arr.min() < 0:
        raise VBQInputError(f"{path}: labelmap holds negative label values")
    if img.GetPixelID() in (sitk.sitkUInt64, sitk.sitkInt64):
        img = sitk.Cast(img, sitk.sitkUInt32)
        arr = sitk.GetArrayViewFromImage(img)
    boxes = _label_boxes(arr.transpose(2, 1, 0))  # (i, j, k) boxes of every label present
    if not boxes:
        raise VBQInputError(f"{path}: labelmap is empty (all voxels are 0)")
    unnamed = [v for v in boxes if v not in labels]
    if len(unnamed) > MAX_UNNAMED_LABELS:
        raise VBQInputError(f"{path}: holds {len(unnamed)} different values that the labels file does not name; "
                            "it does not look like a labelmap (was an MRI given as the segmentation?)")
    spacing, direction = img.GetSpacing(), img.GetDirection()
    out: list[Segment] = []
    for value in sorted(boxes, key=lambda v: (v not in labels, v)):
        x0, x1, y0, y1, z0, z1 = boxes[value]
        crop = arr[z0:z1, y0:y1, x0:x1] == value
        name = labels.get(value, f"label {value}")
        out.append(Segment(name=name, array=crop, origin=img.TransformIndexToPhysicalPoint((x0, y0, z0)),
                           spacing=spacing, direction=direction, layer=None, label_value=value))
    return out


def read_segmentation(path, labels=None) -> list[Segment]:
    """Read segments from a Slicer ``.seg.nrrd`` or an integer labelmap.

    ``labels``: for a labelmap, the path of a label map (``1=C3`` lines or a Slicer color table) or a dict
    ``{value: name}``. A ``.seg.nrrd`` carries its own segment names; giving ``labels`` with it is an error.
    """
    p = Path(path)
    if not p.exists():
        raise VBQInputError(f"{path}: segmentation not found")
    if p.is_dir():
        raise VBQInputError(f"{path}: segmentation must be a file (.seg.nrrd or a labelmap), not a folder")
    check_image_file(p)  # a data file outside its folder, or too many voxels: refused before any reader runs
    if looks_like_seg_nrrd(p):
        if labels is not None:
            raise VBQInputError(f"{path}: is a Slicer segmentation with its own segment names; "
                                "--labels applies to integer labelmaps only")
        return read_seg_nrrd(p)
    if labels is None:
        raise VBQInputError(f"{path}: a labelmap needs segment names: give --labels FILE "
                            "(lines like 1=C3, 7=CSF) or a Slicer color table")
    label_dict = dict(labels) if isinstance(labels, dict) else read_label_map(labels)
    return read_labelmap(p, {int(k): str(v) for k, v in label_dict.items()})
