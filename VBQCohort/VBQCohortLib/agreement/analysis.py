"""Reader agreement of a VBQ reliability substudy: ``run_agreement`` -> the ``agreement.json`` dict.

Inter-reader agreement (ICC, all six forms, and Bland-Altman for every pair of readers) is computed in one
session (session ``1``, or the only one), per level and for the overall VBQ; intra-reader (test-retest)
agreement per reader between its sessions. Each analysis uses its complete cases and lists the cases it left
out (``missing``). Segmentation overlap (:mod:`VBQScoreLib.overlap`) is added under ``overlap`` when given.

``agreement.json`` layout (keys fixed by issue 10; more may be added):

- ``icc.inter.overall``, ``icc.inter.levels.<level>``, ``icc.intra.<reader>`` (and ``icc.intra_levels.<reader>.
  <level>``): lists of six rows ``type, icc, F, df1, df2, p, lower, upper, n_cases, n_raters`` (psych names; plus
  ``n_excluded, koo_li, koo_li_ci``); ``icc_mcgraw_wong`` the same analyses under McGraw & Wong's names;
- ``bland_altman."<A> vs <B>"``: ``bias, bias_ci_low, bias_ci_high, sd, loa_low, loa_high, n`` (+ CIs of the
  limits, proportional-bias regression); intra-reader pairs are named ``"R1 session 1 vs R1 session 2"``;
- ``overlap.<level>``: ``dice, jaccard, hd95_mm, hd_max_mm, volume_a_mm3, volume_b_mm3`` (+ more);
- ``design``, ``missing``, ``icc_forms`` (which form answers which question), ``summary``, ``warnings``.
"""

from __future__ import annotations

import datetime as _dt
from itertools import combinations

import numpy as np

from VBQScoreLib.progress import ProgressCallback, report

from .data import AgreementData, cases_in_session, slice_matrix, value_cube
from .stats import ICC_FORMS, KOO_LI_BANDS, bland_altman, icc, icc_mcgraw_wong

LEAD = "ICC2"          # inter-reader absolute agreement, single reader: ICC(2,1) = ICC(A,1)
MAX_LISTED = 200       # excluded cases listed per analysis in agreement.json (all of them in tables/excluded.csv)


def _excluded(m, res) -> dict:
    """Which cases an analysis left out and which of its columns were missing for each."""
    ex = []
    if res.n_excluded:
        sub = m[m.isna().any(axis=1)]
        for case, row in sub.iterrows():
            ex.append({"case": str(case), "missing": [str(c) for c, v in row.items() if np.isnan(v)]})
    return {"n_cases_used": res.n_cases, "n_excluded": res.n_excluded, "excluded": ex}


def _icc_block(m, *, alpha=0.05):
    res = icc(m.to_numpy(dtype=float), alpha=alpha, case_ids=m.index.to_numpy(), raters=[str(c) for c in m.columns])
    return res, res.to_rows(), icc_mcgraw_wong(res, alpha=alpha), _excluded(m, res)


def _ba(m, a, b, name, points: list, level: str | None = None):
    va, vb = m[a].to_numpy(dtype=float), m[b].to_numpy(dtype=float)
    r = bland_altman(va, vb, case_ids=m.index.to_numpy(), names=(str(name[0]), str(name[1])))
    if level is None:
        ok = ~(np.isnan(va) | np.isnan(vb))
        points.append({"comparison": f"{name[0]} vs {name[1]}", "case": m.index.to_numpy()[ok].astype(str),
                       "a": va[ok], "b": vb[ok]})
    return r.to_dict()


def run_agreement(data: AgreementData | None = None, *, preset: str = "lu2024", overlap: dict | None = None,
                  alpha: float = 0.05, progress: ProgressCallback = None, command: str | None = None,
                  return_frames: bool = False):
    """Agreement analyses of ``data`` (from :func:`agreement_data.read_long_table` / ``read_reader_tables``)
    and/or segmentation ``overlap`` (from :func:`VBQScoreLib.overlap.overlap_results`). Returns the
    ``agreement.json`` dict (and, with ``return_frames``, ``{"ba_points": DataFrame}`` for the plots)."""
    import pandas as pd

    from VBQScoreLib.json_text import jsonable
    from VBQScoreLib.provenance import software_versions

    from .. import __version__

    results: dict = {"tool": "vbq agreement",
                     "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "versions": software_versions(__version__), "command": command, "warnings": []}
    points: list = []
    if data is not None:
        results.update(_value_analyses(data, preset, alpha, progress, points))
    if overlap is not None:
        results["overlap"] = overlap.get("levels", {})
        results["overlap_detail"] = {k: v for k, v in overlap.items() if k != "levels"}
        results["warnings"].extend(overlap.get("warnings", []))
    if data is None and overlap is None:
        from VBQScoreLib.errors import VBQInputError

        raise VBQInputError("vbq agreement: give a table of values (DATA or --reader-table) or --segmentations")
    results["icc_forms"] = ICC_FORMS
    results["koo_li"] = {"reference": "Koo & Li, J Chiropr Med 2016;15(2):155-163",
                         "bands": {"poor": "< 0.5", "moderate": "0.5 to < 0.75", "good": "0.75 to 0.9",
                                   "excellent": "> 0.9"},
                         "note": "read the band(s) off the 95% CI (koo_li_ci), not only the point estimate"}
    results["summary"] = summary_sentences(results)
    results = jsonable(results)
    if not return_frames:
        return results
    rows = []
    for p in points:
        rows.append(pd.DataFrame({"comparison": p["comparison"], "case_id": p["case"], "a": p["a"], "b": p["b"],
                                  "mean": (p["a"] + p["b"]) / 2, "difference": p["a"] - p["b"]}))
    frames = {"ba_points": pd.concat(rows, ignore_index=True) if rows else
              pd.DataFrame(columns=["comparison", "case_id", "a", "b", "mean", "difference"])}
    return results, frames


def _value_analyses(data: AgreementData, preset: str, alpha: float, progress, points: list) -> dict:
    import pandas as pd

    values, overall, info = value_cube(data, preset)
    s0 = data.inter_session
    cases0 = cases_in_session(data, s0)
    readers = data.readers
    n_steps = 2 + len(data.levels) * (1 + len(readers)) + len(readers)
    step = [0]

    def tick(msg):
        step[0] += 1
        report(progress, min(step[0], n_steps), n_steps, msg)

    out = {"design": {"n_rows": int(len(data.frame)), "n_cases": len(data.cases), "cases_inter": len(cases0),
                      "readers": readers, "sessions": data.sessions, "levels": data.levels,
                      "inter_session": s0, "columns": data.columns, "sources": data.sources,
                      "n_missing_values": int(data.frame["value"].isna().sum()), "overall": info},
           "preset": info.get("preset")}
    warnings = list(data.warnings)
    if info.get("partial"):
        warnings.append(f"{info['partial']} overall value(s) (case, reader, session) were aggregated from fewer "
                        f"than the preset's {len(info['levels_used'])} levels present in the table")
    if data.levels and info["source"] == "none":
        warnings.append(f"no level of preset '{preset}' in the table ({', '.join(data.levels)}): no overall VBQ; "
                        f"choose --preset")
    icc_d = {"inter": {"overall": None, "levels": {}}, "intra": {}, "intra_levels": {}}
    mw_d = {"inter": {"overall": None, "levels": {}}, "intra": {}, "intra_levels": {}}
    miss = {"inter": {"overall": None, "levels": {}}, "intra": {}, "intra_levels": {}}
    ba: dict = {}
    ba_lv: dict = {}

    def note(res, what):
        if res.note:
            warnings.append(f"{what}: {res.note}")

    # inter-reader, one session
    multi_reader = len(readers) >= 2
    if multi_reader and overall is not None:
        m = slice_matrix(overall, s0, None, cases0)
        res, rows, mw, ex = _icc_block(m, alpha=alpha)
        icc_d["inter"]["overall"], mw_d["inter"]["overall"], miss["inter"]["overall"] = rows, mw, ex
        note(res, "inter-reader ICC, overall VBQ")
        for a, b in combinations(readers, 2):
            ba[f"{a} vs {b}"] = _ba(m, a, b, (a, b), points)
    tick("inter-reader overall")
    if multi_reader:
        for lv in data.levels:
            m = slice_matrix(values, s0, lv, cases0)
            res, rows, mw, ex = _icc_block(m, alpha=alpha)
            icc_d["inter"]["levels"][lv], mw_d["inter"]["levels"][lv], miss["inter"]["levels"][lv] = rows, mw, ex
            note(res, f"inter-reader ICC, {lv}")
            for a, b in combinations(readers, 2):
                ba_lv.setdefault(f"{a} vs {b}", {})[lv] = _ba(m, a, b, (a, b), points, level=lv)
            tick(f"inter-reader {lv}")
    # intra-reader, sessions of each reader
    if len(data.sessions) >= 2:
        f = data.frame
        for r in readers:
            sess = _sessions_of(f, r, data.sessions)
            if len(sess) < 2:
                continue
            rcases = pd.unique(f.loc[f["reader"] == r, "case"]).tolist()
            if overall is not None:
                m = _sessions_matrix(overall, r, sess, rcases, level=None)
                res, rows, mw, ex = _icc_block(m, alpha=alpha)
                icc_d["intra"][r], mw_d["intra"][r], miss["intra"][r] = rows, mw, ex
                note(res, f"intra-reader ICC, {r}")
                for a, b in combinations(sess, 2):
                    ba[f"{r} session {a} vs {r} session {b}"] = _ba(
                        m, a, b, (f"{r} session {a}", f"{r} session {b}"), points)
            tick(f"intra-reader {r}")
            for lv in data.levels:
                m = _sessions_matrix(values, r, sess, rcases, level=lv)
                res, rows, mw, ex = _icc_block(m, alpha=alpha)
                icc_d["intra_levels"].setdefault(r, {})[lv] = rows
                mw_d["intra_levels"].setdefault(r, {})[lv] = mw
                miss["intra_levels"].setdefault(r, {})[lv] = ex
                note(res, f"intra-reader ICC, {r} {lv}")
                for a, b in combinations(sess, 2):
                    ba_lv.setdefault(f"{r} session {a} vs {r} session {b}", {})[lv] = _ba(
                        m, a, b, (f"{r} session {a}", f"{r} session {b}"), points, level=lv)
    for block in (miss,):
        for part in block.values():
            _cap(part)
    out.update({"icc": icc_d, "icc_mcgraw_wong": mw_d, "missing": miss, "bland_altman": ba,
                "bland_altman_levels": ba_lv})
    out["warnings"] = warnings
    report(progress, n_steps, n_steps, "agreement done")
    return out


def _cap(part):
    """Keep at most MAX_LISTED excluded cases per analysis in the JSON (the count stays exact)."""
    if isinstance(part, dict):
        if "excluded" in part and isinstance(part["excluded"], list):
            part["excluded"] = part["excluded"][:MAX_LISTED]
            return
        for v in part.values():
            _cap(v)


def _sessions_of(f, reader, sessions) -> list:
    have = set(f.loc[f["reader"] == reader, "session"])
    return [s for s in sessions if s in have]


def _sessions_matrix(frame, reader, sessions, cases, level):
    """Cases x sessions of one reader from ``values`` (level given) or ``overall``."""
    import pandas as pd

    cols = {}
    for s in sessions:
        m = slice_matrix(frame, s, level, cases)
        cols[s] = m[reader] if reader in m.columns else pd.Series(np.nan, index=list(cases))
    return pd.DataFrame(cols).reindex(list(cases))


# ---------------------------------------------------------------------------------------------------------------
# text

def _lead(rows):
    for r in rows or []:
        if r["type"] == LEAD:
            return r
    return None


def _fmt(x, d=2):
    return "–" if x is None else f"{x:.{d}f}"


def _p(p):
    return "n/a" if p is None else ("p < 0.001" if p < 0.001 else f"p = {p:.3f}")


def summary_sentences(results: dict) -> list[str]:
    """Plain-text summary (ICC(2,1) first, as the report leads with it)."""
    out = []
    icc_d = results.get("icc") or {}
    des = results.get("design") or {}
    inter = icc_d.get("inter") or {}
    r = _lead(inter.get("overall"))
    if r is not None and r["icc"] is not None:
        out.append(f"Inter-reader absolute agreement of the overall VBQ, ICC(2,1) (two-way random effects, single "
                   f"reader; {r['n_raters']} readers, {r['n_cases']} cases): {_fmt(r['icc'], 3)} (95% CI "
                   f"{_fmt(r['lower'], 3)} to {_fmt(r['upper'], 3)}): {r['koo_li_ci'] or r['koo_li']} "
                   f"reliability by Koo & Li, read from the 95% CI (never from the point estimate alone).")
    lv = {k: _lead(v) for k, v in (inter.get("levels") or {}).items()}
    lv = {k: v for k, v in lv.items() if v is not None and v["icc"] is not None}
    if lv:
        lo = min(lv, key=lambda k: lv[k]["icc"])
        hi = max(lv, key=lambda k: lv[k]["icc"])
        out.append(f"Per level ICC(2,1) from {_fmt(lv[lo]['icc'], 3)} ({lo}) to {_fmt(lv[hi]['icc'], 3)} ({hi}).")
    intra = {k: _lead(v) for k, v in (icc_d.get("intra") or {}).items()}
    intra = {k: v for k, v in intra.items() if v is not None and v["icc"] is not None}
    if intra:
        out.append("Intra-reader (test-retest) ICC(2,1): " + "; ".join(
            f"{k} {_fmt(v['icc'], 3)} (95% CI {_fmt(v['lower'], 3)} to {_fmt(v['upper'], 3)}, {v['n_cases']} cases)"
            for k, v in intra.items()) + ".")
    for name, b in (results.get("bland_altman") or {}).items():
        if b.get("bias") is None:
            continue
        out.append(f"Bland-Altman {name}: bias {_fmt(b['bias'], 3)} (95% CI {_fmt(b['bias_ci_low'], 3)} to "
                   f"{_fmt(b['bias_ci_high'], 3)}), limits of agreement {_fmt(b['loa_low'], 3)} to "
                   f"{_fmt(b['loa_high'], 3)}, n = {b['n']}; proportional bias {_p(b.get('prop_bias_p'))}.")
    miss = ((results.get("missing") or {}).get("inter") or {}).get("overall")
    if miss and miss.get("n_excluded"):
        out.append(f"{miss['n_excluded']} case(s) left out of the overall inter-reader ICC for missing values "
                   f"(complete cases: {miss['n_cases_used']} of {des.get('cases_inter')}).")
    ov = results.get("overlap") or {}
    if ov:
        det = results.get("overlap_detail") or {}
        pair = det.get("pair") or "the two readers"
        dice = {k: v.get("dice") for k, v in ov.items() if v.get("dice") is not None}
        if dice:
            lo, hi = min(dice, key=dice.get), max(dice, key=dice.get)
            hd = {k: v.get("hd95_mm") for k, v in ov.items() if v.get("hd95_mm") is not None}
            over = ", mean over " + str(det["n_cases"]) + " cases" if det.get("n_cases", 1) > 1 else ""
            out.append(f"Segmentation overlap ({pair}{over}): "
                       f"Dice {_fmt(dice[lo], 3)} ({lo}) to {_fmt(dice[hi], 3)} ({hi})"
                       + (f"; HD95 up to {_fmt(max(hd.values()), 2)} mm" if hd else "") + ".")
    return out


KOO_LI_TEXT = ", ".join(f"< {b} {name}" for b, name in KOO_LI_BANDS) + ", > 0.9 excellent"
