"""A report folder never replaces an input: `vbq cohort analyze`, `vbq cohort diagnostic` and `vbq agreement`
refuse an --out where the run would write over DATA (a top-level report file, or anything under the folders the
run writes: tables/, figures/ in every figure format, the diagnostic and agreement sub-reports)."""

from __future__ import annotations

import hashlib

import pytest

from vbq_cli.main import main

COMMANDS = {
    "analyze": lambda data, out: ["cohort", "analyze", str(data), "--out", str(out)],
    "diagnostic": lambda data, out: ["cohort", "diagnostic", str(data), "--marker", "vbq", "--condition",
                                     "t <= -2.5", "--out", str(out)],
    "agreement": lambda data, out: ["agreement", str(data), "--out", str(out)],
}
PLACES = {
    "analyze": ["report.docx", "tables.xlsx", "figures/love.pdf", "figures/boxplot.tiff", "diagnostic/x.csv"],
    "diagnostic": ["diagnostic.json", "figures/roc.pdf", "tables/roc.csv"],
    "agreement": ["agreement.json", "figures/ba.tiff", "tables/icc.csv"],
}


@pytest.mark.parametrize("command,place", [(c, p) for c, ps in PLACES.items() for p in ps])
def test_an_input_inside_the_report_folder_is_refused(command, place, tmp_path, capsys):
    out = tmp_path / "out"
    data = out / place
    data.parent.mkdir(parents=True)
    data.write_text("id,vbq,t\n1,2.5,-3\n", encoding="utf-8")
    before = hashlib.sha256(data.read_bytes()).hexdigest()
    assert main(COMMANDS[command](data, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "would replace the input DATA" in err[0] and "choose another folder" in err[0], err
    assert hashlib.sha256(data.read_bytes()).hexdigest() == before


def test_an_input_beside_the_report_files_is_not_refused_for_that(tmp_path, capsys):
    out = tmp_path / "out"
    data = out / "notes" / "clinical.csv"  # a folder the run does not write
    data.parent.mkdir(parents=True)
    data.write_text("id,vbq,t\n1,2.5,-3\n", encoding="utf-8")
    main(COMMANDS["diagnostic"](data, out))  # fails later, on the data: not for the folder
    assert "would replace the input" not in capsys.readouterr().err
