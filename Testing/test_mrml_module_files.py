"""Static checks of the Slicer module files that the Slicer application would otherwise only find at run time:
every widget the code uses exists in the .ui, every SlicerParameterName is a parameter-node field, every .py of
the modules and Libs and every resource is listed in the module CMakeLists, icons are 128x128, the catalog
entry follows schema v1.0.1."""

from __future__ import annotations

import ast
import json
import re
import xml.etree.ElementTree as ET

import pytest

from helpers import REPO

MODULES = {"VBQScore": "VBQScoreParameterNode", "VBQCohort": "VBQCohortParameterNode"}


def _ui(module):
    root = ET.parse(REPO / module / "Resources" / "UI" / f"{module}.ui").getroot()
    widgets = {w.get("name"): w.get("class") for w in root.iter("widget")}
    params = {}
    for w in root.iter("widget"):
        for p in w.findall("property"):
            if p.get("name") == "SlicerParameterName":
                params[p.find("string").text] = (w.get("name"), w.get("class"))
    return widgets, params


def _module_ast(module):
    return ast.parse((REPO / module / f"{module}.py").read_text(encoding="utf-8"))


def _ui_attributes(tree):
    """Names used as ``<something>.ui.<name>``."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "ui":
            out.add(node.attr)
    return out


def _parameter_fields(tree, cls_name):
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls_name:
            fields = {}
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign):
                    fields[stmt.target.id] = ast.unparse(stmt.annotation)
            return fields
    raise AssertionError(f"{cls_name} not found")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_ui_widgets_used_by_the_code_exist(module):
    widgets, _ = _ui(module)
    missing = sorted(_ui_attributes(_module_ast(module)) - set(widgets))
    assert missing == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_slicer_parameter_names_are_parameter_fields_with_matching_widgets(module):
    _, params = _ui(module)
    fields = _parameter_fields(_module_ast(module), MODULES[module])
    assert set(params) <= set(fields), sorted(set(params) - set(fields))
    # widget classes the parameter node wrapper can bind to each type (Slicer's guiConnectors.py)
    for name, (_widget, cls) in params.items():
        t = fields[name]
        if t.startswith("vtkMRML"):
            assert cls == "qMRMLNodeComboBox", (name, cls)
        elif "Choice" in t:
            assert cls == "QComboBox", (name, cls)
        elif t.startswith("Annotated[float") or t == "float":
            assert cls in ("QDoubleSpinBox", "ctkSliderWidget"), (name, cls)
            assert "WithinRange" in t or cls == "QDoubleSpinBox"
        elif t.startswith("Annotated[int") or t == "int":
            assert cls in ("QSpinBox", "QSlider"), (name, cls)
        elif t == "bool":
            assert cls in ("QCheckBox", "QPushButton"), (name, cls)
        elif t == "str":
            assert cls in ("QLineEdit", "QTextEdit"), (name, cls)  # ctkPathLineEdit binds only pathlib types
        else:
            raise AssertionError(f"unchecked type {t} for {name}")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_ui_connects_the_scene_to_every_mrml_widget(module):
    root = ET.parse(REPO / module / "Resources" / "UI" / f"{module}.ui").getroot()
    mrml_widgets = {w.get("name") for w in root.iter("widget")
                    if w.get("class") in ("qMRMLNodeComboBox", "qMRMLSegmentEditorWidget", "qMRMLTableView")}
    receivers = {c.find("receiver").text for c in root.iter("connection")
                 if c.find("signal").text == "mrmlSceneChanged(vtkMRMLScene*)"}
    assert mrml_widgets <= receivers, sorted(mrml_widgets - receivers)


def _cmake_list(module, var):
    text = (REPO / module / "CMakeLists.txt").read_text(encoding="utf-8")
    m = re.search(rf"set\({var}\n(.*?)\n\s*\)", text, re.S)
    return [line.strip() for line in m.group(1).splitlines() if line.strip()]


@pytest.mark.parametrize("module,libs", [("VBQScore", ["VBQScoreLib"]),
                                         ("VBQCohort", ["VBQCohortLib", "VBQCohortModuleLib"])])
def test_cmake_lists_every_python_file_and_resource(module, libs):
    scripts = _cmake_list(module, "MODULE_PYTHON_SCRIPTS")
    resources = _cmake_list(module, "MODULE_PYTHON_RESOURCES")
    on_disk = {f"{module}.py"}
    for lib in libs:
        on_disk |= {str(p.relative_to(REPO / module)) for p in (REPO / module / lib).rglob("*.py")
                    if "__pycache__" not in p.parts}
    assert on_disk <= set(scripts), sorted(on_disk - set(scripts))
    for f in scripts + resources:
        assert (REPO / module / f).is_file(), f
    assert f"Resources/UI/{module}.ui" in resources and f"Resources/Icons/{module}.png" in resources
    assert any(r.endswith(".txt") and "equirements" in r for r in resources)
    cmake = (REPO / module / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "WITH_GENERIC_TESTS" in cmake and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in cmake


def test_resource_names_do_not_collide_between_modules():
    """All modules of an extension install their resources into one folder."""
    a = set(_cmake_list("VBQScore", "MODULE_PYTHON_RESOURCES"))
    b = set(_cmake_list("VBQCohort", "MODULE_PYTHON_RESOURCES"))
    assert a & b == set()


def test_icons_are_128():
    from PIL import Image

    for p in ("Resources/Icons/VBQ.png", "VBQScore/Resources/Icons/VBQScore.png",
              "VBQCohort/Resources/Icons/VBQCohort.png"):
        assert Image.open(REPO / p).size == (128, 128), p


def test_extension_catalog_entry_and_top_cmake():
    d = json.loads((REPO / "VBQ.json").read_text(encoding="utf-8"))
    allowed = {"$schema", "category", "scm_url", "scm_revision", "scm_type", "build_dependencies",
               "build_subdirectory", "enabled", "tier"}  # schema v1.0.1, additionalProperties false
    assert set(d) <= allowed and {"$schema", "category", "scm_url"} <= set(d)
    assert d["$schema"].endswith("slicer-extension-catalog-entry-schema-v1.0.1.json#")
    assert d["tier"] in (1, 3, 5) and d["scm_type"] in ("git", "local")
    top = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    for needle in ("project(VBQ)", "EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS",
                   "EXTENSION_DESCRIPTION", "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS", 'EXTENSION_DEPENDS "NA"',
                   "find_package(Slicer REQUIRED)", "include(${Slicer_USE_FILE})", "add_subdirectory(VBQScore)",
                   "add_subdirectory(VBQCohort)", "include(${Slicer_EXTENSION_GENERATE_CONFIG})",
                   "include(${Slicer_EXTENSION_CPACK})"):
        assert needle in top, needle
    assert f'set(EXTENSION_CATEGORY "{d["category"]}")' in top


def test_module_files_never_install_packages_at_import():
    """No call outside a function body (i.e. run at import or class creation) installs or imports the
    optional packages."""
    def calls_outside_functions(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        if isinstance(node, ast.Call):
            yield ast.unparse(node.func)
        for child in ast.iter_child_nodes(node):
            yield from calls_outside_functions(child)

    for module in MODULES:
        tree = _module_ast(module)
        calls = list(calls_outside_functions(tree))
        assert not [c for c in calls if "pip" in c or "ensure" in c.lower()], (module, calls)
        imported = {a.name.split(".")[0] for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
                    for a in n.names} | {n.module.split(".")[0] for n in tree.body
                                         if isinstance(n, ast.ImportFrom) and n.module}
        assert not imported & {"pandas", "statsmodels", "openpyxl", "matplotlib", "yaml", "slicerio",
                               "VBQCohortLib", "VBQScoreLib"}, (module, imported)
