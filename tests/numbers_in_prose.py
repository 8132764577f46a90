"""Numbers quoted in a notebook's prose that its stored outputs do not show.

What counts as "a number quoted" in a markdown cell (fenced code and inline code are
skipped: code shows a setting, not a result):
- a decimal (0.814, 1.5e-08, 1e-7, 2.5) or a percentage (81.4%);
- a whole number with a unit of measure (120 s, 31,400 bytes, 3.1 MB).
Not counted: other whole numbers (10 clients, notebook 05, 2026), versions (TFF 0.87,
TF 2.14, Python 3.11, x.y.z), exercise numbers (exercise 6.2), and numbers inside a
link target.

A quoted number is supported when one of the notebook's outputs (text, stream, HTML or
Markdown; not images) prints it, read tolerantly:
- the printed number rounded to the quoted digits gives the quoted number (0.8138 -> 0.814;
  1.497e-08 -> 1.5e-08); signs are ignored (a drop of 0.006 vs -0.006);
- 81.4% matches a printed 0.814 and the other way round; 0.2 s matches 200 ms.
A number written as a literal in the notebook's own code cells is supported too (it is a
setting the page shows: `CLIENT_LEARNING_RATE = 0.3`), and so is an entry of ALLOWED.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

# Settings and constants quoted in prose that no output need print, each with its reason.
ALLOWED = {
    "0.01": "the Building-Your-Own tutorial's client learning rate (SGD 0.01), a setting",
    "0.3": "the course's client learning rate (course_utils.settings), a setting",
    "0.5": "the midpoint's weight, 0.5 (w + w'), a constant of the algorithm",
    "1e-7": "Keras' probability clip (its backend epsilon), a constant of Keras",
    "30 s": "TFF's longest wait between retries (wait_max_ms=30*1000), a constant of TFF",
    "80.5%": "TFF's DP tutorial's reported accuracy without noise (their figure, cited)",
    "38.3%": "TFF's DP tutorial's reported accuracy at noise multiplier 1.0 (cited)",
    "79.6%": "TFF's DP tutorial's reported accuracy at noise multiplier 1.2 (cited)",
}

NUMBER = r"\d[\d,]*(?:\.\d+)?(?:[eE][-+−]?\d+)?"
UNITS = {  # unit -> factor to its base unit (seconds, bytes)
    "ms": 1e-3, "s": 1, "seconds": 1, "second": 1, "sec": 1, "min": 60, "minutes": 60,
    "bytes": 1, "byte": 1, "B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9,
    "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3,
}
UNIT = "|".join(sorted(map(re.escape, UNITS), key=len, reverse=True))
QUOTED = re.compile(
    rf"(?<![\w.\-/#])[-−]?({NUMBER})(?:\s?(%|{UNIT})(?![\w]))?(?![\w.]*\d)")
VERSION_BEFORE = re.compile(
    r"(?:TFF|TensorFlow|TF|tensorflow|Python|python|Keras|keras|jax|jaxlib|numpy|NumPy|"
    r"version|versions|v|tff|Colab|JupyterLab|nbval|pip|Ubuntu|>=|==|<=|<)\s*$")
PRINTED = re.compile(rf"(?<![\w.])[-−]?({NUMBER})(?:\s?(%|{UNIT})(?![\w]))?")


@dataclass(frozen=True)
class Quote:
    text: str  # as written, e.g. "81.4%"
    value: float  # in base units, percent as a fraction
    decimals: int  # digits after the point, in the written unit
    scale: float  # what the written unit multiplies by (0.01 for %)
    scientific: bool
    significant: int


def _parse(number: str, unit: str | None) -> Quote | None:
    plain = number.replace(",", "").replace("−", "-")
    try:
        value = float(plain)
    except ValueError:
        return None
    scale = 0.01 if unit == "%" else UNITS.get(unit or "", 1)
    mantissa = re.split("[eE]", plain)[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    digits = mantissa.replace(".", "").lstrip("0") or "0"
    written = number + ("" if unit in (None, "%") else " ") + (unit or "")
    return Quote(written, value * scale, decimals, scale,
                 bool(re.search("[eE]", plain)), len(digits))


def _prose(source: str) -> str:
    """A markdown cell without code, link targets, HTML tags and image data."""
    source = re.sub(r"```.*?```", " ", source, flags=re.S)
    source = re.sub(r"`[^`]*`", " ", source)
    source = re.sub(r"\]\([^)]*\)", "] ", source)
    source = re.sub(r"<[^>]+>", " ", source)
    source = re.sub(r"(?m)^#+\s*[\d.]+", " ", source)  # a section number: ### 3.1
    source = re.sub(r"(?i)\bexercises?\s+\d+\.\d+", " ", source)  # exercise 6.2
    source = re.sub(r"\*\*Time:\*\*[^\n]*", " ", source)  # the title's reading time
    return source


def quoted_numbers(markdown: str) -> list[Quote]:
    """The numbers a markdown cell quotes (see the module docstring)."""
    text = _prose(markdown)
    quotes = []
    for match in QUOTED.finditer(text):
        number, unit = match.group(1), match.group(2)
        if "." not in number and "e" not in number.lower() and not unit:
            continue  # a whole number without a unit: a count, a name, a year
        if re.fullmatch(r"\d+\.\d+\.\d+.*", number) or VERSION_BEFORE.search(
                text[:match.start()]):
            continue
        if unit is None and text[match.end():match.end() + 2] in {".x", ".X"}:
            continue  # "2.x"
        quote = _parse(number, unit)
        if quote is not None:
            quotes.append(quote)
    return quotes


def _output_text(output: dict) -> str:
    if "text" in output:
        return "".join(output["text"])
    data = output.get("data", {})
    parts = []
    for kind in ("text/plain", "text/markdown", "text/html", "text/latex"):
        if kind in data:
            value = data[kind]
            parts.append(value if isinstance(value, str) else "".join(value))
    if output.get("output_type") == "error":
        parts.append(output.get("evalue", ""))
    return html.unescape(re.sub(r"<[^>]+>", " ", "\n".join(parts)))


def printed_values(texts: list[str]) -> list[float]:
    """Every number in `texts`, in base units (a percentage as a fraction)."""
    values = []
    for text in texts:
        for match in PRINTED.finditer(text):
            quote = _parse(match.group(1), match.group(2))
            if quote is not None:
                values.append(quote.value)
    return values


def _rounds_to(printed: float, quote: Quote) -> bool:
    target, shown = abs(quote.value), abs(printed)
    if quote.scientific or (target and target < 10 ** -quote.decimals * quote.scale):
        if target == 0:
            return shown == 0
        exponent = math.floor(math.log10(target))
        step = 10 ** (exponent - quote.significant + 1)
    else:
        step = 10 ** -quote.decimals * quote.scale
    return abs(shown - target) <= step / 2 * (1 + 1e-9) + 1e-15


def supported(quote: Quote, printed: list[float]) -> bool:
    return any(_rounds_to(value, quote) for value in printed)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def unsupported_numbers(notebook: dict) -> list[tuple[int, str]]:
    """(cell index, number as written) for each quoted number nothing supports."""
    texts = [_output_text(out) for cell in notebook["cells"]
             for out in cell.get("outputs", [])]
    texts += [_source(cell) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    printed = printed_values(texts)
    found = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for quote in quoted_numbers(_source(cell)):
            if quote.text.replace(",", "") not in ALLOWED and not supported(quote, printed):
                found.append((index, quote.text))
    return found


def unsupported_in(path: Path) -> list[tuple[int, str]]:
    return unsupported_numbers(json.loads(Path(path).read_text()))
