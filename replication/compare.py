"""The scales side by side: every claim's verdict, effect and interval at every scale whose report is committed,
read from the reports' results.json (nothing trains), as a markdown table and as one figure (a verdict matrix,
claims × scales, coloured by verdict, the effect in each cell). `replication compare` prints it; `./run readme`
puts it in the README between its markers."""

from __future__ import annotations

from pathlib import Path

from .atomic import atomic_write_bytes
from .registry import CLAIMS, SCALES
from .figures import plot_verdict_matrix
from .report import ClaimResult, fmt_number, markdown_table, read_results
from .verdicts import Verdict

START, END = "<!-- compare:start -->", "<!-- compare:end -->"
COLOURS = {Verdict.SUPPORTED: "#4caf50", Verdict.REFUTED: "#e57373", Verdict.INCONCLUSIVE: "#ffd54f",
           Verdict.NOT_TESTABLE: "#90caf9", Verdict.ERROR: "#9575cd", Verdict.NOT_RUN: "#e0e0e0"}


Results = dict[str, dict[str, ClaimResult]]  # scale -> claim id -> its result


def load(reports: Path) -> Results:
    """Every scale (in SCALES' order) with a results.json under `reports`."""
    out = {}
    for scale in SCALES:
        path = Path(reports) / scale / "results.json"
        if path.is_file():
            out[scale] = {r.claim.id: r for r in read_results(path)}
    return out


def _effect(result: ClaimResult | None) -> float | None:
    return result.decision.effect if result is not None and result.decision is not None else None


def cell(result: ClaimResult | None) -> str:
    """A verdict with the claim's effect and interval, as the report's summary shows them."""
    if result is None:
        return "–"
    d = result.decision
    if d is None or d.effect is None:
        return f"**{result.verdict}**"
    interval = "" if d.ci_low is None else f" [{fmt_number(d.ci_low)}, {fmt_number(d.ci_high)}]"
    return f"**{result.verdict}** {fmt_number(d.effect)}{interval}"


def table(by_scale: Results, reports: str = "reports") -> str:
    """A row per claim, a column per scale (its header links the scale's report, under `reports`)."""
    scales = list(by_scale)
    rows = [[c.number, f"`{c.id}`", c.figure, *(cell(by_scale[s].get(c.id)) for s in scales)]
            for c in sorted(CLAIMS.values(), key=lambda c: c.number)]
    links = [f"[{s}]({reports}/{s}/REPORT.md)" for s in scales]
    return markdown_table(["#", "claim", "paper", *links], rows)


def figure(by_scale: Results, path: Path) -> None:
    """The verdict matrix: a row per claim, a column per scale, each cell coloured by its verdict."""
    claims = sorted(CLAIMS.values(), key=lambda c: c.number)
    cells = []
    for claim in claims:
        row = []
        for scale in by_scale:
            result = by_scale[scale].get(claim.id)
            effect = _effect(result)
            verdict = result.verdict if result else None
            text = "–" if verdict is None else verdict.value + ("" if effect is None else f"\n{fmt_number(effect)}")
            row.append((COLOURS[verdict or Verdict.NOT_RUN], text))
        cells.append(row)
    plot_verdict_matrix(cells, [f"{c.number}. {c.id}" for c in claims], list(by_scale), path)


def update_readme(readme: Path, block: str) -> bool:
    """Put `block` between the README's compare markers; False where they are absent."""
    text = Path(readme).read_text()
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    atomic_write_bytes(Path(readme), f"{head}{START}\n{block}\n{END}{tail}".encode())
    return True
