"""Batch VBQ (issue 5): manifests, folders, failures, resume, order independence, and a real Dask cluster.

Cases are tiny synthetic volumes whose ROIs have constant, known intensities, so every VBQ is known by hand:
level Ci of case k has SI ``200 + 10 k + 7 (i - 2)`` and the CSF has SI ``100 + k``.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from VBQScoreLib import batch as B
from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.options import ScoreOptions

LEVELS = ("C2", "C3", "C4", "C5", "C6", "C7")
N_GOOD = 5


def level_si(k: int, level: str) -> int:
    return 200 + 10 * k + 7 * (int(level[1]) - 2)


def csf_si(k: int) -> int:
    return 100 + k


def write_case(folder: Path, k: int, *, with_csf: bool = True, levels=LEVELS) -> tuple[Path, Path, Path]:
    """An image + integer labelmap + label map: labels 1..6 = C2..C7, 7 = CSF, constant SI per ROI."""
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    img = np.full((40, 10, 8), 50, np.int16)  # numpy (z, y, x)
    lab = np.zeros(img.shape, np.uint8)
    for i, level in enumerate(LEVELS):
        if level not in levels:
            continue
        sl = (slice(3 + 5 * i, 6 + 5 * i), slice(3, 7), slice(2, 6))  # 3 x 4 x 4 = 48 voxels
        img[sl] = level_si(k, level)
        lab[sl] = i + 1
    sl = (slice(33, 37), slice(3, 7), slice(2, 6))
    img[sl] = csf_si(k)
    if with_csf:
        lab[sl] = 7
    paths = folder / "image.nii.gz", folder / "labels.nii.gz", folder / "labels.txt"
    for arr, p in ((img, paths[0]), (lab, paths[1])):
        im = sitk.GetImageFromArray(arr)
        im.SetSpacing((0.8, 0.8, 1.5))
        sitk.WriteImage(im, str(p))
    paths[2].write_text("".join(f"{i + 1}={lv}\n" for i, lv in enumerate(LEVELS)) + "7=CSF\n")
    return paths


def write_manifest(path: Path, rows) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "image", "segmentation", "labels"])
        w.writerows(rows)
    return path


def read_rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """5 good cases plus 3 that must fail: missing image, no CSF voxels, corrupt image."""
    root = tmp_path_factory.mktemp("study")
    rows = []
    for k in range(N_GOOD):
        write_case(root / f"case{k:03d}", k)
        rows.append([f"case{k:03d}", f"case{k:03d}/image.nii.gz", f"case{k:03d}/labels.nii.gz",
                     f"case{k:03d}/labels.txt"])
    rows.append(["missing", "nowhere/image.nii.gz", "case000/labels.nii.gz", "case000/labels.txt"])
    write_case(root / "nocsf", 9, with_csf=False)
    rows.append(["nocsf", "nocsf/image.nii.gz", "nocsf/labels.nii.gz", "nocsf/labels.txt"])
    (root / "corrupt").mkdir()
    (root / "corrupt" / "image.nii.gz").write_bytes(b"this is not a NIfTI file\x00\x01\x02" * 20)
    rows.append(["corrupt", "corrupt/image.nii.gz", "case000/labels.nii.gz", "case000/labels.txt"])
    write_manifest(root / "manifest.csv", rows)
    write_manifest(root / "good.csv", rows[:N_GOOD])
    return root


@pytest.fixture(scope="module")
def reference_run(study, tmp_path_factory):
    """The in-process (synchronous) run of the full manifest: (wide bytes, long bytes, summary)."""
    out = tmp_path_factory.mktemp("ref") / "results.csv"
    summary = B.run_batch(B.read_manifest(study / "manifest.csv"), out, workers=0)
    return out.read_bytes(), B.long_path_for(out).read_bytes(), summary


# ------------------------------------------------------------------------------------------------ manifest


def test_read_manifest_resolves_relative_paths_and_keeps_ids_verbatim(tmp_path):
    (tmp_path / "sub").mkdir()
    m = tmp_path / "sub" / "m.csv"
    m.write_text("case_id,image,segmentation\n007,a/img.nii.gz,/abs/seg.seg.nrrd\n 12 ,b.nii,c.nii\n", encoding="utf-8")
    cases = B.read_manifest(m)
    assert [c.case_id for c in cases] == ["007", "12"]
    assert cases[0].image == str(tmp_path / "sub" / "a" / "img.nii.gz")
    assert cases[0].segmentation == "/abs/seg.seg.nrrd"
    assert cases[0].labels is None


@pytest.mark.parametrize("text, expected", [
    ("case_id,image\nA,a.nii\n", "missing column(s) segmentation"),
    ("id,image,segmentation\nA,a,b\n", "missing column(s) case_id"),
    ("case_id,image,segmentation\nA,a,b\nB,c,d\nA,e,f\n", "duplicate case_id 'A' (first on line 2) on line(s) 4"),
    ("case_id,image,segmentation\nA,a,b\n,c,d\n", "empty case_id on line(s) 3"),
    ("case_id,image,segmentation\nA,,b\n", "empty image on line(s) 2"),
    ("case_id,image,segmentation\n", "no cases"),
    ("", "manifest is empty"),
])
def test_read_manifest_bad_input_names_file_and_rows(tmp_path, text, expected):
    m = tmp_path / "m.csv"
    m.write_text(text, encoding="utf-8")
    with pytest.raises(VBQInputError) as exc:
        B.read_manifest(m)
    msg = str(exc.value)
    assert expected in msg and str(m) in msg and "\n" not in msg


def test_read_manifest_semicolons_bom_and_header_case(tmp_path):
    m = tmp_path / "m.csv"
    m.write_bytes("\ufeffCase_ID;Image;Segmentation;Labels\nA;a.nii;a_seg.nii;a.txt\nB;b.nii;b_seg.nii;\n"
                  .encode("utf-8"))
    cases = B.read_manifest(m)
    assert [(c.case_id, Path(c.image).name, Path(c.labels).name if c.labels else None) for c in cases] == [
        ("A", "a.nii", "a.txt"), ("B", "b.nii", None)]


def test_read_manifest_missing_file_is_bad_input(tmp_path):
    with pytest.raises(VBQInputError, match="manifest not found"):
        B.read_manifest(tmp_path / "nope.csv")


def test_discover_cases_with_patterns(tmp_path):
    for cid in ("p2", "p1", "p3"):
        (tmp_path / cid).mkdir()
        (tmp_path / cid / "t1.nii.gz").write_bytes(b"x")
        if cid != "p3":
            (tmp_path / cid / f"{cid}_seg.seg.nrrd").write_bytes(b"x")
    (tmp_path / "notes").mkdir()  # no image: not a case
    cases = B.discover_cases(tmp_path, ("{case_id}/t1.nii.gz", "{case_id}/*.seg.nrrd"))
    assert [c.case_id for c in cases] == ["p1", "p2", "p3"]
    root = tmp_path.resolve()
    assert cases[0].image == str(root / "p1" / "t1.nii.gz")
    assert cases[1].segmentation == str(root / "p2" / "p2_seg.seg.nrrd")
    assert not os.path.exists(cases[2].segmentation)  # p3 will fail alone, with a clear message
    assert "no file matches the pattern" in cases[2].segmentation
    # flat layout, given as one comma-separated string, with a labels pattern
    flat = tmp_path / "flat"
    flat.mkdir()
    for cid in ("b", "a"):
        for suffix in ("_t1.nii.gz", "_seg.nii.gz", "_labels.txt"):
            (flat / f"{cid}{suffix}").write_bytes(b"x")
    cases = B.discover_cases(flat, "{case_id}_t1.nii.gz,{case_id}_seg.nii.gz,{case_id}_labels.txt")
    assert [(c.case_id, Path(c.segmentation).name, Path(c.labels).name) for c in cases] == [
        ("a", "a_seg.nii.gz", "a_labels.txt"), ("b", "b_seg.nii.gz", "b_labels.txt")]


def test_discover_cases_bad_input(tmp_path):
    with pytest.raises(VBQInputError, match="no file matches the image pattern"):
        B.discover_cases(tmp_path)
    with pytest.raises(VBQInputError, match="no {case_id} placeholder"):
        B.discover_cases(tmp_path, ("image.nii.gz", "{case_id}/seg.nrrd"))
    with pytest.raises(VBQInputError, match="not a folder"):
        B.discover_cases(tmp_path / "nope")


# ------------------------------------------------------------------------------------------ in-process run


def test_values_are_hand_computed_and_equal_direct_score_files(study, reference_run):
    from VBQScoreLib.api import score_files

    wide_bytes, long_bytes, summary = reference_run
    rows = {r["case_id"]: r for r in csv.DictReader(wide_bytes.decode().splitlines())}
    assert list(rows) == [f"case{k:03d}" for k in range(N_GOOD)] + ["missing", "nocsf", "corrupt"]
    header = wide_bytes.decode().splitlines()[0].split(",")
    assert header[:10] == ["case_id", "status"] + [f"VBQ_{lv}" for lv in LEVELS] + ["VBQ_overall", "CSF_SI"]
    assert "flags" in header and "error" in header
    for k in range(N_GOOD):
        r = rows[f"case{k:03d}"]
        assert r["status"] == "ok" and r["error"] == "" and r["flags"] == ""
        for lv in LEVELS:  # by hand: constant SI per ROI
            assert float(r[f"VBQ_{lv}"]) == pytest.approx(level_si(k, lv) / csf_si(k), rel=1e-12)
        expected_overall = np.mean([level_si(k, lv) for lv in LEVELS]) / csf_si(k)
        assert float(r["VBQ_overall"]) == pytest.approx(expected_overall, rel=1e-12)
        assert float(r["CSF_SI"]) == csf_si(k)
        assert r["n_levels"] == "6" and r["preset"] == "lu2024" and r["level_stat"] == "mean"
        assert r["aggregate"] == "mean" and r["erode_mm"] == "0.0" and r["mid_slices"] == ""
        # bit-identical to a direct call of the measuring API
        d = score_files(study / f"case{k:03d}/image.nii.gz", study / f"case{k:03d}/labels.nii.gz",
                        labels=study / f"case{k:03d}/labels.txt").to_dict()
        assert [float(r[f"VBQ_{lv['name']}"]) for lv in d["levels"]] == [lv["vbq"] for lv in d["levels"]]
        assert float(r["VBQ_overall"]) == d["overall"]["vbq"]
        assert r["image_sha256"] == d["provenance"]["inputs"]["image"]["sha256"]
    # the long table: 6 levels + CSF per ok case, numbers as in the wide table
    long_rows = list(csv.DictReader(long_bytes.decode().splitlines()))
    assert len(long_rows) == 7 * N_GOOD
    r = [x for x in long_rows if x["case_id"] == "case002" and x["level"] == "C5"][0]
    assert float(r["mean"]) == level_si(2, "C5") and r["n_voxels"] == "48"
    assert float(r["volume_mm3"]) == pytest.approx(48 * 0.8 * 0.8 * 1.5)
    assert float(r["vbq"]) == float(rows["case002"]["VBQ_C5"])
    csf_row = [x for x in long_rows if x["case_id"] == "case002" and x["level"] == "CSF"][0]
    assert float(csf_row["mean"]) == csf_si(2) and csf_row["vbq"] == ""
    assert summary.n_cases == N_GOOD + 3 and summary.n_ok == N_GOOD and summary.n_failed == 3


def test_failed_cases_get_one_line_error_rows(reference_run):
    wide_bytes, long_bytes, summary = reference_run
    rows = {r["case_id"]: r for r in csv.DictReader(wide_bytes.decode().splitlines())}
    assert rows["missing"]["status"] == "failed"
    assert rows["missing"]["error"].startswith("image file not found:")
    assert "nowhere" in rows["missing"]["error"]
    assert rows["nocsf"]["status"] == "failed" and "CSF" in rows["nocsf"]["error"]
    assert rows["corrupt"]["status"] == "failed" and "image.nii.gz" in rows["corrupt"]["error"]
    for cid in ("missing", "nocsf", "corrupt"):
        assert rows[cid]["VBQ_overall"] == "" and rows[cid]["VBQ_C3"] == ""
        assert "\n" not in rows[cid]["error"]
    assert not any(r.startswith(("missing,", "nocsf,", "corrupt,")) for r in long_bytes.decode().splitlines())
    assert [cid for cid, _ in summary.failed] == ["missing", "nocsf", "corrupt"]


def test_shuffled_manifest_gives_same_rows_in_its_own_order(study, reference_run, tmp_path):
    ref_rows = {r["case_id"]: r for r in csv.DictReader(reference_run[0].decode().splitlines())}
    cases = B.read_manifest(study / "manifest.csv")
    random.Random(5).shuffle(cases)
    out = tmp_path / "shuffled.csv"
    B.run_batch(cases, out, workers=0)
    rows = read_rows(out)
    assert [r["case_id"] for r in rows] == [c.case_id for c in cases]
    assert {r["case_id"]: r for r in rows} == ref_rows


def test_progress_callback_counts_cases(study, tmp_path):
    calls = []
    B.run_batch(B.read_manifest(study / "manifest.csv"), tmp_path / "o.csv", scheduler="synchronous",
                progress=lambda d, t, m: calls.append((d, t, m)))
    assert [c[:2] for c in calls] == [(i, N_GOOD + 3) for i in range(N_GOOD + 4)]
    assert calls[-1][2] == "3 failed"


# ---------------------------------------------------------------------------------------------- resume


def _counting(monkeypatch):
    seen = []
    real = B.score_case

    def counting(case, options=None):
        seen.append(case["case_id"])
        return real(case, options)

    monkeypatch.setattr(B.execution, "score_case", counting)
    return seen


def test_resume_skips_ok_cases_and_reruns_failed(study, reference_run, tmp_path, monkeypatch):
    # a private copy of two good cases and one that fails until its input appears
    for k in (0, 1):
        shutil.copytree(study / f"case{k:03d}", tmp_path / f"case{k:03d}")
    m = write_manifest(tmp_path / "m.csv", [
        [f"case{k:03d}", f"case{k:03d}/image.nii.gz", f"case{k:03d}/labels.nii.gz", f"case{k:03d}/labels.txt"]
        for k in (0, 1, 2)])
    out = tmp_path / "res.csv"
    s1 = B.run_batch(B.read_manifest(m), out, workers=0)
    assert (s1.n_ok, s1.n_failed, s1.n_skipped) == (2, 1, 0)
    first = {r["case_id"]: r for r in read_rows(out)}
    # make case002 work; remove an input of the done case000: a re-run of it would now fail
    shutil.copytree(study / "case002", tmp_path / "case002")
    (tmp_path / "case000" / "image.nii.gz").unlink()
    seen = _counting(monkeypatch)
    s2 = B.run_batch(B.read_manifest(m), out, workers=0, resume=True)
    assert seen == ["case002"]
    assert (s2.n_cases, s2.n_ok, s2.n_failed, s2.n_skipped) == (3, 3, 0, 2)
    rows = read_rows(out)
    assert [r["case_id"] for r in rows] == ["case000", "case001", "case002"]
    assert rows[0] == first["case000"] and rows[1] == first["case001"]
    ref = {r["case_id"]: r for r in csv.DictReader(reference_run[0].decode().splitlines())}
    assert rows[2] == ref["case002"]
    long_ids = [r["case_id"] for r in read_rows(B.long_path_for(out))]
    assert long_ids == ["case000"] * 7 + ["case001"] * 7 + ["case002"] * 7
    assert not B.journal_path_for(out).exists()


def test_interrupted_run_resumes_from_journal_to_identical_files(study, reference_run, tmp_path, monkeypatch):
    cases = B.read_manifest(study / "manifest.csv")
    out = tmp_path / "r.csv"

    def stop_after_three(done, total, message):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        B.run_batch(cases, out, workers=0, progress=stop_after_three)
    assert not out.exists() and not B.long_path_for(out).exists()  # no partial output
    journal = [json.loads(x) for x in B.journal_path_for(out).read_text(encoding="utf-8").splitlines()]
    assert [j["case_id"] for j in journal] == ["case000", "case001", "case002"]
    seen = _counting(monkeypatch)
    s = B.run_batch(cases, out, workers=0, resume=True)
    assert seen == [c.case_id for c in cases[3:]]  # failed ones are always re-run; done ones never
    assert s.n_skipped == 3
    assert out.read_bytes() == reference_run[0]
    assert B.long_path_for(out).read_bytes() == reference_run[1]
    # resuming a complete table runs only its failed cases, and changes nothing
    seen.clear()
    B.run_batch(cases, out, workers=0, resume=True)
    assert seen == ["missing", "nocsf", "corrupt"]
    assert out.read_bytes() == reference_run[0]


def test_resume_with_other_settings_is_refused(study, tmp_path):
    cases = B.read_manifest(study / "good.csv")[:1]
    out = tmp_path / "x.csv"
    B.run_batch(cases, out, workers=0)
    before = out.read_bytes()
    with pytest.raises(VBQInputError, match="level_stat=mean, this run uses level_stat=median"):
        B.run_batch(cases, out, workers=0, resume=True, options=ScoreOptions(stat="median"))
    with pytest.raises(VBQInputError, match="erode_mm=0.0, this run uses erode_mm=1.5"):
        B.run_batch(cases, out, workers=0, resume=True, options=ScoreOptions(erode_mm=1.5))
    with pytest.raises(VBQInputError, match="mid_slices=all, this run uses mid_slices=3"):
        B.run_batch(cases, out, workers=0, resume=True, options=ScoreOptions(mid_sagittal_slices=3))
    assert out.read_bytes() == before
    B.run_batch(cases, out, workers=0, resume=True, options=ScoreOptions(erode_mm=0))  # same settings: fine
    assert out.read_bytes() == before


# ------------------------------------------------------------------------------------------------- CLI


def test_cli_exit_codes_and_messages(study, tmp_path, capsys):
    from vbq_cli.main import main

    out = tmp_path / "all.csv"
    assert main(["batch", str(study / "manifest.csv"), "--out", str(out), "--workers", "0",
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "3 of 8 case(s) failed" in err and "Traceback" not in err
    assert len(read_rows(out)) == 8

    good = tmp_path / "good.csv"
    assert main(["batch", str(study / "good.csv"), "--out", str(good), "--workers", "0",
                 "--no-progress"]) == 0
    assert [r["status"] for r in read_rows(good)] == ["ok"] * N_GOOD
    assert "5 case(s): 5 ok, 0 failed" in capsys.readouterr().err

    bad = tmp_path / "bad.csv"
    bad.write_text("case_id,image\nA,a.nii\n", encoding="utf-8")
    assert main(["batch", str(bad), "--out", str(tmp_path / "o.csv"), "--workers", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"vbq batch: error: {bad}: manifest is missing column(s) segmentation (header is: " \
                  "case_id, image; need case_id,image,segmentation[,labels])"
    assert not (tmp_path / "o.csv").exists()
    assert main(["batch", str(study / "good.csv"), "--out", str(tmp_path / "nofolder" / "o.csv"),
                 "--workers", "0"]) == 2
    assert "output folder" in capsys.readouterr().err


def test_cli_folder_with_pattern(study, tmp_path):
    from vbq_cli.main import main

    out = tmp_path / "f.csv"
    code = main(["batch", str(study), "--pattern", "{case_id}/image.nii.gz", "{case_id}/labels.nii.gz",
                 "{case_id}/labels.txt", "--out", str(out), "--workers", "0", "--no-progress"])
    rows = read_rows(out)
    # nocsf fails; corrupt has no labels.nii.gz (fails); 'missing' has no folder (not a case)
    assert [r["case_id"] for r in rows] == ["case000", "case001", "case002", "case003", "case004", "corrupt",
                                            "nocsf"]
    assert code == 1
    assert "segmentation file not found" in rows[5]["error"]


# -------------------------------------------------------------------------------------- real Dask cluster


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory):
    """`dask scheduler` + `dask worker` (2 processes, 1 thread each) on 127.0.0.1, random free port."""
    from distributed import Client

    dask_exe = Path(sys.executable).with_name("dask")
    if not dask_exe.exists():
        dask_exe = Path(shutil.which("dask") or "dask")
    d = tmp_path_factory.mktemp("dask")
    sched_file = d / "scheduler.json"
    procs: list[subprocess.Popen] = []
    log = open(d / "dask.log", "w")
    try:
        procs.append(subprocess.Popen(
            [str(dask_exe), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(sched_file), "--idle-timeout", "600"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=d))
        deadline = time.monotonic() + 60
        address = None
        while time.monotonic() < deadline and address is None:
            if procs[0].poll() is not None:
                pytest.fail(f"dask scheduler exited: {(d / 'dask.log').read_text(encoding='utf-8')[-2000:]}")
            try:
                address = json.loads(sched_file.read_text(encoding="utf-8"))["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        assert address and address.startswith("tcp://127.0.0.1:"), "scheduler did not start"
        procs.append(subprocess.Popen(
            [str(dask_exe), "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
             "--death-timeout", "60", "--local-directory", str(d), "--host", "127.0.0.1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=d))
        with Client(address, timeout=30, set_as_default=False) as c:
            c.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            _kill_group(p)
        log.close()


@pytest.mark.slow
def test_external_scheduler_gives_same_tables_as_in_process(study, reference_run, dask_scheduler, tmp_path,
                                                            capsys):
    from vbq_cli.main import main

    out = tmp_path / "cluster.csv"
    code = main(["batch", str(study / "manifest.csv"), "--out", str(out), "--scheduler", dask_scheduler,
                 "--no-progress"])
    assert code == 1
    assert "3 of 8 case(s) failed" in capsys.readouterr().err
    assert out.read_bytes() == reference_run[0]
    assert B.long_path_for(out).read_bytes() == reference_run[1]


@pytest.mark.slow
def test_external_scheduler_streams_with_bounded_in_flight_and_resumes(study, reference_run, dask_scheduler,
                                                                       tmp_path):
    from distributed import Client

    # 4 copies of the study's cases = 32 cases, at most 3 submitted ahead of the finished ones
    base = B.read_manifest(study / "manifest.csv")
    cases = [B.Case(f"{c.case_id}-{j}", c.image, c.segmentation, c.labels) for j in range(4) for c in base]
    random.Random(1).shuffle(cases)
    with Client(dask_scheduler, timeout=30, set_as_default=False) as client:
        submitted = []
        real_submit = client.submit

        def submit(*a, **kw):
            submitted.append(a[1]["case_id"])
            return real_submit(*a, **kw)

        client.submit = submit
        worst = []

        def progress(done, total, message):
            worst.append(len(submitted) - done)

        out = tmp_path / "many.csv"
        s = B.run_batch(cases, out, scheduler=client, max_in_flight=3, progress=progress)
        assert max(worst) <= 3 and sorted(submitted) == sorted(c.case_id for c in cases)
        assert (s.n_cases, s.n_ok, s.n_failed) == (32, 20, 12)
        ref = {r["case_id"]: r for r in csv.DictReader(reference_run[0].decode().splitlines())}
        rows = read_rows(out)
        assert [r["case_id"] for r in rows] == [c.case_id for c in cases]
        for r in rows:
            base_id = r["case_id"].rsplit("-", 1)[0]
            assert {**r, "case_id": base_id} == ref[base_id]
        # resume on the cluster: only the failed cases are sent again
        submitted.clear()
        s2 = B.run_batch(cases, out, scheduler=client, resume=True)
        assert sorted(submitted) == sorted(c.case_id for c in cases if c.case_id.rsplit("-", 1)[0]
                                           in ("missing", "nocsf", "corrupt"))
        assert s2.n_skipped == 20
        assert [r["case_id"] for r in read_rows(out)] == [c.case_id for c in cases]


@pytest.mark.slow
def test_local_cluster_gives_same_tables(study, reference_run, tmp_path):
    out = tmp_path / "local.csv"
    s = B.run_batch(B.read_manifest(study / "manifest.csv"), out, workers=2)
    assert s.where.startswith("local Dask cluster, 2 worker")
    assert out.read_bytes() == reference_run[0]
    assert B.long_path_for(out).read_bytes() == reference_run[1]


def test_unreachable_scheduler_is_bad_input(study, tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import dask
    import distributed  # noqa: F401  (load its config defaults first: config.set would drop them on exit)

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        with pytest.raises(VBQInputError, match=f"cannot connect to Dask scheduler tcp://127.0.0.1:{port}"):
            B.run_batch(B.read_manifest(study / "good.csv"), tmp_path / "o.csv",
                        scheduler=f"tcp://127.0.0.1:{port}")
    assert not (tmp_path / "o.csv").exists() and not B.journal_path_for(tmp_path / "o.csv").exists()


# ------------------------------------------------------------------------------- phantoms with .seg.nrrd


@pytest.fixture(scope="module")
def phantom_study(tmp_path_factory):
    from VBQScoreLib.phantom import make_phantom, write_phantom

    root = tmp_path_factory.mktemp("phantoms")
    truths = {}
    for k, cid in enumerate(("P02", "P01")):
        ph = make_phantom(seed=k, shape=(9, 128, 128), spacing=(2.5, 1.6, 1.6),
                          level_si={"C3": 560.0 + 40 * k}, csf_si=200.0 + 20 * k)
        write_phantom(ph, root / cid, formats=("nifti", "seg.nrrd"))
        truths[cid] = ph.truth
    return root, truths


@pytest.mark.parametrize("stat", ["mean", "median"])
def test_phantom_folder_seg_nrrd_matches_truth(phantom_study, tmp_path, stat):
    from vbq_cli.main import main

    root, truths = phantom_study
    out = tmp_path / "ph.csv"
    code = main(["batch", str(root), "--pattern", "{case_id}/phantom.nii.gz,{case_id}/phantom.seg.nrrd",
                 "--stat", stat, "--out", str(out), "--workers", "0", "--no-progress"])
    assert code == 0
    rows = read_rows(out)
    assert [r["case_id"] for r in rows] == ["P01", "P02"]
    suffix = "" if stat == "mean" else "_median"
    for r in rows:
        t = truths[r["case_id"]]
        assert r["level_stat"] == stat and r["preset"] == "lu2024"
        for lv in LEVELS:
            assert float(r[f"VBQ_{lv}"]) == pytest.approx(t["vbq" + suffix][lv], rel=1e-12)
        assert float(r["VBQ_overall"]) == pytest.approx(t["overall_vbq" + suffix]["lu2024"], rel=1e-12)
        assert float(r["CSF_SI"]) == pytest.approx(t["roi_stats"]["CSF"][stat], rel=1e-12)
    long_rows = read_rows(B.long_path_for(out))
    csf = [x for x in long_rows if x["case_id"] == "P02" and x["level"] == "CSF"][0]
    assert csf["segment"] == "CSF cisterna magna"
    assert int(csf["n_voxels"]) == truths["P02"]["roi_stats"]["CSF"]["n_voxels"]


def test_wide_and_long_tables_join_in_vbqcohort(reference_run, tmp_path):
    join = pytest.importorskip("VBQCohortLib.join")
    out = tmp_path / "r.csv"
    out.write_bytes(reference_run[0])
    B.long_path_for(out).write_bytes(reference_run[1])
    wide, info = join.read_vbq_table(out)
    assert info["format"] == "wide" and sorted(info["failed"]) == ["corrupt", "missing", "nocsf"]
    rows = {r["case_id"]: r for r in read_rows(out)}
    got = wide.set_index("case_id")
    for k in range(N_GOOD):
        cid = f"case{k:03d}"
        for lv in LEVELS:
            assert got.loc[cid, f"VBQ_{lv}"] == float(rows[cid][f"VBQ_{lv}"])
    long_wide, info = join.read_vbq_table(B.long_path_for(out))
    assert info["format"] == "long"
    lw = long_wide.set_index("case_id")
    for k in range(N_GOOD):
        cid = f"case{k:03d}"
        assert [lw.loc[cid, f"VBQ_{lv}"] for lv in LEVELS] == [float(rows[cid][f"VBQ_{lv}"]) for lv in LEVELS]
        assert lw.loc[cid, "VBQ_overall"] == float(rows[cid]["VBQ_overall"])


def test_dicom_case_adds_acquisition_columns(phantom_study, tmp_path):
    from VBQScoreLib.phantom import make_phantom, write_dicom_series, write_phantom

    ph = make_phantom(seed=7, shape=(9, 128, 128), spacing=(2.5, 1.6, 1.6))
    paths = write_phantom(ph, tmp_path / "D1", formats=("nifti", "labels"))
    write_dicom_series(ph.image, tmp_path / "D1" / "dicom", tags={"MagneticFieldStrength": "3",
                                                                  "Manufacturer": "ACME", "EchoTime": "12"})
    root, truths = phantom_study
    m = write_manifest(tmp_path / "m.csv", [
        ["D1", "D1/dicom", "D1/phantom_labels.nii.gz", "D1/phantom_labels.txt"],
        ["P01", str(root / "P01" / "phantom.nii.gz"), str(root / "P01" / "phantom.seg.nrrd"), ""]])
    out = tmp_path / "d.csv"
    s = B.run_batch(B.read_manifest(m), out, workers=0)
    assert s.n_ok == 2, s.failed
    rows = read_rows(out)
    assert rows[0]["manufacturer"] == "ACME" and float(rows[0]["magnetic_field_strength"]) == 3.0
    assert float(rows[0]["echo_time"]) == 12.0
    assert rows[1]["manufacturer"] == "" and rows[1]["magnetic_field_strength"] == ""
    assert float(rows[0]["VBQ_overall"]) == pytest.approx(ph.truth["overall_vbq"]["lu2024"], rel=1e-12)
    assert paths["image"].exists()


def test_task_that_dies_on_the_worker_gives_an_error_row(study, reference_run, tmp_path, monkeypatch):
    """A task that raises on the worker itself (as when a worker process dies: KilledWorker) fails its case
    only. An in-process (threads) Dask cluster lets the test swap the task function."""
    from distributed import Client, LocalCluster

    real = B.score_case

    def dying(case, options=None):
        if case["case_id"] == "case001":
            raise MemoryError("worker ran out of memory")
        return real(case, options)

    monkeypatch.setattr(B.execution, "score_case", dying)
    out = tmp_path / "k.csv"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        s = B.run_batch(B.read_manifest(study / "manifest.csv"), out, scheduler=client)
    assert s.n_failed == 4
    rows = {r["case_id"]: r for r in read_rows(out)}
    assert rows["case001"]["status"] == "failed"
    assert rows["case001"]["error"] == "worker failed on this case: MemoryError: worker ran out of memory"
    ref = {r["case_id"]: r for r in csv.DictReader(reference_run[0].decode().splitlines())}
    assert all(rows[c] == ref[c] for c in ref if c != "case001")


def test_resume_from_cut_journal_and_refusal_keeps_journal(study, reference_run, tmp_path, monkeypatch):
    cases = B.read_manifest(study / "manifest.csv")
    out = tmp_path / "j.csv"

    def stop_after_four(done, total, message):
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        B.run_batch(cases, out, workers=0, progress=stop_after_four)
    journal = B.journal_path_for(out)
    with open(journal, "ab") as f:  # the interruption cut the last line short
        f.write(b'{"case_id": "case004", "status": "ok", "wide": {"case_id": "case0')
    before = journal.read_bytes()
    with pytest.raises(VBQInputError, match="level_stat=mean, this run uses level_stat=median"):
        B.run_batch(cases, out, workers=0, resume=True, options=ScoreOptions(stat="median"))
    assert journal.read_bytes() == before and not (tmp_path / (journal.name + ".new")).exists()
    seen = _counting(monkeypatch)
    s = B.run_batch(cases, out, workers=0, resume=True)
    assert seen == [c.case_id for c in cases[4:]] and s.n_skipped == 4
    assert out.read_bytes() == reference_run[0]
    assert B.long_path_for(out).read_bytes() == reference_run[1]
    assert not journal.exists()
