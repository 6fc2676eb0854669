"""The ``vbq`` program exits without the interpreter's teardown (``vbq_cli.main.entry``): the exit code, every
line printed and every exit handler survive it, and a command that leaves a non-daemon thread running still
waits for it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd


def _run(code: str, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, encoding="utf-8",
                          timeout=120)


def test_exit_code_output_and_atexit_handlers(tmp_path):
    marker = tmp_path / "atexit.txt"
    p = _run(f"""
        import atexit, sys
        import vbq_cli.main as m
        atexit.register(lambda: open({str(marker)!r}, "w").write("ran"))
        def fake_main():
            sys.stdout.write("x" * 200000 + "\\nlast line\\n")  # buffered, not yet flushed
            return 3
        m.main = fake_main
        m.entry()
        print("not reached")
    """, tmp_path)
    assert p.returncode == 3
    assert p.stdout.endswith("last line\n") and len(p.stdout) == 200000 + len("\nlast line\n")
    assert "not reached" not in p.stdout
    assert marker.read_text() == "ran"


def test_waits_for_a_running_thread(tmp_path):
    out = tmp_path / "thread.txt"
    p = _run(f"""
        import threading, time
        import vbq_cli.main as m
        def work():
            time.sleep(0.5)
            open({str(out)!r}, "w").write("done")
        def fake_main():
            threading.Thread(target=work).start()
            return 0
        m.main = fake_main
        m.entry()
    """, tmp_path)
    assert p.returncode == 0
    assert out.read_text() == "done"


def test_real_command_through_python_m(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"id": [f"s{i}" for i in range(n)], "group": rng.choice(["OPLL", "CSM"], n, p=[0.3, 0.7]),
                       "age": rng.integers(40, 80, n), "sex": rng.choice(["F", "M"], n)})
    df.to_csv(tmp_path / "c.csv", index=False)
    cmd = [sys.executable, "-m", "vbq_cli", "cohort", "match", str(tmp_path / "c.csv"), "--id", "id", "--group",
           "group", "--treated", "OPLL", "--covariates", "age,sex", "--json", str(tmp_path / "m.json")]
    p = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert p.returncode == 0, p.stderr
    assert "Sample sizes" in p.stdout and (tmp_path / "m.json").stat().st_size > 0
    bad = subprocess.run(cmd[:-6] + ["--treated", "NOPE", "--covariates", "age", "--json", str(tmp_path / "x.json")],
                         capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()
