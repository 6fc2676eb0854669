"""treat_vector's numeric fast path (a numeric group column and a numeric --treated value compared as numbers)
selects exactly the rows of the general text comparison, and gives the same errors."""

from __future__ import annotations

import pandas as pd
import pytest

from VBQScoreLib.errors import VBQInputError


@pytest.mark.parametrize("values,treated", [
    ([0.0, 1.0, 1.0, 0.0], "1"), ([0, 1, 1, 0], "1"), ([0, 1, 1, 0], " 1.0 "), ([2, 5, 5, 2], "5"),
    ([0.5, 1.5, 0.5], "1.5"), ([0.0, 1.0], "1e0"), ([2**60, 2**60 + 1, 3], str(2**60 + 1)),
    ([0.0, float("inf"), 1.0], "inf"), ([0, 1], "yes"), ([1, 1, 1], "1"), ([0, 1], "nan")])
def test_treat_vector_numeric_fast_path_equals_text_comparison(values, treated, monkeypatch):
    """treat_vector's direct numeric comparison selects exactly the rows the text comparison would."""
    import VBQCohortLib.propensity as P

    df = pd.DataFrame({"g": values})

    def run():
        try:
            return P.treat_vector(df, "g", treated).tolist()
        except VBQInputError as exc:
            return str(exc)

    fast = run()
    monkeypatch.setattr(P, "_numeric_value_match", lambda *a: None)
    assert fast == run()
