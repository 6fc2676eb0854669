"""Python packages a Slicer module needs (its ``requirements.txt``): which are missing, and installing them in
the Slicer application after the user agrees. Nothing to do with MRML; here because it needs ``slicer``."""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

import slicer


def missing_requirements(path) -> list[str]:
    """Lines of a requirements.txt whose requirement is not satisfied in this Python (markers honoured)."""
    from packaging.requirements import Requirement

    missing = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate():
                continue
            try:
                if not req.specifier.contains(version(req.name), prereleases=True):
                    missing.append(line)
            except PackageNotFoundError:
                missing.append(line)
    return missing



def ensure_requirements(path, requester: str, prompt: bool = True) -> bool:
    """In the Slicer application: install what ``path`` (requirements.txt) lists and is missing, after the
    user agrees. Slicer >= 5.12: ``slicer.packaging.pip_ensure`` (it asks, shows progress and offers a restart);
    older Slicer: a confirmation dialog, then ``slicer.util.pip_install``. Returns False when the user declines.
    Never called at import time."""
    missing = missing_requirements(path)
    if not missing:
        return True
    try:  # Slicer >= 5.12; a submodule: must be imported, not just looked up on ``slicer``
        pip_ensure = importlib.import_module("slicer.packaging").pip_ensure
    except (ImportError, AttributeError):
        pip_ensure = None
    if pip_ensure is not None:
        from packaging.requirements import Requirement

        try:
            pip_ensure([Requirement(r) for r in missing], prompt_install=prompt, requester=requester)
        except RuntimeError:  # declined by the user
            return False
        return not missing_requirements(path)
    app = getattr(slicer, "app", None)
    if app is not None and app.testingEnabled():
        # like pip_ensure(skip_in_testing=True): tests never install packages (confirmOkCancelDisplay would
        # return OK without asking in testing mode)
        return False
    if prompt and not slicer.util.confirmOkCancelDisplay(
            f"{requester} needs these Python packages, which will be downloaded and installed now:\n\n"
            + "\n".join(missing), windowTitle="Install Python packages"):
        return False
    slicer.util.pip_install(missing)
    return not missing_requirements(path)
