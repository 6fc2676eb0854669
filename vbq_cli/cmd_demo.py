"""``vbq demo``: a synthetic study like Lu et al. 2024, measured and analysed end to end."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="run the whole pipeline on a synthetic cohort and write a report",
        description="Generate a synthetic OPLL/CSM cohort like Lu et al. 2024 (planted effects: lower C3 VBQ in "
        "OPLL, lower VBQ at C6/C7, no sex difference), build phantom MRIs for some patients and measure them "
        "with VBQScore, join the VBQ results with the clinical table, run the lu2024 analysis plan and write "
        "the report (OUT/report.html). Seeded: the same seed gives the same numbers.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; files replaced)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 2024)")
    p.add_argument("--n-patients", type=int, default=None, metavar="N", help="patients (default 425)")
    p.add_argument("--n-mri", type=int, default=None, metavar="K",
                   help="patients with a phantom MRI measured by VBQScore (default 16)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(func=run)
    from .oneline import one_line_errors

    one_line_errors(p)


def run(args) -> int:
    from pathlib import Path

    from VBQCohortLib import demo
    from VBQScoreLib.atomic import check_output_directory
    from VBQScoreLib.errors import VBQInputError
    from VBQScoreLib.progress import TqdmProgress

    out = Path(args.out)
    check_output_directory(out)
    seed = demo.DEFAULT_SEED if args.seed is None else args.seed
    n = demo.DEFAULT_N if args.n_patients is None else args.n_patients
    k = min(demo.DEFAULT_N_MRI, n) if args.n_mri is None else args.n_mri
    if n < 40:
        raise VBQInputError(f"--n-patients {n}: must be at least 40 (the demo matches and compares two groups)")
    if k < 0:
        raise VBQInputError(f"--n-mri {k}: must be 0 or more")
    if k > n:
        raise VBQInputError(f"--n-mri {k}: more phantom MRIs than patients (--n-patients {n})")
    bar = None if args.quiet else TqdmProgress(desc="vbq demo", unit="step")
    try:
        res = demo.run_demo(out, seed=seed, n_patients=n, n_mri=k, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        from .cohort_analyze import print_summary

        r = res["results"]
        agree = r["demo"]["phantom_agreement"]
        print(f"Synthetic cohort: {n} patients (seed {seed}); {k} phantom MRIs measured by VBQScore"
              + (f" (max |measured - planned VBQ| = {agree['max_abs_diff']:.3f})" if agree["n"] else "") + ".")
        print_summary(r, {"report": out / "report.html", "results": out / "results.json"})
        ba = (r.get("agreement") or {}).get("bland_altman", {}).get("R1 vs R2")
        if ba:
            planted = r["demo"]["reliability"]["planted_bias"]["R1 vs R2"]
            print(f"Reliability substudy (planted R1 - R2 bias {planted:+.2f}"
                  f"): bias {ba['bias']:+.3f} (95% CI {ba['bias_ci_low']:+.3f} to {ba['bias_ci_high']:+.3f}); "
                  f"{out / 'agreement' / 'report.html'}")
    return 0
