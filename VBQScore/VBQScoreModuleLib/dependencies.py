"""Installing the Python packages a VBQ module needs inside Slicer, on Apply, after the user agrees.

The outcome is one of three, never confused: everything is there (True), the user declined (False: the caller
stops quietly), or the installation failed (:class:`InstallFailed` with the packages and pip's error: the caller
shows it). The question lists the packages; while pip runs, Slicer >= 5.12 shows its own progress dialog
(``slicer.packaging.pip_ensure(show_progress=True)``) and Slicer 5.10 (no ``slicer.packaging``; its
``slicer.util.pip_install`` blocks under no visible sign) a modal busy dialog naming the packages.
"""

from __future__ import annotations

import importlib


class InstallFailed(RuntimeError):
    """pip could not install the packages, or they are still missing afterwards."""


def _pip_ensure():
    try:  # Slicer >= 5.12; a submodule: must be imported, not just looked up on ``slicer``
        return importlib.import_module("slicer.packaging").pip_ensure
    except (ImportError, AttributeError):
        return None


def question(requester: str, missing: list[str]) -> str:
    return (f"{requester} needs these Python packages, which will be downloaded from the Python Package Index and "
            "installed into Slicer's Python now:\n\n" + "\n".join(f"- {m}" for m in missing))


def ensure_requirements(path, requester: str, prompt: bool = True, slicer_module=None) -> bool:
    """Install what ``path`` (a requirements.txt) lists and this Python lacks. See the module docstring."""
    from VBQScoreLib.mrml import missing_requirements

    missing = missing_requirements(path)
    if not missing:
        return True
    if slicer_module is None:
        import slicer as slicer_module
    slicer = slicer_module
    app = getattr(slicer, "app", None)
    if app is not None and app.testingEnabled():
        # like pip_ensure(skip_in_testing=True): tests never install packages (confirmOkCancelDisplay answers OK
        # by itself in testing mode)
        return False
    if prompt and not slicer.util.confirmOkCancelDisplay(question(requester, missing),
                                                         windowTitle=f"{requester}: install Python packages"):
        return False  # declined: nothing installed, nothing to report
    pip_ensure = _pip_ensure()
    try:
        if pip_ensure is not None:
            from packaging.requirements import Requirement

            # asked above: with prompt_install=False every exception of pip_ensure is a failure, not a "no"
            pip_ensure([Requirement(r) for r in missing], prompt_install=False, requester=requester)
        else:
            _pip_install_with_busy_dialog(slicer, requester, missing)
    except Exception as exc:  # CalledProcessError, RuntimeError ("pip install already in progress"), OSError
        raise InstallFailed(f"installing {', '.join(missing)} failed ({exc.__class__.__name__}: {exc}); "
                            "see the Python console for pip's messages") from exc
    still = missing_requirements(path)
    if still:
        raise InstallFailed(f"{', '.join(still)} still missing after the installation; see the Python console "
                            "for pip's messages (a restart of Slicer may be needed)")
    return True


def _pip_install_with_busy_dialog(slicer, requester: str, missing: list[str]) -> None:
    """Slicer 5.10: ``slicer.util.pip_install`` blocks until pip ends (it prints pip's output to the Python
    console and processes events per line): a modal busy dialog says what is being installed meanwhile."""
    dialog: object | None = None
    try:
        import qt

        dialog = slicer.util.createProgressDialog(
            value=0, maximum=0, windowTitle=f"{requester}: installing Python packages",
            labelText="Installing " + ", ".join(missing) + "\n(pip's messages are in the Python console)",
            autoClose=False, autoReset=False, windowModality=qt.Qt.ApplicationModal)
        dialog.setCancelButton(None)  # pip cannot be interrupted safely
        slicer.app.processEvents()
    except Exception:  # noqa: BLE001 - Slicer install helper: no GUI (PythonSlicer): install without the dialog
        dialog = None
    try:
        slicer.util.pip_install(missing)
    finally:
        if dialog is not None:
            dialog.close()


def undeclared_slicer_modules(source_path, module_name: str, declared) -> list[str]:
    """The ``slicer.modules.<name>`` that the module file ``source_path`` uses but does not declare in
    ``declared`` (its ``parent.dependencies``), lower-case and sorted; the module itself and its widget excepted
    (its own tests select it). The in-Slicer tests of both modules assert this is empty."""
    import re
    from pathlib import Path

    used = {u.lower() for u in re.findall(r"slicer\.modules\.(\w+)", Path(source_path).read_text(encoding="utf-8"))}
    used -= {module_name.lower(), f"{module_name}widget".lower()}
    return sorted(used - {d.lower() for d in declared})
