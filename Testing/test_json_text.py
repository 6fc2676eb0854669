"""VBQScoreLib.json_text.dumps gives exactly the text of json.dumps(obj, indent=k, allow_nan=False)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from VBQScoreLib.json_text import dumps

scalars = (st.none() | st.booleans() | st.integers(-10**20, 10**20)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
keys = st.text(max_size=6) | st.integers(-5, 5) | st.none() | st.booleans() | st.floats(-2, 2)
values = st.recursive(scalars, lambda children: st.lists(children, max_size=5)
                      | st.tuples(children, children)
                      | st.dictionaries(keys, children, max_size=5), max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(obj=values, indent=st.integers(0, 4))
def test_same_text_as_json_dumps(obj, indent):
    assert dumps(obj, indent) == json.dumps(obj, indent=indent, allow_nan=False)


def test_numpy_floats_and_a_large_flat_dict():
    obj = {"ps": {f"u{i}": float(v) for i, v in enumerate(np.random.default_rng(0).random(5000))},
           "n": np.float64(0.1), "pairs": {"u1": ["u2", "u3"], "u4": []}, "empty": {}, "none": None}
    assert dumps(obj) == json.dumps(obj, indent=1, allow_nan=False)


@pytest.mark.parametrize("bad", [math.nan, math.inf, {"a": [1, -math.inf]}])
def test_non_finite_numbers_are_refused_like_json(bad):
    with pytest.raises(ValueError):
        json.dumps(bad, indent=1, allow_nan=False)
    with pytest.raises(ValueError):
        dumps(bad)


def test_score_side_cleaners_are_the_one_rule():
    """``measuring.result.clean_value``, ``measuring.overlap``'s metric cleaner and the batch journal use
    ``json_text``'s rule (issue 16): they used to disagree (a float32 NaN broke the journal, tuples stayed tuples)."""
    import json

    import numpy as np

    from VBQScoreLib.batch.journal import json_line
    from VBQScoreLib.json_text import finite_or_none, jsonable
    from VBQScoreLib.measuring import overlap
    from VBQScoreLib.measuring.result import clean_value

    values = [1.5, -2, float("nan"), float("inf"), -float("inf"), np.float32("nan"), np.float64("-inf"),
              np.int64(7), np.float32(0.25), True, None, "C3", (1, 2), [np.float32("inf"), 3], {"a": np.nan}]
    for v in values:
        assert clean_value(v) == jsonable(v)
    for v in [1.5, -2, float("nan"), float("inf"), -float("inf"), np.float32("nan"), np.float64(3.0), None]:
        assert overlap._f(v) == finite_or_none(v)
    rec = {"case_id": "a", "x": np.float32("nan"), "y": [np.float64("inf"), -float("inf")], "z": np.int64(2)}
    assert json.loads(json_line(rec)) == {"case_id": "a", "x": None, "y": [None, None], "z": 2}
