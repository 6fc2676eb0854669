"""VBQCohortLib.spreadsheet: CSV/TSV/XLSX import, normalisation, type inference, and each validation message."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pandas as pd
import pytest

from VBQCohortLib.spreadsheet import CohortSpec, prepare_cohort, read_table
from VBQScoreLib.errors import VBQInputError

HEADER = ["patient", "Diagnosis", "Age", "Sex", "BMI", "Smoking", "HTN", "C2", "C3"]
ROWS = [
    ["p1", "OPLL", 60, "M", 25.1, "never", "yes", 3.1, 2.9],
    ["p2", "OPLL", 55, "female", 26, " former ", "no", 2.9, 2.7],
    ["p3", "CSM", 70, "F", 27, "current", "Y", 3.0, None],
    ["p4", "CSM", 65, "male", 24, "Never", "n", 3.3, 3.0],
    ["p5", "CSM", 61, "m", None, "never", "no", 2.8, 2.6],
    ["p6", "OPLL", 59, "f", 23.5, "never", "TRUE", 2.7, 2.5],
    ["p7", "OPLL", 58, "M", 22, "former", "false", 3.2, 3.1],
    ["p8", "CSM", 66, "F", 29, "former", "yes", 3.1, 2.9],
]
SPEC = CohortSpec(id="patient", group="Diagnosis", treated="OPLL", control="CSM",
                  covariates=["Age", "Sex", "BMI", "Smoking", "HTN"], levels=["C2", "C3"])


def write_csv(path: Path, header=HEADER, rows=ROWS, sep=",", blank_after=None):
    lines = [sep.join(header)]
    for i, r in enumerate(rows):
        lines.append(sep.join("" if v is None else str(v) for v in r))
        if blank_after is not None and i == blank_after:
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_xlsx(path: Path, header=HEADER, rows=ROWS, error_cells=(), sheets=("Data",)):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheets[0]
    ws.append(header)
    for r in rows:
        ws.append(r)
    for coord, err in error_cells:
        ws[coord].value = err
        ws[coord].data_type = "e"
    for name in sheets[1:]:
        other = wb.create_sheet(name)
        other.append(["x"])
        other.append([1])
    wb.save(path)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------------ reading

def test_csv_row_numbers_types_and_blank_rows(tmp_path):
    p = write_csv(tmp_path / "c.csv", blank_after=3)
    h = digest(p)
    df, warns = read_table(p)
    assert digest(p) == h
    assert df.index.name == "row" and list(df.index) == [2, 3, 4, 5, 7, 8, 9, 10]  # blank line 6 skipped
    assert any("1 blank row(s) ignored" in w for w in warns)
    assert df["Age"].dtype == float and df["C3"].dtype == float and math.isnan(df.loc[4, "C3"])
    assert df.loc[7, "BMI"] != df.loc[7, "BMI"]  # missing
    assert df.loc[3, "Smoking"] == "former"  # stripped; the spelling as read is kept for the warning
    assert df.attrs["vbq_raw_text"] == {"Smoking": {" former ": [3]}}
    assert df["Sex"].dtype == object


def test_tsv_by_extension_and_sniffed_txt(tmp_path):
    df1, _ = read_table(write_csv(tmp_path / "c.tsv", sep="\t"))
    df2, _ = read_table(write_csv(tmp_path / "c.txt", sep="\t"))
    df3, _ = read_table(write_csv(tmp_path / "c.csv", sep="\t"))  # a .csv that is really tab-separated
    for df in (df1, df2, df3):
        assert list(df.columns) == HEADER and df.loc[2, "BMI"] == 25.1


def test_semicolon_decimal_comma(tmp_path):
    p = tmp_path / "eu.csv"
    p.write_text("id;group;bmi\na;X;25,5\nb;Y;27,25\nc;X;\n", encoding="utf-8")
    df, warns = read_table(p)
    assert df["bmi"].tolist()[:2] == [25.5, 27.25]
    assert any("decimal commas" in w and "bmi" in w for w in warns)


def test_xlsx_with_error_cells(tmp_path):
    p = write_xlsx(tmp_path / "c.xlsx", error_cells=[("E3", "#DIV/0!"), ("H5", "#N/A")])
    h = digest(p)
    df, warns = read_table(p)
    assert digest(p) == h
    assert list(df.index) == list(range(2, 10))
    assert df["BMI"].dtype == float and math.isnan(df.loc[3, "BMI"]) and df.loc[2, "BMI"] == 25.1
    assert math.isnan(df.loc[5, "C2"])
    w = [w for w in warns if "Excel error cells" in w]
    assert w and "E3 #DIV/0!" in w[0] and "H5 #N/A" in w[0]


def test_xlsx_sheet_selection(tmp_path):
    p = write_xlsx(tmp_path / "c.xlsx", sheets=("Data", "Notes"))
    df, warns = read_table(p)
    assert "patient" in df.columns and any("first sheet 'Data' of 2" in w for w in warns)
    df2, _ = read_table(p, sheet="Notes")
    assert list(df2.columns) == ["x"]
    df3, _ = read_table(p, sheet=1)
    assert list(df3.columns) == ["x"]
    with pytest.raises(VBQInputError, match="there is no sheet named 'Other' \\(sheets: Data, Notes\\)"):
        read_table(p, sheet="Other")


@pytest.mark.parametrize("name,content,msg", [
    ("missing.csv", None, "file not found"),
    ("empty.csv", "", "the file is empty"),
    ("old.xls", "x", "old Excel .xls files are not supported"),
    ("data.json", "{}", "unsupported spreadsheet type '.json'"),
    ("dup.csv", "id,a,a\n1,2,3\n", "duplicate column name(s): 'a'"),
    ("ragged.csv", "id,a\n1,2\n3,4,5\n", "row 3 has 3 cells but the header has 2"),
    ("header.csv", "id,a\n", "no data rows below the header"),
    ("fake.xlsx", "not a zip", "not a readable .xlsx workbook"),
])
def test_read_errors(tmp_path, name, content, msg):
    p = tmp_path / name
    if content is not None:
        p.write_text(content, encoding="utf-8")
    with pytest.raises(VBQInputError) as ei:
        read_table(p)
    assert msg in str(ei.value) and str(p) in str(ei.value) and "\n" not in str(ei.value)


# ------------------------------------------------------------------------------------------------ cohort

def test_prepare_cohort_normalises_and_records_exclusions(tmp_path):
    df, _ = read_table(write_csv(tmp_path / "c.csv"))
    before = df.copy()
    c = prepare_cohort(df, SPEC)
    pd.testing.assert_frame_equal(df, before)
    d = c.data
    assert list(d.index) == [2, 3, 4, 5, 7, 8, 9]  # p5 (row 6) excluded: missing BMI
    assert d["treated"].tolist() == [1, 1, 0, 0, 1, 1, 0]
    assert d["Sex"].tolist() == [1, 0, 0, 1, 0, 1, 0]
    assert d["HTN"].tolist() == [1, 0, 1, 0, 1, 0, 1]
    assert sorted(d["Smoking"].unique()) == ["current", "former", "never"]  # 'Never' merged
    assert c.types == {"Age": "numeric", "Sex": "binary", "BMI": "numeric", "Smoking": "categorical",
                       "HTN": "binary", "C2": "numeric", "C3": "numeric"}
    assert c.codings["Sex"] == "1 = male, 0 = female" and c.codings["treated"] == "1 = OPLL, 0 = CSM"
    assert c.exclusions.to_dict("records") == [{"row": 6, "id": "p5", "reason": "missing BMI"}]
    assert c.counts["excluded"] == 1 and c.counts["treated"] == 4 and c.counts["control"] == 3
    assert c.counts["missing_by_level"] == {"C2": 0, "C3": 1}  # kept: per-level tests drop and count it
    assert any("1 of 8 rows excluded: missing BMI (1)" in w for w in c.warnings)
    assert c.to_dict()["exclusions"] == [{"row": 6, "id": "p5", "reason": "missing BMI"}]


def test_xlsx_and_csv_give_the_same_cohort(tmp_path):
    a = prepare_cohort(read_table(write_csv(tmp_path / "c.csv"))[0], SPEC).data
    b = prepare_cohort(read_table(write_xlsx(tmp_path / "c.xlsx"))[0], SPEC).data
    pd.testing.assert_frame_equal(a, b)


def test_type_override_and_case_insensitive_columns(tmp_path):
    df, _ = read_table(write_csv(tmp_path / "c.csv"))
    spec = CohortSpec(id="PATIENT", group="diagnosis", treated="opll", control="csm", covariates=["age", "htn"],
                      levels=["c2"], types={"age": "categorical"})
    c = prepare_cohort(df, spec)
    assert c.types["age"] == "categorical" and c.data["age"].iloc[0] == "60"
    assert c.columns["age"] == "Age" and "column 'age' matched to 'Age' (case differs)" in c.warnings
    assert "--treated 'opll' matched group value 'OPLL' (case differs)" in c.warnings
    assert "--control 'csm' matched group value 'CSM' (case differs)" in c.warnings


def test_control_none_means_all_others_and_drop_unknown(tmp_path):
    rows = ROWS + [["p9", "other", 50, "M", 25, "never", "no", 3.0, 3.0]]
    df, _ = read_table(write_csv(tmp_path / "c.csv", rows=rows))
    c = prepare_cohort(df, CohortSpec(id="patient", group="Diagnosis", treated="OPLL", covariates=["Age"]))
    assert c.counts["control"] == 5 and c.codings["treated"] == "1 = OPLL, 0 = any other group"
    c = prepare_cohort(df, CohortSpec(id="patient", group="Diagnosis", treated="OPLL", control="CSM",
                                      covariates=["Age"], drop_unknown_groups=True))
    assert c.exclusions.to_dict("records") == [{"row": 10, "id": "p9",
                                                "reason": "group 'other' is neither treated nor control"}]


def _cohort_error(tmp_path, rows=ROWS, header=HEADER, **spec_changes):
    kw = dict(id="patient", group="Diagnosis", treated="OPLL", control="CSM",
              covariates=["Age", "Sex", "BMI", "Smoking", "HTN"], levels=["C2", "C3"])
    kw.update(spec_changes)
    df, _ = read_table(write_csv(tmp_path / "c.csv", header=header, rows=rows))
    with pytest.raises(VBQInputError) as ei:
        prepare_cohort(df, CohortSpec(**kw))
    assert "\n" not in str(ei.value)
    return str(ei.value)


def _replace(rows, i, j, v):
    rows = [list(r) for r in rows]
    rows[i][j] = v
    return rows


def test_error_missing_column_with_close_match(tmp_path):
    msg = _cohort_error(tmp_path, covariates=["Age", "BMl"])
    assert msg.startswith("covariate column 'BMl' not found; did you mean 'BMI'?")


def test_error_duplicate_ids(tmp_path):
    msg = _cohort_error(tmp_path, rows=_replace(ROWS, 5, 0, "p2"))
    assert msg == "id column 'patient': duplicate ids 'p2' (rows 3, 7)"


def test_error_text_in_numeric_column(tmp_path):
    rows = _replace(_replace(ROWS, 5, 4, "n/a?"), 2, 4, "n/a?")
    rows = rows + [[f"q{i}", "CSM", 60, "M", 25, "never", "no", 3, 3] for i in range(4)]
    msg = _cohort_error(tmp_path, rows=rows)
    assert msg == "covariate column 'BMI' rows 4, 7: 'n/a?' is not a number"


def test_error_text_in_level_column(tmp_path):
    msg = _cohort_error(tmp_path, rows=_replace(ROWS, 1, 7, "2.9 (?)"))
    assert msg == "level column 'C2' row 3: '2.9 (?)' is not a number"


def test_error_all_missing_covariate(tmp_path):
    rows = [r + [None] for r in ROWS]
    msg = _cohort_error(tmp_path, rows=rows, header=HEADER + ["Diet"], covariates=["Age", "Diet"])
    assert msg == "covariate column 'Diet' is empty (all values missing)"


def test_error_too_few_in_group(tmp_path):
    msg = _cohort_error(tmp_path, min_group_size=4)
    assert msg == "group 'CSM' has 3 subjects after 1 exclusion(s) (need at least 4)"


def test_error_unknown_group_labels(tmp_path):
    rows = ROWS + [["p9", "OPPL", 50, "M", 25, "never", "no", 3.0, 3.0]]
    msg = _cohort_error(tmp_path, rows=rows)
    assert msg == "group column 'Diagnosis': unknown group label(s) 'OPPL' (row 10); expected 'OPLL' or 'CSM'"


def test_error_treated_label_absent(tmp_path):
    msg = _cohort_error(tmp_path, treated="OPL")
    assert msg.startswith("group column 'Diagnosis' has no value 'OPL' (treated); did you mean 'OPLL'")


def test_error_control_label_absent(tmp_path):
    msg = _cohort_error(tmp_path, control="CMS")
    assert msg.startswith("group column 'Diagnosis' has no value 'CMS' (control); did you mean 'CSM'")


def test_error_bad_binary_value(tmp_path):
    msg = _cohort_error(tmp_path, rows=_replace(ROWS, 0, 6, "maybe"), types={"HTN": "binary"})
    assert msg == "covariate column 'HTN' row 2: 'maybe' is not yes/no, y/n, true/false or 1/0"


def test_error_bad_type_name(tmp_path):
    msg = _cohort_error(tmp_path, types={"Age": "integer"})
    assert "type of column 'Age' must be one of numeric, binary, categorical, sex" in msg


def test_identifier_columns_keep_leading_zeros(tmp_path):
    p = tmp_path / "ids.csv"
    p.write_text("id,group,age\n007,A,60\n010,B,61\n123,A,62\n1234567890123456789,B,63\n", encoding="utf-8")
    df, _ = read_table(p)
    assert df["id"].tolist() == ["007", "010", "123", "1234567890123456789"]
    assert df["age"].dtype == float
    c = prepare_cohort(df, CohortSpec(id="id", group="group", treated="A", control="B", covariates=["age"],
                                      min_group_size=1))
    assert c.data["id"].tolist() == ["007", "010", "123", "1234567890123456789"]


def test_xlsx_formula_without_saved_value_is_reported(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[0][4] = "=25+0.1"  # openpyxl saves the formula without a computed result
    p = write_xlsx(tmp_path / "f.xlsx", rows=rows)
    df, warns = read_table(p)
    assert math.isnan(df.loc[2, "BMI"])
    w = [w for w in warns if "formula cells without a saved result" in w]
    assert w and w[0].endswith(": E2")


def test_numeric_group_codes_and_windows_text(tmp_path):
    p = tmp_path / "win.csv"
    p.write_bytes("id;opll;site\n1;1;Créteil\n2;0;Paris\n3;1;Lyon\n4;0;Nîmes\n".encode("cp1252"))
    df, warns = read_table(p)
    assert df["site"].tolist() == ["Créteil", "Paris", "Lyon", "Nîmes"]
    assert any("Windows-1252" in w for w in warns)
    c = prepare_cohort(df, CohortSpec(id="id", group="opll", treated="1", control="0", covariates=["site"],
                                      min_group_size=2))
    assert c.data["treated"].tolist() == [1, 0, 1, 0] and c.data["id"].tolist() == ["1", "2", "3", "4"]
    assert c.types["site"] == "categorical"


def test_many_categories_warns_and_numeric_override_names_cells(tmp_path):
    p = tmp_path / "m.csv"
    words = ["low", "high", "unknown", "normal", "n.d.", "tbd", "obese", "thin", "ok", "lean", "big", "small"]
    p.write_text("id,g,bmi\n" + "".join(f"{i},{'AB'[i % 2]},{w}\n" for i, w in enumerate(words)))
    df, _ = read_table(p)
    c = prepare_cohort(df, CohortSpec(id="id", group="g", treated="A", control="B", covariates=["bmi"]))
    assert any("read as categorical with 12 categories" in w for w in c.warnings)
    with pytest.raises(VBQInputError, match="covariate column 'bmi' rows 2, 3, 4, 5, 6, 7, 8, 9 and 4 more: values"):
        prepare_cohort(df, CohortSpec(id="id", group="g", treated="A", control="B", covariates=["bmi"],
                                      types={"bmi": "numeric"}))
