"""The course's diagrams, drawn by code: one function per diagram, one source each.

A notebook shows a diagram with a code cell of exactly one line,

    course_utils.diagrams.draw("fedavg_round")

whose output is a PNG and an SVG of the same drawing, with the diagram's alt text as its
text. `python -m course_utils nav` writes that output from this module (the notebook
need not run), and `nav --check` reports a stored output that differs from what this
module draws (`course_utils/authoring/diagram_cells.py`).

Why an output and not an image in a markdown cell: an output's PNG renders everywhere
the course is read (JupyterLab, also in a notebook it does not trust, GitHub's viewer,
Colab, the web book), while GitHub strips `data:` images from markdown, JupyterLab does
not show SVG cell attachments, and it shows an SVG output only in a trusted notebook (it
then falls back to the PNG). The drawings are deterministic (no dates, fixed ids), so
running the cell stores the very output `nav` writes.
"""

from __future__ import annotations

import base64
import functools
import io
from dataclasses import dataclass
from typing import Callable

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

WIDTH_IN = 9.0  # inches; at DPI the PNG is 990 pixels wide
DPI = 110
FONT = 11
TEXT_SCALE = 1.15  # the book shows the SVG about 0.85 times its size: text stays >= 13 px
SERVER_COLOR, CLIENT_COLOR, NOTE_COLOR = "#dbe9f6", "#e3f1df", "#fbeed5"
EDGE, ACCENT, MUTED = "#333333", "#b0413e", "#555555"


@dataclass(frozen=True)
class Diagram:
    name: str
    alt: str  # what the picture shows, for those who cannot see it
    draw: Callable[[Figure], None]
    height_in: float

    def figure(self) -> Figure:
        fig = Figure(figsize=(WIDTH_IN, self.height_in))
        self.draw(fig)
        return fig

    def mimebundle(self) -> tuple[dict, dict]:
        """(data, metadata) of the output: PNG, SVG and the alt text as text/plain."""
        data, metadata = _render(self)
        return dict(data), {"image/png": dict(metadata["image/png"])}

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.mimebundle()


@functools.lru_cache(maxsize=None)
def _render(diagram: Diagram) -> tuple[dict, dict]:
    """The output of `diagram`, drawn once per process."""
    fig = diagram.figure()
    png, svg = io.BytesIO(), io.StringIO()
    fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
    with matplotlib.rc_context({"svg.hashsalt": diagram.name, "svg.fonttype": "none"}):
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    data = {"image/png": base64.b64encode(png.getvalue()).decode("ascii"),
            "image/svg+xml": svg.getvalue(), "text/plain": diagram.alt}
    # The pixels depend on matplotlib's version: nav --check compares them only under
    # the version that drew them (authoring/diagram_cells.py).
    return data, {"image/png": {"alt": diagram.alt, "matplotlib": matplotlib.__version__}}


# ------------------------------------------------------------------ drawing helpers


def _axes(fig: Figure, height: float):
    """Axes filling the figure, in units where the width is 100."""
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def _box(ax, x, y, w, h, text, color, size=FONT, weight="normal", edge=EDGE, style="round"):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=f"{style},pad=0.3,rounding_size=1.2"
                                if style == "round" else style, fc=color, ec=edge, lw=1.2))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size * TEXT_SCALE,
            weight=weight, linespacing=1.35)


def _arrow(ax, start, end, color=EDGE, lw=1.6, style="-|>", rad=0.0):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14, lw=lw,
                                 color=color, connectionstyle=f"arc3,rad={rad}",
                                 shrinkA=2, shrinkB=2))


def _text(ax, x, y, text, size=FONT, color=EDGE, ha="center", va="center", **kw):
    ax.text(x, y, text, fontsize=size * TEXT_SCALE, color=color, ha=ha, va=va, linespacing=1.35, **kw)


# ------------------------------------------------------------------------ diagrams


def _fedavg_round(fig: Figure) -> None:
    ax = _axes(fig, 59)
    _box(ax, 28, 42, 44, 8, "SERVER\nmodel weights  w   (w@SERVER)", SERVER_COLOR,
         weight="bold")
    for index, (i, x) in enumerate(zip((1, 2, "k"), (4, 37, 70))):
        _box(ax, x, 8, 26, 11, f"client {i}\nits own data $D_{{{i}}}$, $n_{{{i}}}$ examples"
             f"\n$w_{{{i}}}$ ← local SGD from w", CLIENT_COLOR, size=10)
        top = 33 + index * 15
        _arrow(ax, (top, 41.5), (x + 8, 20), color="#2b6cb0")
        _arrow(ax, (x + 16, 20), (top + 5, 41.5), color=ACCENT)
    _text(ax, 10, 33, "1 broadcast\nw to the clients\nof the round\n(w@CLIENTS)", size=10,
          color="#2b6cb0")
    _text(ax, 90, 33, "3 aggregate\nmean of the $w_i$\nat the server", size=10,
          color=ACCENT)
    _text(ax, 50, 3, "2 client update: each client trains on its own data, which never "
          "leaves it", size=10)
    _text(ax, 50, 54, "4 server update: w ← w + mean of the updates $(w_i - w)$ = mean of "
          "the $w_i$\n(server learning rate 1; weighted: $\\sum n_i w_i \\,/\\, \\sum n_i$, "
          "unweighted: each client counts once)", size=10)
    _text(ax, 33.5, 13.5, "…", size=16)
    _text(ax, 66.5, 13.5, "…", size=16)


def _fc_types(fig: Figure) -> None:
    ax = _axes(fig, 48)
    _text(ax, 50, 43, "( {float32}@CLIENTS  →  float32@SERVER )", size=17, family="monospace",
          weight="bold")
    notes = [((15, 30), 18.9, "{ … }  one value per client;\nthe clients' values may differ"),
             ((33, 22), 27.5, "float32  the member type:\nwhat each value is"),
             ((52, 30), 41, "@CLIENTS  the placement:\nwhere the values live"),
             ((81, 30), 68, "float32@SERVER, no braces:\none value, at the server")]
    for (x, y), anchor, note in notes:
        _arrow(ax, (x, y + 3.5), (anchor, 40), color=MUTED, lw=1.0)
        _text(ax, x, y, note, size=9.5)
    _text(ax, 7, 43, "a function:", size=10, color=MUTED)
    for i, (x, value) in enumerate(zip((8, 24, 40), ("68.5", "70.3", "69.8"))):
        _box(ax, x, 5, 12, 8, f"client {i + 1}\n{value}", CLIENT_COLOR, size=10)
        ax.plot([x + 6, x + 6], [4.6, 2], color=ACCENT, lw=1.4)  # every client reports
    ax.plot([14, 72], [2, 2], color=ACCENT, lw=1.4)
    _arrow(ax, (72, 1.6), (72, 4.9), color=ACCENT, lw=1.4)
    _text(ax, 59, 3.6, "mean", size=9, color=ACCENT)
    _box(ax, 64, 5, 16, 8, "SERVER\n69.53", SERVER_COLOR, size=10)
    _text(ax, 30, 16.5, "{float32}@CLIENTS: 3 clients, 3 readings", size=10, color=MUTED)
    _text(ax, 72, 16.5, "float32@SERVER", size=10, color=MUTED)


def _round_split(fig: Figure) -> None:
    ax = _axes(fig, 58)
    _text(ax, 50, 55, "one round, 10 clients, 3 workers: slices of ceil(remaining clients / "
          "remaining workers)", size=10)
    shares = ((0, 4), (4, 3), (7, 3))
    tops = []
    for w, (x, (first, count)) in enumerate(zip((4, 37, 70), shares), start=1):
        for j in range(count):
            cx = x + j * 7 + (3.5 if count == 3 else 0)
            _box(ax, cx, 44, 5, 5, f"c{first + j}", CLIENT_COLOR, size=9)
        _box(ax, x, 27, 26, 10, f"worker {w}:  up_to_merge\non its {count} clients → "
             "partial\naggregate (sum, count)", "#eeeeee", size=9.5)
        _arrow(ax, (x + 13, 43), (x + 13, 37.5))
        tops.append(x + 13)
    _box(ax, 22, 12, 22, 6, "merge: add two partials", NOTE_COLOR, size=9.5)
    _box(ax, 56, 12, 22, 6, "merge: add the third", NOTE_COLOR, size=9.5)
    _text(ax, 89.5, 15, "merged in the order\nthe workers finish\n(drawn: 1, 2, then 3)",
          size=9, color=MUTED)
    _arrow(ax, (tops[0], 26.5), (30, 18.5))
    _arrow(ax, (tops[1], 26.5), (36, 18.5))
    _arrow(ax, (44.3, 15), (55.7, 15))
    _arrow(ax, (tops[2], 26.5), (70, 18.5))
    _box(ax, 44, 1, 52, 6, "after_merge: sum / count, then server_update → new w",
         SERVER_COLOR, size=9.5)
    _arrow(ax, (67, 11.5), (67, 7.5))
    _text(ax, 18, 5, "the same model as on one worker,\nup to float rounding", size=9.5,
          color=MUTED)


def _scaffold(fig: Figure) -> None:
    ax = _axes(fig, 50)
    start, drifted, corrected = (16, 12), (36, 12), (25, 28.2)
    ax.plot(*start, "o", color=EDGE)
    _text(ax, start[0] - 2, start[1] - 3, "y = x\n(the server's\nweights)", size=9.5,
          va="top")
    ax.plot(34, 44.4, marker="*", ms=16, color=ACCENT)
    _text(ax, 31.5, 44.4, "optimum of all clients' data", size=10, color=ACCENT, ha="right")
    ax.plot(54, 12, marker="*", ms=12, color=MUTED)
    _text(ax, 54, 8.5, "optimum of client i's\nown data", size=10, color=MUTED, va="top")
    _arrow(ax, start, drifted, color=MUTED, lw=2)
    _text(ax, 32, 9, "$-g_i(y)$: client i's step,\npulled to its data", size=10,
          color=MUTED, va="top")
    _arrow(ax, drifted, corrected, color="#2b6cb0", lw=1.8)
    _text(ax, 32.5, 22, "$-(c - c_i)$", size=11, color="#2b6cb0", ha="left")
    _arrow(ax, start, corrected, color=ACCENT, lw=2.4)
    _text(ax, 19, 27, "corrected step\n$-(g_i(y) - c_i + c)$", size=10, color=ACCENT,
          ha="right")
    _box(ax, 62, 18, 36, 26,
         "each local step:  $y \\leftarrow y - \\eta\\,(g_i(y) - c_i + c)$\n\n"
         "$c_i$: client i's estimate of its own\ngradient (kept from round to round)\n"
         "$c$: the server's estimate of the\nmean gradient over all clients\n"
         "$c - c_i$ pushes back as much as\nclient i usually pulls",
         NOTE_COLOR, size=9.5)
    _text(ax, 80, 8, "FedAvg's client takes the grey step\nK times: it drifts towards\n"
          "its own optimum", size=9.5, color=MUTED)


def _dp_pipeline(fig: Figure) -> None:
    ax = _axes(fig, 42)
    _text(ax, 1, 39, "at each client: its update $u_i = w_i - w$ (new weights − the server's), "
          "clipped as a whole", size=9.5, color=MUTED, ha="left")
    for k, y in enumerate((29, 20, 11)):
        label = ("$u_1$", "$u_2$", "$u_n$")[k]
        _box(ax, 1, y, 7, 5, label, CLIENT_COLOR, size=11)
        _box(ax, 12, y, 19, 5, f"{label}·min(1, C / ‖{label}‖)", CLIENT_COLOR, size=9.5)
        _arrow(ax, (8.5, y + 2.5), (11.6, y + 2.5))
        _arrow(ax, (31.5, y + 2.5), (37.6, 22.5))
    boxes = [(38, 8, "sum"), (49.5, 19, "+ noise $N(0, \\sigma^2 C^2 I)$,\nONCE"),
             (72.5, 24.5, "÷ m, the expected number\nof clients per round\n(fixed: not how many came)")]
    for i, (x, w, text) in enumerate(boxes):
        _box(ax, x, 19, w, 7 if i < 2 else 8, text, SERVER_COLOR, size=9.5)
        if i:
            previous = boxes[i - 1]
            _arrow(ax, (previous[0] + previous[1] + 0.4, 22.5), (x - 0.4, 22.5))
    _box(ax, 72.5, 4, 24.5, 6, "server update:\n$w \\leftarrow w + \\Delta$", SERVER_COLOR,
         size=9.5)
    _arrow(ax, (84.75, 18.5), (84.75, 10.5))
    _text(ax, 67, 31.5, "at the server: Δ = (clipped sum + noise) / m", size=9.5,
          color=MUTED)
    _text(ax, 35, 6, "clipping: no client moves the sum by more than C;\n"
          "noise of std σ·C hides any one client", size=9.5, color=MUTED)


def _secure_masks(fig: Figure) -> None:
    ax = _axes(fig, 44)
    rows = [("client 1", "$x_1 + r_{12} + r_{13}$"), ("client 2", "$x_2 - r_{12} + r_{23}$"),
            ("client 3", "$x_3 - r_{13} - r_{23}$")]
    for k, (name, sent) in enumerate(rows):
        y = 32 - k * 11
        _box(ax, 2, y, 12, 6, f"{name}\n$x_{k + 1}$", CLIENT_COLOR, size=10)
        _box(ax, 26, y, 24, 6, f"sends {sent}", "#eeeeee", size=10.5)
        _arrow(ax, (14.5, y + 3), (25.5, y + 3))
        _arrow(ax, (50.5, y + 3), (61.5, 22.5))
    _box(ax, 62, 15, 36, 15, "SERVER adds what it got:\n$x_1 + x_2 + x_3$\n"
         "(every $r_{ij}$ comes once with +\nand once with −)", SERVER_COLOR, size=10)
    _text(ax, 2, 4, "each pair of clients i < j agrees on a random mask $r_{ij}$: i adds it, "
          "j subtracts it (all modulo $2^{bits}$).\nOne masked value looks random; the "
          "masks cancel only in the sum.", size=9.5, color=MUTED, ha="left")
    _text(ax, 38, 42, "what the server receives", size=9.5, color=MUTED)


DIAGRAMS = {d.name: d for d in [
    Diagram("fedavg_round",
            "One round of FedAvg. 1, broadcast: the server sends its weights w to each "
            "client of the round. 2, client update: each client i trains w on its own data "
            "(n_i examples) with local SGD and gets w_i; the data never leaves it. "
            "3, aggregate: the clients' w_i go to the server, which takes their mean "
            "(unweighted, or weighted by n_i). 4, server update: that mean is the new w.",
            _fedavg_round, 5.9),
    Diagram("fc_types",
            "The type ({float32}@CLIENTS -> float32@SERVER) read part by part: the braces "
            "mean one value per client, possibly different; float32 is the member type; "
            "@CLIENTS is the placement; float32@SERVER without braces is one value at the "
            "server. Example: three clients hold 68.5, 70.3 and 69.8; tff.federated_mean "
            "gives 69.53 at the server.",
            _fc_types, 4.8),
    Diagram("round_split",
            "How TFF splits a round of 10 clients over 3 workers: worker 1 gets clients 0 "
            "to 3, worker 2 clients 4 to 6, worker 3 clients 7 to 9. Each runs up_to_merge "
            "on its clients and returns a partial aggregate, a sum and a count. merge adds "
            "the partial aggregates two at a time, in the order the workers finish; "
            "after_merge divides the sum by the count and "
            "runs server_update, giving the new weights.",
            _round_split, 5.8),
    Diagram("scaffold",
            "SCAFFOLD's correction. From the server's weights x, client i's own gradient "
            "step -g_i(y) points towards the optimum of its own data: FedAvg's client "
            "drifts there. SCAFFOLD adds -(c - c_i), where c_i estimates client i's "
            "gradient and c the mean gradient over all clients, so the corrected step "
            "-(g_i(y) - c_i + c) points towards the optimum of all clients' data.",
            _scaffold, 5.0),
    Diagram("dp_pipeline",
            "DP-FedAvg's aggregation. Each client clips its update u_i (its new weights "
            "minus the server's weights w) as a whole to L2 norm at most C. The server sums "
            "the clipped updates, adds Gaussian noise N(0, sigma^2 C^2 I) once to the sum, "
            "and divides by m, the fixed expected number of clients per round (not the "
            "number that came), giving Delta; the server update is w <- w + Delta.",
            _dp_pipeline, 4.2),
    Diagram("secure_masks",
            "Secure aggregation's pairwise masks with three clients. Each pair of clients "
            "i < j shares a random mask r_ij; client i adds it and client j subtracts it, "
            "modulo 2 to the bits. Client 1 sends x1 + r12 + r13, client 2 sends x2 - r12 + "
            "r23, client 3 sends x3 - r13 - r23. Each message alone looks random; in the "
            "server's sum every mask cancels and it gets x1 + x2 + x3.",
            _secure_masks, 4.4),
]}


def draw(name: str) -> Diagram:
    """The diagram `name` (one of DIAGRAMS): a notebook cell's last value displays it."""
    try:
        return DIAGRAMS[name]
    except KeyError:
        raise ValueError(f"no diagram {name!r}: choose one of {', '.join(DIAGRAMS)}") from None
