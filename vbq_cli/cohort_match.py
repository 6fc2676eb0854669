"""``vbq cohort match``: propensity-score matching of a clinical spreadsheet (R MatchIt semantics)."""

from __future__ import annotations

import argparse
import sys


def _csv_list(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of column names")
    return items


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {v}")
    return v


def _nonneg_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text}")
    return v


def register(csub) -> None:
    p = csub.add_parser(
        "match", help="propensity-score matching (R MatchIt nearest-neighbour semantics)",
        description="Estimate propensity scores by logistic regression and match treated to control subjects "
                    "(greedy nearest neighbour like R MatchIt, or optimal pair matching); print sample sizes "
                    "and covariate balance.")
    p.add_argument("data", metavar="DATA", help="CSV, TSV or XLSX spreadsheet, one row per subject")
    p.add_argument("--id", required=True, metavar="COL", help="subject id column")
    p.add_argument("--group", required=True, metavar="COL", help="group column")
    p.add_argument("--treated", required=True, metavar="VALUE", help="value of --group that marks treated subjects")
    p.add_argument("--covariates", required=True, type=_csv_list, metavar="A,B,...",
                   help="propensity-score covariates (text columns are dummy-coded)")
    p.add_argument("--categorical", type=_csv_list, default=None, metavar="A,B",
                   help="covariates to treat as categorical even if numeric")
    p.add_argument("--sheet", default=None, help="worksheet name for XLSX input")
    p.add_argument("--distance", choices=("ps", "logit"), default="ps",
                   help="match on the propensity score or its logit (default ps)")
    p.add_argument("--ratio", type=_positive_int, default=1, metavar="K", help="controls per treated (default 1)")
    p.add_argument("--caliper", type=_nonneg_float, default=None, metavar="X",
                   help="caliper in SDs of the distance (Austin: 0.2 with --distance logit)")
    p.add_argument("--raw-caliper", action="store_true", help="--caliper is in distance units, not SDs")
    p.add_argument("--replace", action="store_true", help="match with replacement")
    p.add_argument("--exact", type=_csv_list, default=None, metavar="A,B", help="match exactly on these columns")
    p.add_argument("--order", choices=("largest", "smallest", "random", "data"), default="largest",
                   help="order in which treated subjects are matched (default largest distance first)")
    p.add_argument("--seed", type=int, default=None, help="seed for --order random")
    p.add_argument("--method", choices=("nearest", "optimal"), default="nearest")
    p.add_argument("--discard", choices=("none", "both", "control", "treated"), default="none",
                   help="drop subjects outside the common support of the distance (default none)")
    p.add_argument("--compat", choices=("matchit-4.5.1",), default=None,
                   help="reproduce R MatchIt 4.5.1 bug for bug (integer abs in caliper/tie checks, #163; "
                        "duplicate controls with --replace --ratio>1, #159)")
    p.add_argument("--out", default=None, metavar="matched.csv",
                   help="write the matched rows with distance, weights, subclass")
    p.add_argument("--json", default=None, metavar="OUT", help="write ps, pairs, n_matched, balance as JSON")
    p.add_argument("--love-plot", default=None, metavar="PNG", help="write a love plot (png/svg/pdf)")
    p.add_argument("--table1", default=None, metavar="FILE.csv",
                   help="write Table 1 (baseline characteristics before and after matching, with p-values and "
                        "SMDs; the covariates)")
    p.add_argument("--dictionary", default=None, metavar="FILE",
                   help="data dictionary for Table 1's labels (CSV/XLSX variable,label,unit,levels, or REDCap's)")
    p.set_defaults(func=run, command="cohort match")  # main.py prints "vbq <command>: error: ..."
    from .oneline import one_line_errors

    one_line_errors(p)


def read_data(path: str, sheet: str | None = None, warnings: list | None = None, needed=None):
    """DATA as :func:`VBQCohortLib.reading.spreadsheet.read_table` reads it (index: spreadsheet row numbers);
    reading warnings (Excel error cells, decimal commas, encoding, first of several sheets) are appended to
    ``warnings`` when given. ``needed``: the columns the command uses (a very wide table is read with those only)."""
    from VBQCohortLib.reading.spreadsheet import read_table

    df, read_warnings = read_table(path, sheet=sheet, needed=needed)
    if warnings is not None:
        warnings.extend(read_warnings)
    return df


def run(args) -> int:
    """Matching allocates millions of small objects that all live until the end (ids, pairs, per-subject
    scores); Python's cyclic garbage collector re-scans them again and again (a third of the run time at
    100,000 subjects, more at 1,000,000), so it is paused for the command and runs once when it ends."""
    import gc

    paused = gc.isenabled()
    gc.disable()
    try:
        return _run(args)
    finally:
        if paused:
            gc.enable()


def _run(args) -> int:
    import warnings

    import numpy as np
    import pandas as pd

    from VBQCohortLib.matching.checks import check_match_input
    from VBQCohortLib.matching.nearest import match
    from VBQScoreLib import json_text
    from VBQScoreLib.atomic import atomic_write, write_text_atomic
    from VBQScoreLib.csv_safe import safe_frame
    from VBQScoreLib.errors import VBQInputError

    read_warnings: list[str] = []
    needed = [args.id, args.group, *args.covariates, *(args.exact or []), *(args.categorical or [])]
    df = read_data(args.data, args.sheet, read_warnings, needed=needed)
    source = args.data
    treated, notes = check_match_input(df, id=args.id, group=args.group, treated=args.treated,
                                       covariates=args.covariates, exact=args.exact, categorical=args.categorical,
                                       source=source)
    _check_outputs(args)
    idc = df[args.id]
    if pd.api.types.is_float_dtype(idc.dtype) and idc.notna().all() and (idc == np.round(idc)).all():
        df = df.assign(**{args.id: idc.astype("int64")})  # numeric ids read as floats: 7.0 -> 7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # surfaced through res.warnings below
        try:
            res = match(df, args.group, args.covariates, id=args.id, distance=args.distance, ratio=args.ratio,
                        caliper=args.caliper, std_caliper=not args.raw_caliper, replace=args.replace,
                        exact=args.exact, order=args.order, seed=args.seed, method=args.method,
                        categorical=args.categorical, discard=args.discard, treated_value=treated,
                        compat=args.compat, source=source)
        except VBQInputError as exc:
            msg = str(exc)
            msg = msg if msg.startswith(f"{source}:") else f"{source}: {msg}"
            excel = [w for w in read_warnings if "Excel error cells" in w]
            if excel and "missing" in msg:
                msg += f" (note: {excel[0]})"
            raise VBQInputError(msg) from None

    # compute every output before writing any
    outputs = []
    if args.out:
        outputs.append(("csv", args.out, res.matched_data()))
    if args.json:
        d = res.to_dict()
        d["input"] = {"data": str(args.data), "id": args.id, "group": args.group, "treated": args.treated}
        d["warnings"] = read_warnings + notes + d["warnings"]  # reading and value-matching notes first
        outputs.append(("json", args.json, json_text.dumps(d, indent=1)))  # = json.dumps(d, indent=1, allow_nan=False)
    for kind, path, obj in outputs:
        if kind == "csv":
            with atomic_write(path, "w", newline="") as f:
                safe_frame(obj).to_csv(f, index=False)
        else:
            write_text_atomic(path, obj + "\n")
    if args.table1:
        write_text_atomic(args.table1, _table1_csv(df, res, args))
    if args.love_plot:
        from VBQCohortLib.matching.balance import love_plot

        love_plot(res.balance_before, res.balance_after, args.love_plot)

    print(_summary(res))
    for w in read_warnings + notes:
        print(f"vbq cohort match: warning: {w}", file=sys.stderr)
    return 0


def _table1_csv(df, res, args) -> str:
    """Table 1 of the covariates before and after matching (side by side) as CSV text, formula-like text
    neutralised."""
    from VBQCohortLib.publication.table1 import frame, table1
    from VBQCohortLib.publication.variables import Variables, read_dictionary
    from VBQScoreLib.csv_safe import safe_frame

    v = read_dictionary(args.dictionary) if args.dictionary else Variables()
    data = res.data
    t = res.treat.to_numpy()
    cat = args.categorical or []
    before = table1(data, t, args.covariates, categorical=cat, labels=v)
    after = table1(data, t, args.covariates, categorical=cat, labels=v, weights=res.weights.to_numpy(),
                   weighted=bool(args.replace) or args.ratio > 1)
    names = (f"Treated ({args.group} = {args.treated})", "Control")
    return safe_frame(frame(before, after, names=names)).to_csv(index=False)


def _check_outputs(args) -> None:
    """--out/--json/--love-plot: not an input, not a folder, folder exists, not the same file twice."""
    from pathlib import Path

    from VBQScoreLib.errors import VBQInputError

    from .outputs import check_output_files

    check_output_files([("--out", args.out), ("--json", args.json), ("--love-plot", args.love_plot),
                        ("--table1", args.table1)],
                       [(args.data, "the input spreadsheet")])
    if args.love_plot and Path(args.love_plot).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise VBQInputError(f"--love-plot {args.love_plot}: give a .png, .svg or .pdf file name")


def _summary(res) -> str:
    import pandas as pd

    s = res.settings
    lines = [f"Propensity-score matching: {s['method']} on {s['distance']}, ratio {s['ratio']}"
             + (f", caliper {s['caliper']} {'SD' if s['std_caliper'] else 'units'}"
                f" (= {res.caliper:.6g} in distance units)" if res.caliper is not None else "")
             + (", with replacement" if s["replace"] else "")
             + (f", exact on {', '.join(s['exact'])}" if s["exact"] else "")
             + (f", order {s['order_used']}" if s["method"] == "nearest" else "")
             + (f", compat {s['compat']}" if s.get("compat") else ""),
             "", "Sample sizes:"]
    nn = res.sample_sizes.copy()
    lines.append(nn.to_string(float_format=lambda v: f"{v:g}"))
    lines += ["", "Balance (Std. Mean Diff. uses the treated SD of the unmatched sample):"]
    b = pd.DataFrame({"SMD before": res.balance_before["Std. Mean Diff."],
                      "SMD after": res.balance_after["Std. Mean Diff."],
                      "Var. ratio before": res.balance_before["Var. Ratio"],
                      "Var. ratio after": res.balance_after["Var. Ratio"]})
    lines.append(b.to_string(float_format=lambda v: f"{v:.3f}", na_rep="."))
    for w in res.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)
