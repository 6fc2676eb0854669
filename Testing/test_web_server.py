"""``vbq web`` at the server level: the app in this process, serving on a free loopback port, driven through its
own state/controller API (what the page calls) on the real MRI; every number checked against ``vbq score`` on
the saved files and against masks computed here with numpy.

The browser-level tests (real mouse events in Chromium) are in test_web_browser.py.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
import sys
import urllib.request
from contextlib import redirect_stderr
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("trame_slicer", reason="vbq web needs the [web] extra (pip install -e '.[test,web]')")
import SimpleITK as sitk  # noqa: E402

from VBQScoreLib.options import ScoreOptions  # noqa: E402

C3_CENTER = (21, 35, 30)  # voxel (i, j, k) of the real MRI: centre of the "C3" ball
C3_RADIUS = 3.0  # mm; 1 mm voxels and a voxel-centred ball: 123 voxels (integer points with |p| <= 3)
CSF_CENTER, CSF_RADIUS = (21, 52, 45), 2.0  # 33 voxels


def _ras(img, ijk):
    p = img.TransformContinuousIndexToPhysicalPoint([float(v) for v in ijk])
    return [-p[0], -p[1], p[2]]


def _ball(img, ijk, radius):
    """Independent mask: voxels whose centre lies within ``radius`` mm of voxel ``ijk``'s centre (numpy order)."""
    size = img.GetSize()
    k, j, i = np.meshgrid(*(np.arange(n) for n in size[::-1]), indexing="ij")
    sp = np.asarray(img.GetSpacing())
    d2 = ((i - ijk[0]) * sp[0]) ** 2 + ((j - ijk[1]) * sp[1]) ** 2 + ((k - ijk[2]) * sp[2]) ** 2
    return d2 <= radius ** 2


@pytest.fixture(scope="module")
def web(real_t1_path, tmp_path_factory):
    """The app on a free port, its server running in this thread's event loop (as under ``vbq web``)."""
    from trame.app import get_server

    from vbq_web.app import VBQWebApp
    from vbq_web.logic import Session

    out = tmp_path_factory.mktemp("web-out")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = VBQWebApp(server=get_server("vbq_web_server_test", client_type="vue3"),
                    session=Session(options=ScoreOptions(), image=str(real_t1_path), out_dir=out))
    argv, sys.argv = sys.argv, sys.argv[:1]  # trame parses sys.argv: not pytest's flags
    async def start():
        app.logic.start()
        app.server.start(host="127.0.0.1", port=0, exec_mode="task", open_browser=False,
                         show_connection_info=False, timeout=0)
        await asyncio.wait_for(app.server.ready, 60)

    try:
        loop.run_until_complete(start())
    finally:
        sys.argv = argv
    yield app, loop, out
    loop.run_until_complete(app.server.stop())
    loop.close()
    asyncio.set_event_loop(None)


def _run(loop, coro):
    return loop.run_until_complete(asyncio.wait_for(coro, 30))


async def _table_after(app, version):
    """Wait (in the server's loop, as the throttle runs there) until the table is newer than ``version``."""
    while app.server.state.vbq_table_version <= version:
        await asyncio.sleep(0.01)
    return app.server.state.vbq_rows


def _page(app):
    with urllib.request.urlopen(app.access.link("127.0.0.1", app.server.port), timeout=10) as r:
        return r.status, r.read().decode("utf-8", "replace")


def _rows(rows):
    return {r["level"]: r for r in rows}


def _vbq_score(*argv):
    """``vbq score`` as a user runs it (the CLI's main, in this process): (exit code, stderr)."""
    from vbq_cli.main import main

    err = io.StringIO()
    with redirect_stderr(err):
        code = main(["score", *map(str, argv)])
    return code, err.getvalue()


def test_serves_the_page_and_shows_the_mri(web, real_t1_path):
    app, loop, _ = web
    status, html = _run(loop, loop.run_in_executor(None, _page, app))
    assert status == 200 and "<div id=\"app\"" in html.replace("'", '"')
    s = app.server.state
    assert s.vbq_ready and s.vbq_title == "sct_t1w" and s.vbq_error == ""
    vol = app.logic.volume_node
    # the volume node holds exactly the voxels vbq score reads
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(real_t1_path)))
    from VBQScoreLib import mrml

    assert np.array_equal(sitk.GetArrayViewFromImage(mrml.volume_to_sitk(vol)), arr)


def test_label_measure_save_equals_vbq_score(web, real_t1_path, tmp_path):
    app, loop, out = web
    ctrl, s = app.server.controller, app.server.state
    img = sitk.ReadImage(str(real_t1_path))
    arr = sitk.GetArrayFromImage(img).astype(float)

    async def label():
        v = s.vbq_table_version
        ids = ctrl.vbq_create_segments()
        await _table_after(app, v)
        assert s.vbq_not_computed.startswith("Not computed: CSF segment 'CSF cisterna magna' has no voxels")
        v = s.vbq_table_version
        n_c3 = ctrl.vbq_paint_sphere("C3", _ras(img, C3_CENTER), C3_RADIUS)
        n_csf = ctrl.vbq_paint_sphere("CSF", _ras(img, CSF_CENTER), CSF_RADIUS)
        rows = await _table_after(app, v)
        return ids, n_c3, n_csf, rows

    ids, n_c3, n_csf, rows = _run(loop, label())
    assert list(ids) == ["C2", "C3", "C4", "C5", "C6", "C7", "CSF"]
    c3_mask, csf_mask = _ball(img, C3_CENTER, C3_RADIUS), _ball(img, CSF_CENTER, CSF_RADIUS)
    assert (n_c3, n_csf) == (int(c3_mask.sum()), int(csf_mask.sum())) == (123, 33)
    t = _rows(rows)
    # independent numbers: numpy over the ball masks
    assert t["C3"]["voxels"] == 123 and t["CSF"]["voxels"] == 33 and t["C4"]["voxels"] == 0
    assert t["C3"]["si"] == pytest.approx(arr[c3_mask].mean(), rel=1e-12)
    assert t["CSF"]["si"] == pytest.approx(arr[csf_mask].mean(), rel=1e-12)
    assert t["C3"]["vbq"] == pytest.approx(arr[c3_mask].mean() / arr[csf_mask].mean(), rel=1e-12)
    assert t["Overall"]["vbq"] == t["C3"]["vbq"]  # only C3 measured
    assert "EMPTY_ROI" in t["C4"]["flags"]
    # the segments are the VBQ Score module's: names, colours, terminology
    from VBQScoreLib import mrml

    node = app.logic.segmentation_node
    seg = node.GetSegmentation()
    assert [seg.GetSegment(i).GetName() for i in mrml.segment_ids(node)] == \
        ["C2", "C3", "C4", "C5", "C6", "C7", "CSF cisterna magna"]
    assert seg.GetSegment("C2").GetColor() == pytest.approx(mrml.LEVEL_COLORS[0])
    assert seg.GetSegment("CSF").GetColor() == pytest.approx(mrml.CSF_COLOR)

    assert ctrl.vbq_save() is True and s.vbq_error == "" and not s.vbq_dirty
    seg_path, json_path, csv_path = out / "sct_t1w.seg.nrrd", out / "sct_t1w.result.json", out / "sct_t1w.levels.csv"
    # vbq score on the saved files, as a user would run it
    code, err = _vbq_score(real_t1_path, seg_path, "--json", tmp_path / "r.json", "--csv", tmp_path / "r.csv",
                           "--quiet")
    assert code == 0, err
    assert csv_path.read_text() == (tmp_path / "r.csv").read_text()
    mine, ref = json.loads(json_path.read_text()), json.loads((tmp_path / "r.json").read_text())
    for d in (mine, ref):
        d["provenance"].pop("timestamp")
    assert mine == ref
    # the live table equals vbq score's result on the saved files, to the last bit
    for lv in ref["levels"]:
        assert (t[lv["name"]]["voxels"], t[lv["name"]]["vbq"]) == (lv["n_voxels"], lv["vbq"])
        assert t[lv["name"]]["si"] == lv["mean"]
    assert t["CSF"]["si"] == ref["csf"]["mean"] and t["Overall"]["vbq"] == ref["overall"]["vbq"]
    # Slicer's format, names kept (slicerio is what Slicer's own reader follows)
    import slicerio

    info = slicerio.read_segmentation(str(seg_path), skip_voxels=True)
    assert [x["name"] for x in info["segments"]] == ["C2", "C3", "C4", "C5", "C6", "C7", "CSF cisterna magna"]
    c3 = info["segments"][1]
    assert c3["terminology"]["type"] == ["SCT", "113205007", "C3 vertebra"]  # SNOMED CT code of C3
    assert (c3["nameAutoGenerated"], c3["colorAutoGenerated"]) == (False, False)  # Slicer keeps name and colour


def test_quick_roi_undo_redo_and_throttle(web, real_t1_path):
    app, loop, _ = web
    ctrl, s = app.server.controller, app.server.state
    img = sitk.ReadImage(str(real_t1_path))

    async def steps():
        v = s.vbq_table_version
        ctrl.vbq_select_level("C4")
        sid = ctrl.vbq_quick_roi_at(_ras(img, (21, 35, 45)))
        rows = await _table_after(app, v)
        n = _rows(rows)["C4"]["voxels"]
        v = s.vbq_table_version
        ctrl.vbq_undo()
        undone = _rows(await _table_after(app, v))["C4"]["voxels"]
        v = s.vbq_table_version
        ctrl.vbq_redo()
        redone = _rows(await _table_after(app, v))["C4"]["voxels"]
        return sid, n, undone, redone

    sid, n, undone, redone = _run(loop, steps())
    assert sid == "C4" and s.vbq_error == "" and s.vbq_active_level == "C4"
    # the trame-slicer effects behind the tool buttons (the page shows the active one)
    for tool in ("paint", "erase", "threshold", "quick_roi", "none"):
        ctrl.vbq_set_tool(tool)
        assert (s.vbq_tool, s.vbq_error) == (tool, "")
    ctrl.vbq_set_tool("lasso")
    assert s.vbq_error.startswith("unknown tool 'lasso'")
    # the ROI VBQScoreLib.quick_roi grows from that point on the MRI, computed here without the app
    from VBQScoreLib.quick_roi import QuickRoiSettings, grow_roi

    p = img.TransformContinuousIndexToPhysicalPoint([21.0, 35.0, 45.0])
    expected = grow_roi(img, p, QuickRoiSettings(radius_mm=8.0, sagittal_slices=3, erode_mm=1.0), name="C4")
    assert n == int(sitk.GetArrayViewFromImage(expected).sum()) > 0
    assert (undone, redone) == (0, n)
    assert s.vbq_update_ms is not None and s.vbq_update_ms >= s.vbq_measure_ms
    print(f"\ntable update after a change: {s.vbq_update_ms} ms ({s.vbq_measure_ms} ms measuring)")


def test_bad_files_are_a_message_in_the_page_and_the_server_goes_on(web, real_t1_path, tmp_path):
    app, loop, out = web
    ctrl, s = app.server.controller, app.server.state
    before = s.vbq_title
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not an image at all")
    assert ctrl.vbq_load(str(bad)) is None
    code, err = _vbq_score(bad, out / "sct_t1w.seg.nrrd")
    assert code == 2 and err.strip() == f"vbq score: error: {s.vbq_error}"
    assert s.vbq_title == before and app.logic.volume_node is not None  # the case shown stays
    # a segmentation on another grid, 500 mm away from the MRI
    img = sitk.ReadImage(str(real_t1_path))
    lab = np.zeros(sitk.GetArrayViewFromImage(img).shape, np.uint8)
    lab[30:40, 30:40, 15:25] = 1
    lab[40:50, 50:53, 18:22] = 2
    far = sitk.GetImageFromArray(lab)
    far.CopyInformation(img)
    far.SetOrigin([o + 500.0 for o in img.GetOrigin()])
    far_path = tmp_path / "far.nii.gz"
    sitk.WriteImage(far, str(far_path))
    labels = tmp_path / "labels.txt"
    labels.write_text("1=C3\n2=CSF\n", encoding="utf-8")
    assert ctrl.vbq_load(str(real_t1_path), str(far_path), str(labels)) is True
    code, err = _vbq_score(real_t1_path, far_path, "--labels", labels)
    assert code == 2 and s.vbq_error == f"segmentation not loaded: {err.strip().removeprefix('vbq score: error: ')}"
    assert "does not overlap" in s.vbq_error
    # the server goes on: the page is served, the tools work
    status, _ = _run(loop, loop.run_in_executor(None, _page, app))
    assert status == 200
    assert ctrl.vbq_create_segments() is not None and s.vbq_error == ""


def _tiny_filesystem(path: Path) -> bool:
    """A 96 KiB tmpfs at ``path`` (root on Linux); False when mounting is not allowed here."""
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


def test_disk_full_on_save_keeps_the_previous_file(web, real_t1_path, tmp_path, monkeypatch):
    app, loop, _ = web
    ctrl, s = app.server.controller, app.server.state
    img = sitk.ReadImage(str(real_t1_path))
    disk = tmp_path / "disk"
    mounted = _tiny_filesystem(disk)
    if not mounted:  # no mount here: the same failure from an exhausted file-size limit (EFBIG instead of ENOSPC)
        import resource
        import signal

        disk.mkdir(exist_ok=True)
    try:
        assert ctrl.vbq_load(str(real_t1_path)) is True
        monkeypatch.setattr(app.logic.session, "out_dir", disk)
        ctrl.vbq_create_segments()
        ctrl.vbq_paint_sphere("C3", _ras(img, C3_CENTER), C3_RADIUS)
        ctrl.vbq_paint_sphere("CSF", _ras(img, CSF_CENTER), CSF_RADIUS)
        assert ctrl.vbq_save() is True, s.vbq_error
        saved = disk / "sct_t1w.seg.nrrd"
        first = saved.read_bytes()
        first_json = (disk / "sct_t1w.result.json").read_bytes()
        ctrl.vbq_paint_sphere("C5", _ras(img, (21, 35, 60)), 3.0)  # more to save
        if mounted:
            filler = disk / "filler.bin"
            try:
                with open(filler, "wb") as f:  # fill the disk
                    while True:
                        f.write(b"\0" * 4096)
                        f.flush()
            except OSError:
                pass
            result = ctrl.vbq_save()
        else:
            old = resource.getrlimit(resource.RLIMIT_FSIZE)
            handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1024, old[1]))
            try:
                result = ctrl.vbq_save()
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, old)
                signal.signal(signal.SIGXFSZ, handler)
        assert result is None
        assert s.vbq_error.startswith(f"{saved}: could not write the segmentation") and s.vbq_dirty
        assert "previous file, if any, is unchanged" in s.vbq_error
        assert saved.read_bytes() == first and (disk / "sct_t1w.result.json").read_bytes() == first_json
        assert sorted(p.name for p in disk.iterdir() if p.name != "filler.bin") == \
            ["sct_t1w.levels.csv", "sct_t1w.result.json", "sct_t1w.seg.nrrd"]  # no temporary file left
        assert _run(loop, loop.run_in_executor(None, _page, app))[0] == 200  # still serving
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)
        shutil.rmtree(disk, ignore_errors=True)


def test_save_refuses_to_overwrite_the_input_segmentation(web, real_t1_path, tmp_path, monkeypatch):
    app, _, out = web
    ctrl, s = app.server.controller, app.server.state
    given = out / "sct_t1w.seg.nrrd"  # saved by an earlier test: now it is the input
    before = given.read_bytes()
    assert ctrl.vbq_load(str(real_t1_path), str(given)) is True and s.vbq_error == ""
    monkeypatch.setattr(app.logic.session, "out_dir", out)
    assert ctrl.vbq_save() is None and "would overwrite the input segmentation" in s.vbq_error
    assert given.read_bytes() == before


def test_dicom_folder_and_unsaved_changes_saved_on_exit(web, tmp_path, monkeypatch):
    """A DICOM series folder opens as vbq score reads it; stopping the server saves unsaved changes."""
    from VBQScoreLib.phantom import make_phantom, write_dicom_series

    app, _, _ = web
    ctrl, s = app.server.controller, app.server.state
    ph = make_phantom(shape=(9, 64, 64), spacing=(3.0, 3.2, 3.2), seed=3)
    folder = tmp_path / "T1_SAG"
    write_dicom_series(ph.image, folder)
    assert ctrl.vbq_load(str(folder)) is True and s.vbq_error == "" and s.vbq_title == "T1_SAG"
    from VBQScoreLib import mrml
    from VBQScoreLib.image_io import read_image

    assert np.array_equal(sitk.GetArrayViewFromImage(mrml.volume_to_sitk(app.logic.volume_node)),
                          sitk.GetArrayViewFromImage(read_image(folder).image))
    monkeypatch.setattr(app.logic.session, "out_dir", tmp_path / "out")
    (tmp_path / "out").mkdir()
    assert app.logic.on_exit() is None  # nothing changed: nothing written
    ctrl.vbq_create_segments()
    assert s.vbq_dirty
    said = app.logic.on_exit()
    assert said.startswith("vbq web: unsaved changes saved: Saved T1_SAG.seg.nrrd")
    assert (tmp_path / "out" / "T1_SAG.seg.nrrd").is_file() and not s.vbq_dirty


def test_threshold_paint_paints_only_within_the_intensity_range(web, real_t1_path):
    """Threshold, "use for masking", then paint: the page's threshold-paint, through trame-slicer's effects;
    the painted voxels are exactly the ball's voxels within the range (numpy)."""
    from trame_server.utils.typed_state import TypedState
    from trame_slicer.app.ui import ThresholdState
    from trame_slicer.segmentation import SegmentationEffectThreshold

    app, loop, _ = web
    ctrl, s = app.server.controller, app.server.state
    img = sitk.ReadImage(str(real_t1_path))
    arr = sitk.GetArrayFromImage(img).astype(float)
    assert ctrl.vbq_load(str(real_t1_path)) is True
    ctrl.vbq_create_segments()
    ctrl.vbq_select_level("C5")
    ctrl.vbq_set_tool("threshold")
    lo, hi = 250.0, 600.0
    with s:
        TypedState(s, ThresholdState).data.threshold_slider.value = [lo, hi]  # the page's range slider
    app.ui.segment_editor.get_effect_ui(SegmentationEffectThreshold).use_as_mask_clicked()  # its button
    assert s.vbq_tool == "paint"  # trame-slicer switches to Paint, masked by the range
    center = (21, 40, 60)  # the edge of the bright canal, 20 mm from the CSF ball below
    ctrl.vbq_paint_sphere("C5", _ras(img, center), 5.0)
    ctrl.vbq_paint_sphere("CSF", _ras(img, (21, 38, 40)), 2.0)  # bright canal: within the range too
    from VBQScoreLib import mrml

    c5 = mrml.export_segment_mask(app.logic.segmentation_node, "C5", app.logic.volume_node).astype(bool)
    ball = _ball(img, center, 5.0)
    expected = ball & (arr >= lo) & (arr <= hi)
    assert 0 < expected.sum() < ball.sum()  # the range really cuts the ball
    assert np.array_equal(c5, expected)
    assert _rows(s.vbq_rows)["C5"]["voxels"] == int(expected.sum())
