"""Widget state of VBQ Score that must follow the inputs: the last result and the key it was computed for, the
Segment Editor's node selection, the attribute that marks the module's own output tables, cancellable progress."""

from __future__ import annotations

from typing import Any, Callable, Optional

#: attribute set on table nodes a VBQ module created for its output; the output/cohort selectors list only these
#: (qMRMLNodeComboBox.addAttribute), so a cohort spreadsheet or a plot table can never be chosen and wiped
TABLE_ROLE_ATTRIBUTE = "VBQ.TableRole"
RESULTS_ROLE = "results"
COHORT_ROLE = "cohort"


def node_id(node) -> Optional[str]:
    return node.GetID() if node is not None else None


def result_key(volumeNode, segmentationNode, options: dict, segmentationRevision: int = 0) -> Optional[tuple]:
    """What a VBQ result depends on: the volume, the segmentation (and how often its segments changed since the
    module started watching it), the preset and the measuring options. None when an input is missing."""
    if volumeNode is None or segmentationNode is None:
        return None
    return (node_id(volumeNode), node_id(segmentationNode), int(segmentationRevision),
            tuple(sorted((k, repr(v)) for k, v in (options or {}).items())))


class ResultHolder:
    """The last computed result together with the key of its inputs. ``current(key)`` gives the result only
    while the inputs are still the ones it was computed for and drops it otherwise; a failed recompute drops it
    (``clear``). Export CSV / Append to cohort table are enabled only while ``current`` returns a result."""

    def __init__(self) -> None:
        self.key: Optional[tuple] = None
        self.result: Any = None

    def store(self, key: Optional[tuple], result: Any) -> None:
        if key is None:
            raise ValueError("a result needs the inputs' key")
        self.key, self.result = key, result

    def clear(self) -> None:
        self.key, self.result = None, None

    def current(self, key: Optional[tuple]) -> Any:
        if self.result is not None and (key is None or key != self.key):
            self.clear()
        return self.result


def update_segment_editor(editor, segmentationNode, volumeNode) -> None:
    """Point the embedded ``qMRMLSegmentEditorWidget`` at the module's inputs.

    The source volume is set only once a segmentation is set: ``vtkSlicerSegmentEditorLogic`` logs "need to set
    segment editor and segmentation nodes first" for a source volume without a segmentation (the normal first
    screen, a volume loaded and no segmentation yet), and the widget would do so on every parameter change."""
    if not same_node(editor.segmentationNode(), segmentationNode):
        editor.setSegmentationNode(segmentationNode)
    if segmentationNode is None:
        return
    if not same_node(editor.sourceVolumeNode(), volumeNode):
        editor.setSourceVolumeNode(volumeNode)


def same_node(a, b) -> bool:
    """The same MRML node (by identity, or by ID for two Python wrappers of one scene node)."""
    if a is b:
        return True
    return a is not None and b is not None and a.GetID() is not None and a.GetID() == b.GetID()


def mark_table(tableNode, role: str):
    """Mark a table node as a VBQ output table of ``role`` (see :data:`TABLE_ROLE_ATTRIBUTE`)."""
    tableNode.SetAttribute(TABLE_ROLE_ATTRIBUTE, role)
    return tableNode


def check_table_role(tableNode, role: str, what: str) -> None:
    """Refuse to overwrite a table that is not a VBQ table of ``role`` (e.g. chosen by a script or an old scene
    before the selectors were restricted): ValueError naming the table."""
    if tableNode is None:
        return
    if tableNode.GetAttribute(TABLE_ROLE_ATTRIBUTE) != role:
        raise ValueError(f"table '{tableNode.GetName()}' was not made by VBQ Score as {what}: choose "
                         f"'Create new table' in the {what} selector (VBQ Score does not overwrite other tables)")


class CancelledByUser(KeyboardInterrupt):
    """Raised from a progress callback after the user pressed Cancel."""


class ProgressReporter:
    """``progress(done, total, message)`` callback over a progress dialog (duck-typed ``QProgressDialog``).

    Cancel is latched: once ``dialog.wasCanceled`` was seen, every later call raises, even if a phase reached its
    maximum (a ``QProgressDialog`` with ``autoReset`` resets ``wasCanceled`` at the maximum; the dialogs of the
    modules are created with ``autoReset`` and ``autoClose`` off, and this flag keeps a Cancel that was pressed
    while one phase ended). ``final_ok``: the last call (done == total of the last phase) may complete without
    raising when the work is already written (VBQ Cohort: the report); a Cancel seen there is still raised by
    the next call with ``done < total`` (the next phase)."""

    def __init__(self, dialog, process_events: Callable[[], None], labelled: bool = True,
                 final_ok: bool = False) -> None:
        self.dialog = dialog
        self.process_events = process_events
        self.labelled = labelled
        self.final_ok = final_ok
        self.cancelled = False

    def __call__(self, done: int, total: int, message: str = "") -> None:
        d = self.dialog
        if d.wasCanceled:  # read before the value is set: an auto-resetting dialog forgets Cancel at its maximum
            self.cancelled = True
        d.maximum = max(int(total), 1)
        d.value = min(int(done), d.maximum)
        d.labelText = f"{done} of {total}: {message}" if self.labelled else message
        self.process_events()
        if d.wasCanceled:
            self.cancelled = True
        if self.cancelled and not (self.final_ok and done >= total):
            raise CancelledByUser("cancelled")


PROGRESS_DIALOG_OPTIONS = dict(autoReset=False, autoClose=False)
