"""The wheel holds every package, sub-package and data file the code needs, and builds without warnings.

The checkout is copied (without venvs, caches and build output) and built with ``pip wheel`` (build isolation:
pip brings the build backend from the package index, as ``pip install .`` does). Then:

* the build log has no setuptools warning (deprecated ``project.license`` table, "importable but absent from
  the `packages` configuration", ...);
* the project's packages are found from the source tree, not from pyproject.toml: the entry point's package
  and every top-level package that any of their modules imports (at any depth, lazily too) and that lives in
  this checkout. Every file under each such package folder (modules, sub-packages, plan files and other data)
  must be in the wheel, so a new package that pyproject.toml does not list, or a data file it leaves out,
  fails here;
* from the unpacked wheel alone (``python -S``: no editable-install hook, the dependencies from this
  environment's site-packages, run outside the checkout) every module imports, every built-in plan loads,
  and ``vbq demo`` then ``vbq cohort analyze --plan lu2024`` run.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", "__pycache__", "build", "dist", ".pytest_cache", ".hypothesis", ".benchmarks", "vbq-demo",
             "demo_out", "node_modules"}
pytestmark = pytest.mark.slow


def _ignore(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in SKIP_DIRS or n.endswith(".egg-info")
            or (Path(folder, n) / "pyvenv.cfg").exists()}  # any virtual environment


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_ignore)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp / "dist"),
                           str(src)], capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    wheels = list((tmp / "dist").glob("slicervbq-*.whl"))
    assert len(wheels) == 1, log[-3000:]
    unpacked = tmp / "unpacked"
    with zipfile.ZipFile(wheels[0]) as z:
        names = set(z.namelist())
        z.extractall(unpacked)
    return {"log": log, "names": names, "unpacked": unpacked, "tmp": tmp}


def test_build_prints_no_setuptools_warning(built):
    bad = [ln.strip() for ln in built["log"].splitlines()
           if re.search(r"SetuptoolsDeprecationWarning|SetuptoolsWarning|_Warning:|is absent from the `packages`"
                        r"|deprecated", ln)]
    assert bad == []


def _in_checkout(path: str | None) -> bool:
    """A path inside this checkout that is not an installed third-party file (a venv lives in the checkout)."""
    if not path:
        return False
    p = Path(path).resolve()
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    return (p.is_relative_to(ROOT) and not any(p.is_relative_to(x) for x in prefixes)
            and "site-packages" not in p.parts and not p.is_relative_to(ROOT / "Testing"))


def _imported_top_level(py: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(py.read_text(encoding="utf-8"), str(py))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def project_packages() -> dict[str, Path]:
    """{top-level package: its source folder}: the entry point's package and, transitively, every package
    imported by their modules that lives in this checkout."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    entry = re.search(r'^\s*vbq\s*=\s*"([\w.]+):', text, re.M).group(1).split(".")[0]
    found: dict[str, Path] = {}
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.submodule_search_locations, f"{name} is not an importable package"
        folder = Path(list(spec.submodule_search_locations)[0]).resolve()
        assert _in_checkout(str(folder)), (name, folder)
        found[name] = folder
        for py in folder.rglob("*.py"):
            for mod in _imported_top_level(py) - set(found):
                if mod in sys.stdlib_module_names:
                    continue
                try:
                    s = importlib.util.find_spec(mod)
                except (ImportError, ValueError):
                    continue
                if s is not None and (_in_checkout(s.origin) or any(
                        _in_checkout(x) for x in (s.submodule_search_locations or []))):
                    todo.append(mod)
    return found


def _source_files(folder: Path):
    for p in sorted(folder.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"):
            yield p


def test_the_source_scan_finds_the_known_packages():
    pk = project_packages()
    assert {"vbq_cli", "VBQScoreLib", "VBQCohortLib"} <= set(pk)
    assert pk["VBQCohortLib"] == ROOT / "VBQCohort" / "VBQCohortLib"
    assert "VBQCohortModuleLib" not in pk  # the Slicer module's own helpers: not imported by the core
    # and the data files among them: the built-in analysis plans
    assert list((pk["VBQCohortLib"] / "plans").glob("*.yaml"))


def test_wheel_has_every_package_and_data_file(built):
    names = built["names"]
    missing = []
    for pkg, folder in project_packages().items():
        for f in _source_files(folder):
            arc = f"{pkg}/{f.relative_to(folder).as_posix()}"
            if arc not in names:
                missing.append(arc)
    assert missing == [], f"not in the wheel (list the package in pyproject.toml): {missing}"
    top = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    meta = (built["unpacked"] / next(n for n in names if n.endswith(".dist-info/METADATA"))).read_text("utf-8")
    assert "License-Expression: Apache-2.0" in meta
    assert any(n.endswith(".dist-info/licenses/LICENSE.txt") for n in names)
    assert set((built["unpacked"] / top).read_text().split()) == set(project_packages())


def _wheel_only_env(built) -> dict:
    paths = [str(built["unpacked"])] + sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


CHECK = r"""
import importlib, pathlib, pkgutil, sys
root = pathlib.Path(sys.argv[1])
for pkg in sys.argv[2:]:
    m = importlib.import_module(pkg)
    assert pathlib.Path(m.__file__).resolve().is_relative_to(root), (pkg, m.__file__)
    for info in pkgutil.walk_packages(m.__path__, pkg + "."):
        if info.name.endswith(".__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as exc:  # a third-party module this environment lacks (slicer) is fine
            if exc.name.split(".")[0] in sys.argv[2:]:
                raise
from VBQCohortLib.plan import BUILTIN, builtin_plan_path, load_plan
for name in BUILTIN:
    assert builtin_plan_path(name).resolve().is_relative_to(root)
    load_plan(name)
print("ok", len(BUILTIN))
"""


def test_wheel_alone_imports_loads_plans_and_runs(built):
    env = _wheel_only_env(built)
    run = built["tmp"] / "run"
    run.mkdir()
    py = [sys.executable, "-S"]
    p = subprocess.run(py + ["-c", CHECK, str(built["unpacked"]), *project_packages()], cwd=run, env=env,
                       capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=300)
    assert p.returncode == 0 and p.stdout.startswith("ok"), p.stderr[-3000:]
    p = subprocess.run(py + ["-m", "vbq_cli", "demo", "--out", "demo", "--n-patients", "80", "--n-mri", "1",
                             "--quiet"], cwd=run, env=env, capture_output=True, text=True, encoding="utf-8",
                       errors="replace", timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    p = subprocess.run(py + ["-m", "vbq_cli", "cohort", "analyze", "demo/data/clinical.csv", "--vbq-results",
                             "demo/data/vbq_results.csv", "--plan", "lu2024", "--out", "analysis", "--quiet"],
                       cwd=run, env=env, capture_output=True, text=True, encoding="utf-8", errors="replace",
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert (run / "analysis" / "report.html").is_file() and (run / "analysis" / "results.json").is_file()
