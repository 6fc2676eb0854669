"""``vbq intake SOURCE --out manifest.csv``: find each study's non-contrast sagittal T1 series in a PACS export
folder (any layout) or on a DICOMweb server, record its acquisition, write a manifest for batch and web.

Exit status: 0 every study has one series (status ok); 1 manifest written, but some studies need a look
(ambiguous / no_series) or some files were unreadable; 2 bad input (no DICOM under SOURCE, unreachable
server, --out inside SOURCE, bad --rules...).
"""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
manifest.csv has one row per study: case_id, status (ok | no_series | ambiguous), image, study_uid, series_uid,
series_number, series_description, study_date, plane, weighting, contrast, fat_sat, field_strength, tr_ms,
te_ms, pixel_bandwidth, manufacturer, model, slice_thickness, n_slices, reason, candidates.
image is a folder, or FOLDER#series=UID for a folder holding several series; every vbq command reads it.
Add a segmentation column and run `vbq batch manifest.csv`, or `vbq web --worklist manifest.csv` as it is:
rows whose status is not ok are skipped with a message. Nothing under SOURCE is ever written.

examples:
  vbq intake /media/pacs_export --out manifest.csv
  vbq intake /media/pacs_export --out manifest.csv --cache ~/.cache/vbq-intake   # a re-run reads only changes
  vbq intake --dicomweb http://127.0.0.1:8042/dicom-web --cache dicom/ --out manifest.csv
  vbq intake export/ --out manifest.csv --case-id accession --pseudonymize key.csv
  vbq intake export/ --out manifest.csv --rules site_rules.yaml --series-description 't1.*sag'
"""


def register(sub) -> None:
    p = sub.add_parser(
        "intake",
        help="find each study's sagittal non-contrast T1 series (PACS export folder or DICOMweb) -> manifest.csv",
        description="Scan a folder of DICOM files (by header, in parallel) or search a DICOMweb server, choose "
        "each study's sagittal non-contrast T1 series from the acquisition (orientation, TR/TE, sequence, "
        "contrast agent, fat saturation), and write one manifest row per study.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="SOURCE", nargs="?", default=None,
                   help="folder of DICOM files (any layout, DICOMDIR or not); omit with --dicomweb")
    p.add_argument("--out", required=True, metavar="CSV", help="manifest to write (not inside SOURCE)")
    p.add_argument("--dicomweb", metavar="URL", default=None,
                   help="DICOMweb root of a PACS (QIDO-RS/WADO-RS), e.g. http://127.0.0.1:8042/dicom-web; "
                   "credentials from VBQ_DICOMWEB_USER/VBQ_DICOMWEB_PASSWORD or VBQ_DICOMWEB_TOKEN")
    p.add_argument("--query", metavar="KEY=VALUE", action="append", default=None,
                   help="with --dicomweb: a QIDO-RS study filter, repeatable (StudyDate=20200101-20231231, "
                   "ModalitiesInStudy=MR, AccessionNumber=A123...); default: every study on the server")
    p.add_argument("--cache", metavar="DIR", default=None,
                   help="with SOURCE: keep the header index here (a re-run reads only new or changed files); "
                   "with --dicomweb (required): where the chosen series are downloaded")
    p.add_argument("--case-id", choices=("patient", "accession", "study"), default="patient",
                   help="case_id from PatientID (default; PatientID_StudyDate for a patient with several "
                   "studies), AccessionNumber or StudyInstanceUID")
    p.add_argument("--rules", metavar="FILE", default=None, help="YAML/JSON file overriding choice rules "
                   "(see the README: plane, weighting, min_slices, t1_tr_ms_max, t1_te_ms_max, ...)")
    p.add_argument("--series-description", metavar="REGEX", default=None,
                   help="only series whose SeriesDescription or ProtocolName matches REGEX (case-insensitive)")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="the VBQ preset the series is for (default lu2024: fat-saturated series are excluded)")
    p.add_argument("--pseudonymize", metavar="KEYFILE", default=None,
                   help="write pseudonyms (VBQ0001...) as case_id and the link to KEYFILE (kept and extended "
                   "by later runs)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes reading headers (default: number of cores; 0 = this process)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    from .oneline import one_line_errors

    one_line_errors(p)


def run(args) -> int:
    import os

    from VBQScoreLib.dicom.intake import inside
    from VBQScoreLib.errors import VBQInputError

    from .outputs import check_output_files

    if bool(args.source) == bool(args.dicomweb):
        raise VBQInputError("give SOURCE (a folder) or --dicomweb URL, one of them")
    if args.workers is not None and args.workers < 0:
        raise VBQInputError(f"--workers {args.workers}: must be >= 0 (0 = in this process)")
    if args.dicomweb and not args.cache:
        raise VBQInputError("--dicomweb needs --cache DIR: the folder the chosen series are downloaded to")
    src = args.source
    if src is not None:
        if not os.path.exists(src):
            raise VBQInputError(f"{src}: not found")
        for flag, value in (("--out", args.out), ("--cache", args.cache), ("--pseudonymize", args.pseudonymize)):
            if value and inside(value, src if os.path.isdir(src) else os.path.dirname(os.path.abspath(src))):
                raise VBQInputError(f"{flag} {value}: is inside SOURCE {src}, which is never written to; choose "
                                    "another place")
    unread = _unreadable_path(args.out)
    outs = [("--out", args.out), ("--pseudonymize", args.pseudonymize), ("--out", unread)]
    check_output_files(outs, [(args.rules, f"the rules file {args.rules}")])
    query = {}
    if args.query and not args.dicomweb:
        raise VBQInputError("--query applies to --dicomweb")
    for q in args.query or []:
        k, eq, v = q.partition("=")
        if not eq or not k.strip() or not v.strip():
            raise VBQInputError(f"--query {q}: give KEY=VALUE, e.g. StudyDate=20200101-20231231")
        query[k.strip()] = v.strip()

    from VBQScoreLib.dicom.select import Rules, load_rules, rules_from_dict

    rules = load_rules(args.rules) if args.rules else Rules()
    if args.series_description:
        rules = rules_from_dict({"series_description": args.series_description}, "--series-description", rules)
    preset = "lu2024"
    if args.preset:
        from VBQScoreLib.measuring.presets import get_preset

        preset = get_preset(args.preset).name
    key = None
    if args.pseudonymize:
        from VBQScoreLib.dicom.manifest import read_key

        key = read_key(args.pseudonymize)

    if args.cache:
        if os.path.exists(args.cache) and not os.path.isdir(args.cache):
            raise VBQInputError(f"--cache {args.cache}: exists and is not a folder")
        try:
            os.makedirs(args.cache, exist_ok=True)
        except OSError as exc:
            raise VBQInputError(f"--cache {args.cache}: cannot create the folder ({exc.strerror or exc})") from None
        if not os.access(args.cache, os.W_OK):
            raise VBQInputError(f"--cache {args.cache}: folder is not writable")

    from VBQScoreLib.progress import TqdmProgress

    bar = None if args.no_progress else TqdmProgress(desc="vbq intake", unit="file", disable=None)
    try:
        if args.dicomweb:
            from VBQScoreLib.dicom.intake import intake_dicomweb

            res = intake_dicomweb(args.dicomweb, args.cache, rules=rules, preset=preset, case_id=args.case_id,
                                  progress=bar, query=query)
        else:
            from VBQScoreLib.dicom.intake import intake_folder

            res = intake_folder(src, rules=rules, preset=preset, case_id=args.case_id, workers=args.workers,
                                cache_dir=args.cache, progress=bar)
    finally:
        if bar is not None:
            bar.close()

    from VBQScoreLib.atomic import write_text_atomic
    from VBQScoreLib.dicom.manifest import key_text, manifest_text, pseudonymize

    rows = res.rows
    if key is not None:
        key = pseudonymize([r["case_id"] for r in rows], key)
        rows = [dict(r, case_id=key[r["case_id"]]) for r in rows]
    if key is not None:
        write_text_atomic(args.pseudonymize, key_text(key))
    write_text_atomic(args.out, manifest_text(rows))
    c = res.counts
    scan = res.scan
    if scan is not None:
        cached = f", {scan.n_from_cache} from the cache" if scan.n_from_cache else ""
        print(f"vbq intake: {scan.n_files} file(s){cached}: {scan.n_dicom} DICOM, {scan.not_dicom} not DICOM "
              f"(skipped)" + (f", {scan.dicomdir} DICOMDIR" if scan.dicomdir else "")
              + (f", {len(scan.unreadable)} unreadable" if scan.unreadable else ""), file=sys.stderr)
        if scan.unreadable:
            import csv
            import io

            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            from VBQScoreLib.csv_safe import safe_cell

            w.writerow(("path", "reason"))
            w.writerows([[safe_cell(str(c)) for c in row] for row in scan.unreadable])
            write_text_atomic(unread, buf.getvalue())
            for path, reason in scan.unreadable[:10]:
                print(f"vbq intake: unreadable: {path} ({reason})", file=sys.stderr)
            more = f" ({len(scan.unreadable) - 10} more)" if len(scan.unreadable) > 10 else ""
            print(f"vbq intake: unreadable files listed in {unread}{more}", file=sys.stderr)
    else:
        if res.downloaded:
            print(f"vbq intake: downloaded {res.downloaded} series into {args.cache}", file=sys.stderr)
        for uid, reason in res.failed:
            print(f"vbq intake: could not read {uid} from the server ({reason})", file=sys.stderr)
    print(f"vbq intake: {res.n_studies} stud{'y' if res.n_studies == 1 else 'ies'}: {c.get('ok', 0)} ok, "
          f"{c.get('ambiguous', 0)} ambiguous, {c.get('no_series', 0)} no_series; wrote {args.out}"
          + (f" and the pseudonym key {args.pseudonymize}" if key is not None else ""), file=sys.stderr)
    if c.get("ambiguous") or c.get("no_series") or (scan is not None and scan.unreadable) or res.failed:
        print("vbq intake: check the rows whose status is not ok (reason and candidates columns); set status to "
              "ok (and image) by hand where you agree", file=sys.stderr)
        return 1
    return 0


def _unreadable_path(out):
    from pathlib import Path

    o = Path(out)
    return o.with_name(f"{o.stem}_unreadable.csv")
