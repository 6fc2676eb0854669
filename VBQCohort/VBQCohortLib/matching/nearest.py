"""Propensity-score matching with R MatchIt 4.5 ``matchit(method="nearest")`` semantics.

``match(data, treat, covariates, ...)`` estimates the propensity score (:mod:`.propensity`, R ``glm``), then
reproduces MatchIt's greedy nearest-neighbour algorithm (``R/matchit2nearest.R`` and ``src/nn_matchC_vec.cpp``)
as fixed in MatchIt 4.5.3/4.5.4: by default the output equals MatchIt 4.5.5 (checked in
``Testing/test_matching_fixed_r.py``); ``compat="matchit-4.5.1"`` reproduces MatchIt 4.5.1 bug for bug (its
integer ``abs`` in the distance comparison, #163, and the replace+ratio bug, #159; checked in
``Testing/test_matching_r.py``):

* All units are sorted by distance (``sort.list``: stable, so ties keep data order). Treated units are taken in
  ``m.order``: ``largest``/``smallest`` distance first (R ``order``: stable, ties in data order), ``data`` order,
  or ``random``. With ``replace=True`` MatchIt forces ``data`` order (it does not matter then).
* Each treated unit looks for the nearest still-available control on its left and on its right in the sorted
  order; the left one wins ties (``|d_left - d| <= |d_right - d|``). With a caliper, the first available
  control on a side that lies outside the caliper ends the search on that side.
* ``ratio = k`` matches in k rounds: every treated unit gets its first control, then its second, ...
* Without replacement a matched control is removed; with replacement it stays available but a treated unit
  never takes the same control twice.
* ``caliper`` is in standard deviations of the distance actually matched on (the propensity score, or its
  logit for ``distance="logit"``) over all non-discarded units, treated and control (``sd``, n-1), when
  ``std_caliper=True``; in distance units otherwise.
* ``exact=[cols]`` matches separately within each combination of the exact columns.
* ``discard`` (none/both/control/treated) drops units outside the common support of the distance.
* Weights follow ``weights_matrixC``: a matched treated unit weighs 1; a control gets the sum of 1/(number of
  controls of each treated it was matched to), rescaled so control weights sum to the number of matched
  controls. ``subclass`` numbers pairs the way MatchIt's ``mm2subclass`` does (no subclass with replacement).

Removed controls are skipped with two union-find "next available" arrays over the sorted controls (no
all-pairs distances), so 100,000 subjects match in about a second.

``order="random"``: R's RNG (``sample.int``) cannot be reproduced, so random order uses numpy's
``default_rng(seed)``: deterministic for a seed, same invariants, but not R's sets.

``method="optimal"``: optimal pair (1:k) matching minimising the total absolute distance difference by
``scipy.optimize.linear_sum_assignment`` (MatchIt uses optmatch, which is not available here to compare).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from VBQScoreLib.errors import VBQInputError

__all__ = ["MatchResult", "match"]

ORDERS = ("largest", "smallest", "random", "data")
DISCARDS = ("none", "both", "control", "treated")


@dataclass
class MatchResult:
    ps: "pandas.Series"  # noqa: F821 - propensity score by id
    distance: "pandas.Series"  # noqa: F821 - the distance matched on (ps or logit) by id
    treat: "pandas.Series"  # noqa: F821 - 0/1 by id
    pairs: dict  # {treated_id: [control_ids]} in match order (matched treated units, data order)
    weights: "pandas.Series"  # noqa: F821
    subclass: "pandas.Series | None"  # noqa: F821
    discarded: "pandas.Series"  # noqa: F821
    n_matched: dict
    sample_sizes: "pandas.DataFrame"  # noqa: F821
    caliper: float | None  # in distance units (after std.caliper scaling)
    settings: dict
    model: object = None
    data: "pandas.DataFrame | None" = field(default=None, repr=False)  # noqa: F821
    id_column: str | None = None
    warnings: list = field(default_factory=list)
    balance_args: dict = field(default=None, repr=False)
    _balance: dict = field(default_factory=dict, repr=False)

    def _bal(self, which: str):
        if which not in self._balance:
            from .balance import balance_table

            a = self.balance_args
            shared = self._balance.setdefault("shared", {})  # design matrix and sort orders, built once
            if which == "before":
                self._balance[which] = balance_table(a["data"], a["treat"], a["covariates"], cache=shared,
                                                     **a["kw"])
            else:
                self._balance[which] = balance_table(a["data"], a["treat"], a["covariates"],
                                                     weights=self.weights.to_numpy(),
                                                     match_matrix=a["match_matrix"], cache=shared, **a["kw"])
        return self._balance[which]

    @property
    def balance_before(self):
        """MatchIt summary() balance of all data (DataFrame; computed on first use)."""
        return self._bal("before")

    @property
    def balance_after(self):
        """MatchIt summary() balance of the matched data (weights applied)."""
        return self._bal("after")

    @property
    def match_matrix(self) -> dict:
        """All treated ids (data order) -> list of control ids (empty when unmatched), like match.matrix."""
        out = {}
        for tid in self.treat.index[self.treat.to_numpy() == 1]:
            out[tid] = list(self.pairs.get(tid, []))
        return out

    def matched_data(self):
        """Rows with weight > 0 plus ``distance``, ``weights`` and (without replacement) ``subclass`` columns,
        like MatchIt's ``match.data()``."""
        df = self.data.copy()
        df["distance"] = self.distance.to_numpy()
        df["weights"] = self.weights.to_numpy()
        if self.subclass is not None:
            df["subclass"] = self.subclass.array
        keep = self.weights.to_numpy() > 0
        return df.loc[keep]

    def to_dict(self) -> dict:
        def key(v):
            return v.item() if isinstance(v, np.generic) else v

        def table(df):
            return {str(r): {c: (None if not np.isfinite(v) else float(v)) for c, v in row.items()}
                    for r, row in df.to_dict(orient="index").items()}

        return {
            "method": self.settings.get("method"),
            "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.settings.items()},
            "caliper_distance_units": self.caliper,
            "ps": _by_id(self.ps),
            "distance": _by_id(self.distance),
            "pairs": {str(t): list(map(str, cs)) for t, cs in self.pairs.items()},  # (str of a numpy scalar = of its item)
            "weights": _by_id(self.weights[self.weights.to_numpy() > 0]),
            "n_matched": dict(self.n_matched),
            "sample_sizes": {str(r): {c: float(v) for c, v in row.items()}
                             for r, row in self.sample_sizes.to_dict(orient="index").items()},
            "balance": {"before": table(self.balance_before), "after": table(self.balance_after)},
            "propensity_model": ({"coef": {k: float(v) for k, v in self.model.coef.items()},
                                  "iterations": self.model.iterations, "converged": self.model.converged,
                                  "reference_levels": dict(getattr(self.model, "reference_levels", {})),
                                  "term_levels": dict(getattr(self.model, "term_levels", {}))}
                                 if self.model is not None else None),
            "warnings": list(self.warnings),
        }


def _by_id(series) -> dict:
    """{str(id): float(value)} of a Series indexed by subject id (ids as Python scalars, then str)."""
    return dict(zip(map(str, series.index.tolist()), series.to_numpy(dtype=float).tolist()))


# ---------------------------------------------------------------------------------------------------------
# core: one exact stratum


def _int_abs(x: float) -> float:
    """C ``abs(int)`` applied to a double, as MatchIt 4.5.1's nn_matchC_vec.cpp compiled here does (#163)."""
    return float(abs(math.trunc(x)))


def _nn_core(dist: np.ndarray, treat: np.ndarray, row_order: np.ndarray, ratio: int,
             discarded: np.ndarray, replace: bool, caliper: float | None,
             compat: bool = False) -> list[list[int]]:
    """MatchIt nn_matchC_vec on one stratum. Returns, per treated unit (data order), matched control indices.

    ``compat=True`` reproduces two bugs of MatchIt 4.5.1 as built on this platform: distances are compared
    through C's integer ``abs`` (so a caliper below 1 never binds on the propensity score, and the left
    neighbour always wins when both differences are below 1; fixed in MatchIt 4.5.4, #163), and in rounds
    after the first the "already matched to this treated unit" check looks for the wrong unit (the one after
    it in data order; so with replacement the same control can be taken twice; fixed in 4.5.3, #159).
    """
    n = len(dist)
    d_ord = np.argsort(dist, kind="stable")
    pos = np.empty(n, dtype=np.int64)
    pos[d_ord] = np.arange(n)
    t_idx = np.flatnonzero(treat == 1)
    mm: list[list[int]] = [[] for _ in range(len(t_idx))]
    ctrl = np.flatnonzero((treat == 0) & ~discarded)
    m = len(ctrl)
    if m == 0 or len(t_idx) == 0:
        return mm
    ctrl = ctrl[np.argsort(pos[ctrl], kind="stable")]  # controls in sorted-distance order
    ctrl_rank = pos[ctrl]
    cd = dist[ctrl].tolist()
    ctrl_l = ctrl.tolist()
    # left neighbour boundary of each treated unit among the sorted controls
    split = np.searchsorted(ctrl_rank, pos[t_idx]).tolist()
    td = dist[t_idx].tolist()
    tdisc = discarded[t_idx].tolist()
    order = row_order.tolist()
    use_cal = caliper is not None
    cal = float(caliper) if use_cal else 0.0
    absf = _int_abs if compat else abs
    # union-find over control slots 0..m-1, shifted by one: slot s <-> node s+1; nodes 0 and m+1 sentinels
    lpar = list(range(m + 2))
    rpar = list(range(m + 2))
    available = m

    def find(par, x):
        root = x
        while par[root] != root:
            root = par[root]
        while par[x] != root:
            par[x], x = root, par[x]
        return root

    for r in range(ratio):
        for row in order:
            if tdisc[row]:
                continue
            if not replace and available == 0:
                break
            j = split[row]
            du = td[row]
            taken = mm[row]
            skip = ({c + 1 for c in taken} if compat else set(taken)) if r > 0 else ()
            if replace:
                kl = j - 1
                while kl >= 0 and ctrl_l[kl] in skip:
                    kl -= 1
                kr = j
                while kr < m and ctrl_l[kr] in skip:
                    kr += 1
            else:
                kl = find(lpar, j) - 1  # node j <-> slot j-1
                while kl >= 0 and ctrl_l[kl] in skip:
                    kl = find(lpar, kl) - 1
                kr = find(rpar, j + 1) - 1
                while kr < m and ctrl_l[kr] in skip:
                    kr = find(rpar, kr + 2) - 1
            if kl >= 0 and use_cal and absf(du - cd[kl]) > cal:
                kl = -1
            if kr >= m or (use_cal and absf(du - cd[kr]) > cal):
                kr = -1
            if kl >= 0 and kr >= 0:
                k = kl if absf(cd[kl] - du) <= absf(cd[kr] - du) else kr
            elif kl >= 0:
                k = kl
            elif kr >= 0:
                k = kr
            else:
                continue
            taken.append(ctrl_l[k])
            if not replace:
                lpar[k + 1] = k  # removed slot points to its left neighbour node
                rpar[k + 1] = k + 2
                available -= 1
    return mm


def _optimal_core(dist, treat, ratio, discarded) -> list[list[int]]:
    from scipy.optimize import linear_sum_assignment

    t_idx = np.flatnonzero(treat == 1)
    mm: list[list[int]] = [[] for _ in range(len(t_idx))]
    use_t = np.flatnonzero(~discarded[t_idx])
    ctrl = np.flatnonzero((treat == 0) & ~discarded)
    if len(use_t) == 0 or len(ctrl) == 0:
        return mm
    rows = np.repeat(use_t, ratio)
    size = len(rows) * len(ctrl)
    if size > 4e7:
        raise VBQInputError(f"optimal matching of {len(use_t)} treated x {len(ctrl)} control subjects "
                            f"(ratio {ratio}) needs a {size:.0f}-cell distance matrix: too large; use "
                            f"method 'nearest' or exact strata")
    cost = np.abs(dist[t_idx][rows][:, None] - dist[ctrl][None, :])
    ri, ci = linear_sum_assignment(cost)
    for a, b in zip(ri, ci):
        mm[rows[a]].append(int(ctrl[b]))
    for i, row in enumerate(mm):
        dt = dist[t_idx[i]]
        row.sort(key=lambda c: abs(dist[c] - dt))
    return mm


# ---------------------------------------------------------------------------------------------------------


def _flat_pairs(mm_global: list[list[int]]):
    """(matched rows r, their number of controls, all controls in match order) of a match matrix."""
    rows = np.fromiter((r for r, row in enumerate(mm_global) if row), dtype=np.int64)
    lens = np.fromiter((len(row) for row in mm_global if row), dtype=np.int64, count=len(rows))
    ctrl = np.fromiter((c for row in mm_global for c in row), dtype=np.int64, count=int(lens.sum()))
    return rows, lens, ctrl


def _weights_from_mm(mm_global: list[list[int]], t_idx: np.ndarray, n: int, treat: np.ndarray) -> np.ndarray:
    """MatchIt weights_matrixC."""
    w = np.zeros(n)
    rows, lens, ctrl = _flat_pairs(mm_global)
    np.add.at(w, ctrl, np.repeat(1.0 / lens, lens))  # in match order, as the loop over pairs adds them
    w[t_idx[rows]] = 1.0
    c_idx = np.flatnonzero(treat == 0)
    cw = w[c_idx]
    s = float(np.sum(cw))
    if s > 0:
        w[c_idx] = cw * float(np.sum(cw > 0)) / s
    return w


def _subclass_from_mm(mm_global, t_idx, n):
    """MatchIt mm2subclass: subclass labels are the treated units' 1-based row numbers, ordered as *strings*
    (R factor levels), then renumbered 1..K. Returns a nullable Int64 array (missing = unmatched)."""
    import pandas as pd

    rows, lens, ctrl = _flat_pairs(mm_global)
    labels = (t_idx[rows] + 1).tolist()
    rank = np.empty(len(rows), dtype=np.int64)
    rank[sorted(range(len(rows)), key=lambda i: str(labels[i]))] = np.arange(1, len(rows) + 1)
    sub = np.zeros(n, dtype=np.int64)
    sub[t_idx[rows]] = rank
    sub[ctrl] = np.repeat(rank, lens)  # without replacement every control appears once
    return pd.arrays.IntegerArray(sub, sub == 0)


def _discard(treat, dist, option):
    if option == "none":
        return np.zeros(len(treat), dtype=bool)
    d0, d1 = dist[treat == 0], dist[treat == 1]
    if option == "both":
        return (dist < max(d0.min(), d1.min())) | (dist > min(d0.max(), d1.max()))
    if option == "control":
        return (dist < d1.min()) | (dist > d1.max())
    return (dist < d0.min()) | (dist > d0.max())


def _ess(w):
    s2 = float(np.sum(w ** 2))
    return float(np.sum(w)) ** 2 / s2 if s2 > 0 else 0.0


def sample_size_table(treat, weights, discarded):
    """MatchIt ``summary(m)$nn``: rows All (ESS), All, Matched (ESS), Matched, Unmatched, Discarded."""
    import pandas as pd

    treat = np.asarray(treat)
    weights = np.asarray(weights, dtype=float)
    discarded = np.asarray(discarded, dtype=bool)
    rows = {}
    rows["All (ESS)"] = [_ess(np.ones(int(np.sum(treat == g)))) for g in (0, 1)]
    rows["All"] = [float(np.sum(treat == g)) for g in (0, 1)]
    rows["Matched (ESS)"] = [_ess(weights[treat == g]) for g in (0, 1)]
    rows["Matched"] = [float(np.sum((treat == g) & (weights > 0))) for g in (0, 1)]
    rows["Unmatched"] = [float(np.sum((treat == g) & (weights == 0) & ~discarded)) for g in (0, 1)]
    rows["Discarded"] = [float(np.sum((treat == g) & discarded)) for g in (0, 1)]
    return pd.DataFrame.from_dict(rows, orient="index", columns=["Control", "Treated"])


def _ids(data, id):
    import pandas as pd

    if id is None:
        ids = data.index
    else:
        if id not in data.columns:
            raise VBQInputError(f"id column {id!r} not found; columns are {', '.join(map(str, data.columns))}")
        col = data[id]
        if col.isna().any():
            from .propensity import mask_rows

            raise VBQInputError(f"id column {id!r} is missing in rows {mask_rows(col.isna())}")
        ids = pd.Index(col.to_numpy(), name=id)
    if ids.has_duplicates:
        dup = ids[ids.duplicated()].unique()[:5]
        raise VBQInputError(f"id column {id or 'index'!r} has duplicate ids: {', '.join(map(str, dup))}")
    return ids


def match(data, treat: str, covariates, *, id: str | None = None, distance: str = "ps", ratio: int = 1,
          caliper: float | None = None, std_caliper: bool = True, replace: bool = False, exact=None,
          order: str = "largest", seed: int | None = None, method: str = "nearest", categorical=None,
          discard: str = "none", treated_value=None, compat: str | None = None,
          source: str | None = None, binary_levels=None) -> MatchResult:
    """Propensity-score matching; see the module docstring for the exact MatchIt semantics.

    ``treat`` is a 0/1 (or boolean) column, or any column when ``treated_value`` names the treated group
    (matched exactly, else up to case/spacing with a warning in ``warnings``). ``binary_levels``: 0/1
    covariates that code two text levels (``Cohort.binary_levels``), for R's term names (``sexM``).
    ``compat="matchit-4.5.1"`` reproduces the R MatchIt 4.5.1 build installed here bug for bug (see
    ``_nn_core``); the default is the corrected algorithm (MatchIt >= 4.5.4 behaviour).
    """
    import pandas as pd

    from .propensity import estimate_ps, treat_vector

    if distance not in ("ps", "logit"):
        raise VBQInputError(f"distance must be 'ps' or 'logit', not {distance!r}")
    if order not in ORDERS:
        raise VBQInputError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    if method not in ("nearest", "optimal"):
        raise VBQInputError(f"method must be 'nearest' or 'optimal', not {method!r}")
    if discard not in DISCARDS:
        raise VBQInputError(f"discard must be one of {', '.join(DISCARDS)}, not {discard!r}")
    if isinstance(ratio, bool) or int(ratio) != ratio or ratio < 1:
        raise VBQInputError(f"ratio must be a whole number >= 1, not {ratio!r}")
    ratio = int(ratio)
    if caliper is not None and (not np.isfinite(caliper) or caliper < 0):
        raise VBQInputError(f"caliper must be a non-negative number, not {caliper!r}")
    if method == "optimal" and (replace or caliper is not None):
        raise VBQInputError("optimal matching supports neither --replace nor --caliper (as in MatchIt)")
    if compat not in (None, "matchit-4.5.1"):
        raise VBQInputError(f"compat must be None or 'matchit-4.5.1', not {compat!r}")
    covariates = list(covariates)
    exact = list(exact or [])
    for c in exact:
        if c not in data.columns:
            raise VBQInputError(f"exact-matching column {c!r} not found; columns are "
                                f"{', '.join(map(str, data.columns))}")
        if data[c].isna().any():
            from .propensity import mask_rows

            raise VBQInputError(f"exact-matching column {c!r} is missing in rows {mask_rows(data[c].isna())}")
    ids = _ids(data, id)
    pre_notes = []
    if treated_value is not None and treat in data.columns and not pd.api.types.is_numeric_dtype(data[treat]):
        from ..reading.labels import resolve_column_value

        treated_value, note = resolve_column_value(data, treat, treated_value, flag="treated value")
        pre_notes += [note] if note else []
    t = treat_vector(data, treat, treated_value, source)
    model = estimate_ps(data, treat, covariates, categorical, treated_value=treated_value, source=source,
                        binary_levels=binary_levels)
    notes = pre_notes + list(model.warnings)
    ps = model.ps.to_numpy()
    dist = model.distance(distance).to_numpy()
    n = len(t)
    disc = _discard(t, dist, discard)

    cal = None
    if caliper is not None:
        if len(np.unique(dist)) > 1:  # R drops a caliper on a constant variable
            cal = abs(float(caliper) * (float(np.std(dist[~disc], ddof=1)) if std_caliper else 1.0))

    # strata
    if exact:
        keys = data[exact].astype(str).agg("\x1f".join, axis=1).to_numpy() if len(exact) > 1 \
            else data[exact[0]].astype(str).to_numpy()
        strata_keys, inv = np.unique(keys, return_inverse=True)
        common = set(inv[t == 1]) & set(inv[t == 0])
        if not common:
            raise VBQInputError(f"exact matching on {', '.join(exact)}: no stratum has both treated and control "
                                f"subjects")
        strata = [np.flatnonzero(inv == s) for s in range(len(strata_keys))]
    else:
        strata = [np.arange(n)]
    rng = np.random.default_rng(seed) if order == "random" else None
    eff_order = "data" if (replace and method == "nearest") else order

    t_idx = np.flatnonzero(t == 1)
    row_of = np.full(n, -1)
    row_of[t_idx] = np.arange(len(t_idx))
    mm_global: list[list[int]] = [[] for _ in range(len(t_idx))]
    for s in strata:
        ts = t[s]
        if method == "optimal":
            local = _optimal_core(dist[s], ts, ratio, disc[s])
        else:
            dt = dist[s][ts == 1]
            n1 = len(dt)
            if eff_order == "largest":
                ordr = np.argsort(-dt, kind="stable")
            elif eff_order == "smallest":
                ordr = np.argsort(dt, kind="stable")
            elif eff_order == "random":
                ordr = rng.permutation(n1)
            else:
                ordr = np.arange(n1)
            local = _nn_core(dist[s], ts, ordr, ratio, disc[s], replace, cal, compat is not None)
        if len(strata) == 1:  # local indices are global
            mm_global = local
            break
        s_t = s[ts == 1].tolist()
        s_l = s.tolist()
        for i, row in enumerate(local):
            mm_global[row_of[s_t[i]]] = [s_l[c] for c in row]

    if not any(mm_global):
        raise VBQInputError("no subjects could be matched (caliper too narrow, or no controls in the "
                            "exact-matching strata)")
    w = _weights_from_mm(mm_global, t_idx, n, t)
    subclass = None
    if not replace:
        subclass = pd.Series(_subclass_from_mm(mm_global, t_idx, n), index=ids, name="subclass")
    id_list = ids.tolist()
    t_list = t_idx.tolist()
    pairs = {id_list[t_list[r]]: list(map(id_list.__getitem__, row)) for r, row in enumerate(mm_global) if row}
    n_matched = {"treated": int(np.sum((t == 1) & (w > 0))), "control": int(np.sum((t == 0) & (w > 0)))}
    nn = sample_size_table(t, w, disc)
    if n_matched["treated"] < int(np.sum((t == 1) & ~disc)):
        notes.append(f"{int(np.sum((t == 1) & ~disc)) - n_matched['treated']} treated subjects were not matched")

    dist_s = pd.Series(dist, index=ids, name="distance")
    bal_args = {"data": data, "treat": t, "covariates": covariates, "match_matrix": (t_idx, mm_global),
                "kw": {"categorical": categorical, "distance": dist}}
    settings = {"method": method, "distance": distance, "ratio": ratio, "caliper": caliper,
                "std_caliper": bool(std_caliper), "replace": bool(replace), "exact": exact,
                "order": order, "order_used": eff_order, "seed": seed, "discard": discard, "compat": compat,
                "covariates": covariates, "categorical": list(categorical or [])}
    return MatchResult(ps=pd.Series(ps, index=ids, name="ps"), distance=dist_s,
                       treat=pd.Series(t, index=ids, name="treat"), pairs=pairs,
                       weights=pd.Series(w, index=ids, name="weights"), subclass=subclass,
                       discarded=pd.Series(disc, index=ids, name="discarded"), n_matched=n_matched,
                       sample_sizes=nn, caliper=cal, balance_args=bal_args,
                       settings=settings, model=model, data=data, id_column=id, warnings=notes)
