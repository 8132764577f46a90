"""Diagram cells: a code cell of exactly one line, `course_utils.diagrams.draw("NAME")`,
whose output `python -m course_utils nav` writes from `course_utils.diagrams` (no need
to run the notebook), and `nav --check` compares: a drawing changed in the module and
not in a notebook is reported as drift. The pixels are compared only under the
matplotlib that drew them (the output's metadata says which): the other stack's
matplotlib draws other bytes, and there only the alt text and the formats are checked.

nav also tags the cell `remove-input` (the web book shows the picture, not the line of
code) and gives it the diagram's alt text for the book (`mystnb.image.alt`).
"""

from __future__ import annotations

import re

import matplotlib
import nbformat

from course_utils import diagrams

CELL = re.compile(r'^\s*course_utils\.diagrams\.draw\("(?P<name>[\w-]+)"\)\s*$')
TAG = "remove-input"


class UnknownDiagram(ValueError):
    """A diagram cell names no diagram of `course_utils.diagrams`."""


def name_of(cell) -> str | None:
    """The diagram a cell shows, or None for any other cell."""
    if cell.cell_type != "code":
        return None
    match = CELL.match(cell.source)
    return match["name"] if match else None


def expected_output(name: str):
    if name not in diagrams.DIAGRAMS:
        raise UnknownDiagram(f'course_utils.diagrams.draw("{name}"): no such diagram; '
                             f"there are {', '.join(diagrams.DIAGRAMS)}")
    data, metadata = diagrams.draw(name).mimebundle()
    return nbformat.v4.new_output("display_data", data=data, metadata=metadata)


def _comparable(output) -> tuple:
    """What must match: the data (base64 without line breaks) and metadata, whatever the
    output's type (running the cell stores an execute_result, nav a display_data)."""
    data = {mime: re.sub(r"\s", "", value) if mime == "image/png" else
            "".join(value) if isinstance(value, list) else value
            for mime, value in output.get("data", {}).items()}
    return data, dict(output.get("metadata", {}))


def _drawn_elsewhere(output) -> bool:
    """True when a stored output was drawn by another matplotlib than this one (the
    other stack's): its pixels cannot be compared here, only the rest."""
    drawn_with = output.get("metadata", {}).get("image/png", {}).get("matplotlib")
    return drawn_with is not None and drawn_with != matplotlib.__version__


def _same_output(stored, expected) -> bool:
    if not _drawn_elsewhere(stored):
        return _comparable(stored) == _comparable(expected)
    data, _ = _comparable(stored)
    return (set(data) == set(expected["data"])
            and data.get("text/plain") == expected["data"]["text/plain"])


def _cell_matches(cell, name: str) -> bool:
    expected = expected_output(name)
    outputs = [o for o in cell.get("outputs", []) if o.get("output_type") in
               ("display_data", "execute_result")]
    return (len(outputs) == len(cell.get("outputs", [])) == 1
            and _same_output(outputs[0], expected)
            and TAG in cell.metadata.get("tags", [])
            and cell.metadata.get("mystnb", {}).get("image", {}).get("alt")
            == diagrams.draw(name).alt)


def stale(nb) -> list[str]:
    """The diagrams of `nb` whose stored cell differs from what nav writes. An unknown
    name raises UnknownDiagram."""
    return [name for name, cell in ((name_of(c), c) for c in nb.cells)
            if name is not None and not _cell_matches(cell, name)]


def apply(nb) -> list[str]:
    """Write each diagram cell's output, tag and alt text (in place); returns the names
    of the diagrams that changed."""
    changed, count = [], 0
    for cell in nb.cells:
        name = name_of(cell)
        count = cell.get("execution_count") or count
        if name is None or _cell_matches(cell, name):
            continue
        cell.outputs = [expected_output(name)]
        # A cell with outputs and no execution count is "unrun" to nbval, which fails it:
        # give it the count it would have after the code cell above it.
        cell.execution_count = cell.execution_count or count + 1
        tags = cell.metadata.setdefault("tags", [])
        if TAG not in tags:
            tags.append(TAG)
        cell.metadata.setdefault("mystnb", {})["image"] = {"alt": diagrams.draw(name).alt}
        changed.append(name)
    return changed
