"""``vbq intake`` (issue 19): studies generated with pydicom in every layout, each pick read back through the
image reader of ``vbq score``; the choice rules one by one; bad input; the manifest fed to batch and web."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from VBQScoreLib.dicom import synthetic as S
from VBQScoreLib.dicom.index import Series, scan_folder
from VBQScoreLib.dicom.select import Rules, choose, plane_of, rules_from_dict

from vbq_cli.main import main

# the columns of issue 19, in its order
ISSUE_COLUMNS = ["case_id", "status", "image", "study_uid", "series_uid", "series_number", "series_description",
                 "study_date", "plane", "weighting", "contrast", "fat_sat", "field_strength", "tr_ms", "te_ms",
                 "pixel_bandwidth", "manufacturer", "model", "slice_thickness", "n_slices", "reason",
                 "candidates"]


def _without(series, number):
    return [s for s in series if s.number != number]


def _studies():
    """(study, layout, folder below the root, expected status, expected series number or None)."""
    out = []
    out.append((S.spine_study("SIEM01", "siemens"), "nested", "", "ok", 2))
    # two studies of two vendors mixed in one flat folder of UID-named files
    out.append((S.spine_study("GE01", "ge"), "flat", "flat", "ok", 2))
    out.append((S.spine_study("PHIL01", "philips"), "flat", "flat", "ok", 2))
    out.append((S.spine_study("SAG01", "sag_only"), "by_series_uid", "byuid", "ok", 2))
    out.append((S.spine_study("DD01", "siemens", study_date="20230301"), "dicomdir", "dd", "ok", 2))
    # no T1 at all
    out.append((S.StudySpec("NOT1", _without(S.vendor_series("siemens"), 2)), "nested", "", "no_series", None))
    # only a post-contrast fat-saturated T1 (agent in the header; the description does not say "post")
    post = _without(S.vendor_series("siemens"), 2) + [
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


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("export") / "pacs"
    specs = _studies()
    for st, layout, sub, _, _ in specs:
        S.write_study(st, root / sub if sub else root, layout)
    junk = S.write_junk(root / "junk")
    (root / "SIEM01" / "notes.pdf").write_bytes(b"%PDF-1.4 not an image")
    return root, specs, junk


def _snapshot(root: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _rows(path) -> list:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def run(tree, tmp_path_factory):
    root, specs, junk = tree
    out_dir = tmp_path_factory.mktemp("out")
    before = _snapshot(root)
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["intake", str(root), "--out", str(out_dir / "manifest.csv"), "--no-progress"])
    assert _snapshot(root) == before, "the source tree was written to"
    return code, out_dir / "manifest.csv", err.getvalue()


def _case_id(st, specs):
    same = [s for s, *_ in specs if s.patient_id == st.patient_id]
    return st.patient_id if len(same) == 1 else f"{st.patient_id}_{st.study_date}"


def test_manifest_has_exactly_the_issue_columns_one_row_per_study(run, tree):
    code, manifest, _ = run
    with open(manifest, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header == ISSUE_COLUMNS
    rows = _rows(manifest)
    specs = tree[1]
    assert len(rows) == len(specs)
    assert sorted(r["study_uid"] for r in rows) == sorted(st.uid for st, *_ in specs)
    assert code == 1  # some studies need a look (no_series, ambiguous) and one file is unreadable


def test_each_pick_read_back_through_the_score_image_reader(run, tree):
    """The chosen series, read by ``vbq score``'s reader from ``image``: exactly its files, its voxels."""
    from VBQScoreLib.input.images import read_image

    _, manifest, _ = run
    rows = {r["study_uid"]: r for r in _rows(manifest)}
    specs = tree[1]
    for st, layout, _, status, number in specs:
        r = rows[st.uid]
        assert r["case_id"] == _case_id(st, specs), (st.patient_id, r["case_id"])
        assert r["status"] == status, (st.patient_id, layout, r["reason"])
        if number is None:
            assert r["image"] == "" and r["series_uid"] == ""
            continue
        se = next(s for s in st.series if s.number == number)
        assert int(r["series_number"]) == number and r["series_uid"] == se.uid
        assert r["plane"] == "sagittal" and r["weighting"] == "T1" and r["contrast"] == "no"
        assert r["fat_sat"] == "no" and int(r["n_slices"]) == se.n_slices
        assert float(r["tr_ms"]) == se.tr and float(r["te_ms"]) == se.te
        assert float(r["field_strength"]) == st.field_strength and r["manufacturer"] == st.manufacturer
        # flat folders (several series) get FOLDER#series=UID; one-series folders the folder itself
        assert ("#series=" in r["image"]) == (layout == "flat"), r["image"]
        img = read_image(r["image"])
        assert len(img.files) == se.n_slices
        arr = np.asarray(__import__("SimpleITK").GetArrayFromImage(img.image))
        assert arr.shape == (se.n_slices, 32, 32)
        assert sorted({int(v) for v in arr.ravel()}) == [100 * number + k for k in range(se.n_slices)]
        assert img.dicom["series_instance_uid"] == se.uid


def test_reasons_and_candidates(run, tree):
    _, manifest, _ = run
    rows = {r["case_id"]: r for r in _rows(manifest)}
    no_t1 = rows["NOT1"]["reason"]
    assert "T2" in no_t1 and "STIR" in no_t1 and "axial" in no_t1 and "localizer" in no_t1
    post = rows["POSTFS"]["reason"]
    assert "#6 t1_tse_fs_sag: contrast (ContrastBolusAgent), fat-saturated" in post
    rep = rows["REPEAT"]
    assert rep["reason"].startswith("2 candidates; chose #7 t1_tse_sag by later series number (a repeat)")
    assert "#2 t1_tse_sag: candidate" in rep["candidates"]
    assert "#3 t2_tse_sag: T2" in rep["candidates"]
    pp = rows["PREPOST"]
    assert "#8 Sag T1 FSE: contrast (ContrastBolusAgent)" in pp["candidates"]
    assert "the only candidate" in pp["reason"]
    assert "#9 T1W_TSE_SAG +C: contrast (description)" in rows["DESCC"]["candidates"]
    # the GE localizer is a three-plane series; the SAG-only site's localizer has no LOCALIZER ImageType
    assert "#1 SCOUT: localizer (mixed orientations)" in rows["SAG01"]["candidates"]


def test_junk_skipped_and_counted_unreadable_listed_no_patient_names(run, tree):
    code, manifest, err = run
    root, specs, junk = tree
    assert f"{junk['not_dicom'] + 1} not DICOM (skipped)" in err  # + notes.pdf
    assert "1 DICOMDIR" in err and "1 unreadable" in err
    listed = _rows(manifest.with_name("manifest_unreadable.csv"))
    assert [r["path"] for r in listed] == junk["unreadable"]
    text = manifest.read_text(encoding="utf-8") + err
    for secret in ("Doe", "Jane", "19500101"):
        assert secret not in text


def test_out_inside_source_no_dicom_and_bad_rules_exit_2(tree, tmp_path, capsys):
    root = tree[0]
    before = _snapshot(root)
    assert main(["intake", str(root), "--out", str(root / "manifest.csv")]) == 2
    e = capsys.readouterr().err.strip()
    assert e.count("\n") == 0 and "inside SOURCE" in e
    assert main(["intake", str(root), "--out", str(tmp_path / "m.csv"), "--cache", str(root / "c")]) == 2
    assert "inside SOURCE" in capsys.readouterr().err
    assert _snapshot(root) == before
    empty = tmp_path / "nodicom"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    assert main(["intake", str(empty), "--out", str(tmp_path / "m.csv")]) == 2
    e = capsys.readouterr().err.strip()
    assert e.count("\n") == 0 and "no DICOM image found" in e
    assert not (tmp_path / "m.csv").exists()
    bad = tmp_path / "rules.yaml"
    bad.write_text("min_slice: 3\n")
    assert main(["intake", str(root), "--out", str(tmp_path / "m.csv"), "--rules", str(bad)]) == 2
    assert "unknown rule 'min_slice'" in capsys.readouterr().err
    assert main(["intake", str(tmp_path / "missing"), "--out", str(tmp_path / "m.csv")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["intake", str(root), "--out", str(tmp_path / "m.csv"), "--series-description", "t1(["]) == 2


def test_rules_file_and_series_description_override(tree, tmp_path):
    root = tree[0]
    rules = tmp_path / "rules.json"
    rules.write_text('{"exclude_contrast": false, "exclude_fat_sat": "no"}')
    out = tmp_path / "m.csv"
    assert main(["intake", str(root), "--out", str(out), "--rules", str(rules), "--no-progress"]) == 1
    rows = {r["case_id"]: r for r in _rows(out)}
    assert rows["POSTFS"]["status"] == "ok" and rows["POSTFS"]["series_number"] == "6"
    assert rows["POSTFS"]["contrast"] == "yes" and rows["POSTFS"]["fat_sat"] == "yes"
    assert rows["PREPOST"]["status"] == "ambiguous"  # pre and post now both candidates
    # a preset outside the lu2024 family keeps fat-saturated series (recorded in fat_sat)
    out2 = tmp_path / "m2.csv"
    main(["intake", str(root), "--out", str(out2), "--preset", "ehresman2020", "--no-progress"])
    assert "fat-saturated" not in {r["case_id"]: r for r in _rows(out2)}["POSTFS"]["reason"]
    # --series-description: only the matching series are candidates
    out3 = tmp_path / "m3.csv"
    main(["intake", str(root), "--out", str(out3), "--series-description", "^t1_tse_sag$", "--no-progress"])
    rows = {r["case_id"]: r for r in _rows(out3)}
    assert rows["SIEM01"]["status"] == "ok" and rows["GE01"]["status"] == "no_series"
    assert "does not match --series-description" in rows["GE01"]["reason"]


def test_case_id_choices_and_pseudonyms(tree, tmp_path):
    root, specs, _ = tree
    out = tmp_path / "m.csv"
    main(["intake", str(root), "--out", str(out), "--case-id", "study", "--no-progress"])
    assert sorted(r["case_id"] for r in _rows(out)) == sorted(st.uid for st, *_ in specs)
    key = tmp_path / "key.csv"
    main(["intake", str(root), "--out", str(out), "--pseudonymize", str(key), "--no-progress"])
    rows = _rows(out)
    link = {r["case_id"]: r["pseudonym"] for r in _rows(key)}
    assert sorted(r["case_id"] for r in rows) == sorted(link.values())
    assert all(c.startswith("VBQ") for c in link.values())
    assert set(link) == {_case_id(st, specs) for st, *_ in specs}
    assert not {r["case_id"] for r in rows} & set(link)  # (image paths still name the export's folders)
    first = {r["study_uid"]: r["case_id"] for r in rows}
    main(["intake", str(root), "--out", str(out), "--pseudonymize", str(key), "--no-progress"])
    assert {r["study_uid"]: r["case_id"] for r in _rows(out)} == first  # the key keeps each pseudonym


def test_cache_gives_the_same_manifest_and_rereads_changed_files(tree, tmp_path, capsys):
    root = tree[0]
    src = tmp_path / "copy"
    shutil.copytree(root, src)
    cache = tmp_path / "cache"
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    main(["intake", str(src), "--out", str(a), "--cache", str(cache), "--no-progress"])
    capsys.readouterr()
    main(["intake", str(src), "--out", str(b), "--cache", str(cache), "--no-progress"])
    err = capsys.readouterr().err
    n = sum(1 for p in src.rglob("*") if p.is_file())
    assert f"{n} file(s), {n} from the cache" in err
    assert a.read_text().replace(str(a), "") == b.read_text().replace(str(b), "")
    # a changed file is read again: remove the T1 of SIEM01 -> its study has no T1 any more
    t1 = next(src.glob("SIEM01/*/002_*"))
    shutil.rmtree(t1)
    main(["intake", str(src), "--out", str(b), "--cache", str(cache), "--no-progress"])
    assert {r["case_id"]: r["status"] for r in _rows(b)}["SIEM01"] == "no_series"


# ------------------------------------------------------------------------------------------- rules, one by one

def _series(**kw):
    st = S.StudySpec("X", [S.SeriesSpec(**kw)])
    recs = []
    for se, k, ds in S.datasets(st):
        from VBQScoreLib.dicom.index import _record

        recs.append(_record(ds))
    s = Series(st.uid, st.series[0].uid, records=recs)
    return s


def test_plane_from_orientation():
    assert plane_of(S.SAG) == "sagittal" and plane_of(S.AX) == "axial" and plane_of(S.COR) == "coronal"
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))  # sagittal tilted 30 degrees: still sagittal
    assert plane_of((0.0, c, s, 0.0, -s, -c)) == "sagittal" or plane_of((0.0, c, s, 0.0, s, -c)) == "sagittal"
    assert plane_of(None) == "" and plane_of((1, 0, 0, 1, 0, 0)) == ""


@pytest.mark.parametrize("kw, weighting", [
    (dict(number=2, description="x", tr=550.0, te=11.0), "T1"),
    (dict(number=2, description="x", tr=3000.0, te=100.0), "T2"),
    (dict(number=2, description="x", tr=900.0, te=80.0), "T2"),  # long TE out even with a short TR
    (dict(number=2, description="x", tr=3000.0, te=12.0), "PD"),
    (dict(number=2, description="x", tr=4000.0, te=40.0, ti=160.0, sequence="SE\\IR"), "STIR"),
    (dict(number=2, description="T1 FLAIR", tr=2000.0, te=9.0, ti=860.0, sequence="SE\\IR"), "IR"),
    (dict(number=2, description="x", tr=8.0, te=4.0, sequence="GR"), "GRE"),
    (dict(number=2, description="Sag T1", tr=None, te=None), "T1"),  # no timing: the description
])
def test_weighting(kw, weighting):
    from VBQScoreLib.dicom.select import assess

    a = assess(_series(**kw), Rules())
    assert a.weighting == weighting
    assert (not a.out) == (weighting == "T1")
    if kw["tr"] is None:
        assert a.weighting_source == "description"


@pytest.mark.parametrize("desc, agent, contrast", [
    ("t1_tse_sag", "", "no"), ("t1_tse_sag", "NONE", "no"), ("t1_tse_sag", "Gadovist", "yes"),
    ("T1 SAG POST", "", "yes"), ("Sag T1 +C", "", "yes"), ("t1 sag gd", "", "yes"),
    ("T1 sag pre contrast", "", "no"), ("T1 non-contrast", "", "no"), ("T1 posterior fossa", "", "no")])
def test_contrast_from_agent_then_description(desc, agent, contrast):
    from VBQScoreLib.dicom.select import assess

    assert assess(_series(number=2, description=desc, agent=agent), Rules()).contrast == contrast


def test_localizers_and_fat_sat_and_tie_break():
    from VBQScoreLib.dicom.select import assess

    assert "localizer (3 slice(s) < 5)" in assess(_series(number=1, description="t1", n_slices=3), Rules()).out
    fs = assess(_series(number=2, description="t1_tse_sag", options="SAT_GEMS\\FS"), Rules())
    assert fs.fat_sat == "yes" and any("fat-saturated" in o for o in fs.out)
    assert not assess(_series(number=2, description="t1", options="FS"), Rules(), "ehresman2020").out
    assert assess(_series(number=2, description="T1 SPAIR"), Rules(), "soliman2023").fat_sat == "yes"
    # tie-break: larger coverage first, then the later series number
    a, b = _series(number=3, description="t1", n_slices=12), _series(number=9, description="t1", n_slices=8)
    ch = choose([a, b])
    assert ch.status == "ambiguous" and ch.chosen.number == 3 and "by larger coverage" in ch.reason
    ch = choose([_series(number=3, description="t1"), _series(number=9, description="t1")])
    assert ch.chosen.number == 9 and "later series number" in ch.reason
    # the description only breaks a tie: a T1 named "SAG" beats nothing, but "t1 sag" beats "SAG" at equal coverage
    ch = choose([_series(number=3, description="t1_tse_sag"), _series(number=9, description="SAG")])
    assert ch.chosen.number == 3 and "description names T1 and sagittal" in ch.reason


def test_rules_validation():
    from VBQScoreLib.errors import VBQInputError

    assert rules_from_dict({"min_slices": 3, "plane": "axial"}).min_slices == 3
    for bad in ({"plane": "oblique"}, {"min_slices": "three"}, {"exclude_contrast": "yes"}, {"foo": 1},
                {"contrast_words": "(("}):
        with pytest.raises(VBQInputError):
            rules_from_dict(bad)


def test_scan_without_gdcm_gives_the_same_records(tree, monkeypatch):
    """The pydicom path (no python-gdcm installed) reads the same values as GDCM's scanner."""
    import builtins

    root = tree[0]
    with_gdcm = scan_folder(root, workers=0)
    real_import = builtins.__import__

    def no_gdcm(name, *a, **k):
        if name == "gdcm":
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_gdcm)
    without = scan_folder(root, workers=0)
    assert with_gdcm.n_dicom == without.n_dicom and with_gdcm.not_dicom == without.not_dicom
    for uid, st in with_gdcm.studies.items():
        for suid, se in st.series.items():
            other = without.studies[uid].series[suid]
            assert sorted(map(repr, se.records)) == sorted(map(repr, other.records))
    # and in parallel processes
    par = scan_folder(root, workers=2, chunk=10)
    assert par.n_dicom == with_gdcm.n_dicom and set(par.studies) == set(with_gdcm.studies)


# ------------------------------------------------------------------------------- the manifest in batch and web

@pytest.fixture(scope="module")
def phantom_export(tmp_path_factory):
    """A phantom T1 and a T2 decoy (another phantom) as two DICOM series mixed in one flat folder, and a
    study with no T1."""
    from VBQScoreLib.phantom import make_phantom, write_dicom_series, write_phantom

    base = tmp_path_factory.mktemp("phx")
    root = base / "export"
    flat = root / "flat"
    flat.mkdir(parents=True)
    ph = make_phantom(seed=3, shape=(9, 128, 128), spacing=(2.5, 1.6, 1.6))
    decoy = make_phantom(seed=4, shape=(9, 128, 128), spacing=(2.5, 1.6, 1.6), csf_si=900.0)
    seg = write_phantom(ph, base / "seg", formats=("seg.nrrd",))
    study = {"0020|000d": "1.2.826.0.1.3680043.2.1125.1.1", "0010|0020": "PH1"}
    for name, img, tags in (("t1", ph.image, {"SeriesNumber": "2", "SeriesDescription": "SAG"}),
                            ("t2", decoy.image, {"SeriesNumber": "3", "SeriesDescription": "SAG",
                                                 "RepetitionTime": "3000", "EchoTime": "100"})):
        for p in write_dicom_series(img, base / name, tags={**study, **tags}):
            shutil.move(str(p), flat / f"{name}_{Path(p).name}")
    write_dicom_series(decoy.image, root / "other", tags={
        "0020|000d": "1.2.826.0.1.3680043.2.1125.1.2", "0010|0020": "PH2", "RepetitionTime": "3000",
        "EchoTime": "100"})
    return root, ph, seg


def test_batch_takes_the_manifest_with_a_segmentation_column(phantom_export, tmp_path, capsys):
    root, ph, seg = phantom_export
    manifest = tmp_path / "manifest.csv"
    assert main(["intake", str(root), "--out", str(manifest), "--no-progress"]) == 1
    rows = _rows(manifest)
    assert [(r["case_id"], r["status"]) for r in rows] == [("PH1", "ok"), ("PH2", "no_series")]
    assert rows[0]["image"] == f"{root / 'flat'}#series={rows[0]['series_uid']}"
    # the coordinator adds a segmentation column (here with pandas, as a spreadsheet would keep the rest)
    import pandas as pd

    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    df["segmentation"] = [str(seg["seg_nrrd"]), ""]
    df.to_csv(manifest, index=False)
    out = tmp_path / "results.csv"
    capsys.readouterr()
    assert main(["batch", str(manifest), "--out", str(out), "--workers", "0", "--no-progress"]) == 0
    assert "vbq batch: PH2: status no_series, skipped (line 3)" in capsys.readouterr().err
    res = _rows(out)
    assert [r["case_id"] for r in res] == ["PH1"]
    assert float(res[0]["VBQ_overall"]) == pytest.approx(ph.truth["overall_vbq"]["lu2024"], rel=1e-9)
    # the acquisition columns come along for the cohort analysis (covariates)
    assert float(res[0]["repetition_time"]) == 500.0 and float(res[0]["magnetic_field_strength"]) == 1.5
    from VBQCohortLib.reading.join import join_vbq

    clinical = pd.DataFrame({"case_id": ["PH1", "PH9"], "age": [61, 70]})
    joined, info = join_vbq(clinical, out, id_col="case_id")
    assert joined.loc[0, "magnetic_field_strength"] == 1.5 and joined.loc[0, "echo_time"] == 10.0
    assert joined.loc[0, "manufacturer"] == "SlicerVBQ phantom" and pd.isna(joined.loc[1, "repetition_time"])
    assert joined.loc[0, "VBQ_overall"] == pytest.approx(ph.truth["overall_vbq"]["lu2024"], rel=1e-9)
    assert "magnetic_field_strength" not in info["vbq_columns"]


def test_web_worklist_and_score_take_the_manifest(phantom_export, tmp_path, capsys):
    from vbq_web.worklist import Worklist

    root, ph, seg = phantom_export
    manifest = tmp_path / "manifest.csv"
    main(["intake", str(root), "--out", str(manifest), "--no-progress"])
    wl = Worklist(manifest, "R1", tmp_path / "readings")
    assert [c.case_id for c in wl.cases] == ["PH1"] and wl.skipped == ["PH2: status no_series, skipped (line 3)"]
    image = _rows(manifest)[0]["image"]
    out = tmp_path / "r.json"
    assert main(["score", image, str(seg["seg_nrrd"]), "--json", str(out)]) == 0
    import json

    assert json.loads(out.read_text())["overall"]["vbq"] == pytest.approx(ph.truth["overall_vbq"]["lu2024"], rel=1e-9)
    # a manifest whose rows are all not ok: one line
    only_bad = tmp_path / "bad.csv"
    only_bad.write_text("case_id,status,image,segmentation\nA,ambiguous,x,y\n")
    assert main(["batch", str(only_bad), "--out", str(tmp_path / "o.csv")]) == 2
    assert "no row has status ok" in capsys.readouterr().err


def test_reference_to_a_missing_series_is_one_line(phantom_export, tmp_path, capsys):
    root = phantom_export[0]
    assert main(["score", f"{root / 'flat'}#series=1.2.3.4", str(tmp_path / "x.seg.nrrd")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "1.2.3.4 not found" in err


def test_find_vbq_series_over_a_dicom_database(tree):
    """Slicer's "Find VBQ series": the same choices over a DICOM database (here a stand-in with the four listing
    methods of ctkDICOMDatabase, over the files of the export)."""
    from VBQScoreLib.dicom.database import find_vbq_series, summary_text

    root, specs, _ = tree
    scan = scan_folder(root, workers=0)

    class Db:
        def patients(self):
            return sorted({st.patient_id for st in scan.studies.values()})

        def studiesForPatient(self, p):
            return [u for u, st in scan.studies.items() if st.patient_id == p]

        def seriesForStudy(self, s):
            return list(scan.studies[s].series)

        def filesForSeries(self, se):
            return next(st.series[se].files for st in scan.studies.values() if se in st.series)

    results = {st.study_uid: ch for st, ch in find_vbq_series(Db())}
    for st, _, _, status, number in specs:
        ch = results[st.uid]
        assert ch.status == status and (ch.chosen.number if ch.chosen else None) == number
    text = summary_text(find_vbq_series(Db()))
    assert "REPEAT 20240105: ambiguous #7 t1_tse_sag" in text and "Doe" not in text


def test_file_without_preamble_and_damaged_values(tmp_path):
    """Old exports write DICOM without the 128-byte preamble and 'DICM': still DICOM, by GDCM and by pydicom."""
    from VBQScoreLib.dicom.index import DICOM, NOT_DICOM, read_headers, read_header

    st = S.spine_study("RAW", "siemens")
    paths = []
    for se, k, ds in S.datasets(st):
        if se.number == 2:
            p = tmp_path / f"raw{k}"
            ds.preamble = None
            ds.save_as(p, enforce_file_format=False)
            assert p.read_bytes()[128:132] != b"DICM"
            paths.append(str(p))
    (tmp_path / "text").write_text("\x08\x00 looks like a group 8 start, is text")
    for kind, rec in [read_header(p) for p in paths] + read_headers(paths):
        assert kind == DICOM and rec[1] == st.series[1].uid
    assert read_header(str(tmp_path / "text"))[0] in (NOT_DICOM, "unreadable")
    ch = choose(list(scan_folder(tmp_path, workers=0).studies[st.uid].series.values()))
    assert ch.status == "ok" and ch.chosen.number == 2


def test_agreement_takes_the_image_reference(phantom_export, tmp_path):
    """``vbq agreement --image FOLDER#series=UID``: the overlap of two readers on the series of the reference."""
    root, ph, seg = phantom_export
    manifest = tmp_path / "manifest.csv"
    main(["intake", str(root), "--out", str(manifest), "--no-progress"])
    image = _rows(manifest)[0]["image"]
    assert "#series=" in image
    out = tmp_path / "agr"
    s = str(seg["seg_nrrd"])
    assert main(["agreement", "--image", image, "--segmentations", f"R1={s}", "--segmentations", f"R2={s}",
                 "--out", str(out), "--quiet"]) == 0
    import json

    overlap = json.loads((out / "agreement.json").read_text())["overlap"]
    for level in ("C2", "C5", "C7"):  # on the grid of the series read from the reference: the phantom's own
        assert overlap[level]["dice"] == 1.0
        assert overlap[level]["n_voxels_a"] == ph.truth["roi_stats"][level]["n_voxels"]
