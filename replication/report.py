"""The replication report: REPORT.md, figures, and results.json for one scale.

Claim tests produce `ClaimResult`s; the report is rendered from them alone, so
it can be rewritten at any time from results.json. figures.py draws the figures.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .atomic import atomic_write_bytes, atomic_write_json
from .stats import Decision, Precondition
from .verdicts import NOT_RUN, Verdict  # NOT_RUN re-exported

RESULT_KEYS = ("claim", "scale", "verdict", "reason", "decision", "wall_seconds")


@dataclass
class Table:
    title: str
    markdown: str


@dataclass
class Figure:
    caption: str
    path: str  # relative to the report (FigureFolder.link)


@dataclass
class Evidence:
    """What a claim shows beside its verdict. `a + b` keeps both's tables and figures, and a's texts where set."""

    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    configuration: str = ""
    differs: str = ""
    reference: str = ""  # the paper's values, where docs/paper.md has them

    def __add__(self, other: "Evidence") -> "Evidence":
        return Evidence(self.tables + other.tables, self.figures + other.figures,
                        self.configuration or other.configuration, self.differs or other.differs,
                        self.reference or other.reference)


@dataclass(frozen=True)
class DeclaredPart:
    """A part of the claim as declared (registry.Part): its rule, margin and unit. rule is None in a record written
    before 0.2, which declared one margin for the whole claim."""

    margin: float | None
    unit: str = ""
    rule: str | None = None


@dataclass(frozen=True)
class DeclaredClaim:
    """The claim as the registry declared it when it was decided (a record keeps it: the registry may change)."""

    id: str
    number: int
    statement: str
    figure: str
    comparison: str
    parts: list[DeclaredPart] = field(default_factory=list)
    beyond_paper: bool = False

    @classmethod
    def of(cls, claim: Any) -> DeclaredClaim:
        """From a registry.Claim."""
        return cls(claim.id, claim.number, claim.statement, claim.figure, claim.comparison,
                   [DeclaredPart(p.margin, p.unit, p.rule) for p in claim.parts], claim.beyond_paper)


@dataclass(frozen=True)
class Decided:
    """Which session decided a claim: a report merges results of several."""

    commit: str
    date: str


@dataclass
class ClaimResult:
    """One claim's outcome at one scale: the claim as declared, its Decision (None: not run) and evidence. The report
    renders these alone; results.json holds their `to_dict` and `from_dict` reads it back (records of 0.1 too)."""

    claim: DeclaredClaim
    scale: str
    decision: Decision | None
    wall_seconds: float = 0.0
    reason: str = ""  # why it was not run (a decision carries its own reason; this one is for records without)
    evidence: Evidence = field(default_factory=Evidence)
    known_refuted: str = ""  # why this claim is known not to replicate at this scale (Setup.known_refuted)
    refuted_parts: list[int] = field(default_factory=list)  # the parts known_refuted is about (Setup.refuted_parts)
    decided: Decided | None = None

    @property
    def verdict(self) -> Verdict:
        return self.decision.verdict if self.decision is not None else NOT_RUN

    @property
    def explanation(self) -> str:
        """Why the verdict is what it is: the decision's reason, or why the claim was not run."""
        return (self.decision.reason if self.decision is not None else "") or self.reason

    @property
    def parts(self) -> list[Decision]:
        """Each part's decision (a claim of one part: its decision)."""
        return [] if self.decision is None else self.decision.parts or [self.decision]

    def to_dict(self) -> dict[str, Any]:
        """The results.json record: the claim's fields at the top, the decision once, beneath."""
        out = {**asdict(self.claim), "claim": self.claim.id, "scale": self.scale, "verdict": self.verdict,
               "reason": self.explanation, "decision": self.decision.to_dict() if self.decision else None,
               "wall_seconds": self.wall_seconds, **asdict(self.evidence),
               "known_refuted": self.known_refuted, "refuted_parts": self.refuted_parts}
        return out | ({"decided": asdict(self.decided)} if self.decided else {})

    @classmethod
    def from_dict(cls, r: dict[str, Any]) -> ClaimResult:
        """A results.json record. One written before 0.2 has no declared parts (its margin and unit sit at the top,
        its parts are decisions) and no claim id beside `claim`."""
        declared = [DeclaredPart(p["margin"], p["unit"], p["rule"]) for p in r.get("parts", []) if "rule" in p]
        claim = DeclaredClaim(r.get("id", r["claim"]), r["number"], r["statement"], r["figure"], r["comparison"],
                              declared or [DeclaredPart(r.get("margin"), r.get("unit", ""))],
                              r.get("beyond_paper", False))
        decision = Decision.from_dict(r["decision"]) if r.get("decision") else None
        evidence = Evidence([Table(**t) for t in r.get("tables", [])], [Figure(**f) for f in r.get("figures", [])],
                            r.get("configuration", ""), r.get("differs", ""), r.get("reference", ""))
        return cls(claim, r["scale"], decision, r.get("wall_seconds", 0.0), r.get("reason", ""),
                   evidence, r.get("known_refuted", ""), list(r.get("refuted_parts", [])),
                   Decided(**r["decided"]) if r.get("decided") else None)


# -- tables --------------------------------------------------------------------------

def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "n/a" if v != v else f"{v:.3g}" if abs(v) < 1e-2 and v != 0 else f"{v:.2f}"
        return str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def by_density_table(arms: dict[str, np.ndarray], densities: np.ndarray, unit: str = "%", digits: int = 2) -> str:
    """arms: name -> seeds × rounds array; one row per round: % remaining, mean ± sd per arm."""
    header = ["% weights remaining"] + [f"{name} ({unit}, mean ± sd, n={len(v)})" for name, v in arms.items()]
    rows = []
    for j, d in enumerate(densities):
        row: list[Any] = [f"{100 * d:.2f}"]
        for values in arms.values():
            col = values[:, j]
            col = col[np.isfinite(col)]
            sd = col.std(ddof=1) if len(col) > 1 else 0.0
            row.append("n/a" if len(col) == 0 else f"{col.mean():.{digits}f} ± {sd:.{digits}f}")
        rows.append(row)
    return markdown_table(header, rows)


# -- the document ----------------------------------------------------------------------

def provenance(total_seconds: float | None = None, device: str = "cpu") -> dict[str, Any]:
    import torch

    return {**code_version(), "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "python": platform.python_version(), "torch": torch.__version__, "device": device,
            "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores", "cpu": _cpu(),
            "total_seconds": total_seconds}


def _cpu() -> str:
    """The CPU a run's bits came from: another vendor's kernels round differently (devices.cpu_kernels)."""
    import torch

    from .devices import cpu_info

    info = cpu_info()
    return f"{info['model']} ({info['vendor']}), {torch.backends.cpu.get_cpu_capability()} kernels"


def code_line(prov: dict[str, Any]) -> str:
    """A probe page's last line: the code, the time and the machine its numbers came from."""
    cpu = f", {prov['cpu']}" if prov.get("cpu") else ""
    return (f"Code {prov.get('commit', 'unknown')}, {prov.get('date', '')}, {prov.get('machine', '')}{cpu}, "
            f"device {prov.get('device', 'cpu')}.")


def code_version() -> dict[str, str]:
    """The package version, and the commit where it runs from a checkout of this project (not the commit of
    whatever repository the working directory or an installed package happens to sit in)."""
    root = Path(__file__).resolve().parents[1]
    commit, dirty = "unknown (not a checkout)", ""
    if (root / "pyproject.toml").is_file() and (root / "claims").is_dir():
        try:
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                    timeout=5, cwd=root).stdout.strip() or "unknown"
            # The run's own outputs (reports/, README's summary) do not make the code dirty.
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                    ":!reports", ":!README.md"], capture_output=True, text=True, timeout=5,
                                   cwd=root).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = "unknown"
    if commit.startswith("unknown"):  # no repository here: maybe a `git archive` snapshot, which stamps COMMIT
        commit = _archived_commit() or commit
    return {"version": __version__, "commit": commit + ("+dirty" if dirty else "")}


def _archived_commit() -> str | None:
    """The commit a `git archive` snapshot was made from (.gitattributes has git write it into COMMIT)."""
    stamp = Path(__file__).with_name("COMMIT")
    text = stamp.read_text().strip() if stamp.is_file() else ""
    return f"{text} (git archive)" if text and not text.startswith("$Format") else None


def fmt_number(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _interval(d: Decision) -> str:
    """The decision's interval as the summary shows it, its level where it is not 95% (the parts of a claim of more
    than two)."""
    if d.ci_low is None:
        return "–"
    level = "" if d.confidence == 0.95 else f" ({100 * d.confidence:.3g}%)"
    return f"[{fmt_number(d.ci_low)}, {fmt_number(d.ci_high)}]{level}"


def summary_table(results: list[ClaimResult]) -> str:
    rows = []
    for r in sorted(results, key=lambda r: r.claim.number):
        d = r.decision
        statement = ("*(ours, beyond the paper)* " if r.claim.beyond_paper else "") + r.claim.statement
        effect = "– –" if d is None else f"{fmt_number(d.effect)} {_interval(d)}"
        rows.append([r.claim.number, f"`{r.claim.id}`", statement, f"**{r.verdict}**", effect,
                     fmt_number(d and d.p_value), (d and d.n_seeds) or "–", f"{r.wall_seconds:.0f}"])
    return markdown_table(["#", "claim", "statement", "verdict", "effect [95% CI]", "p", "seeds", "wall s"], rows)


def render(results: list[ClaimResult], scale: str, prov: dict[str, Any]) -> str:
    counts = {v: sum(r.verdict == v for r in results) for v in Verdict}
    lines = [f"# Replication report — scale `{scale}`", "",
             "Maene, Li & Moens (2021), *Towards Understanding Iterative Magnitude Pruning: Why Lottery Tickets Win*.",
             "Every claim is decided by a statistical test over seeds (the seed is the unit; arms are paired by seed).",
             "", "Verdicts: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v), "",
             summary_table(results), "",
             "Effects are in each claim's unit (below); p is one-sided (TOST for equivalence). A claim of several "
             "parts shows the effect of the part that decided its verdict (the first part when all hold; every part is "
             "in its section). Wall s is the time the test took, "
             "including the runs it was the first to ask for: shared runs are computed once, so it depends on the "
             "order the claims ran in.", "",
             "## Provenance", "",
             *(f"- {k}: {fmt_number(v) if k != 'total_seconds' else (f'{v:.0f} s' if v else '–')}" for k, v in prov.items()),
             ""]
    for r in sorted(results, key=lambda r: r.claim.number):
        lines += _section(r)
    return "\n".join(lines) + "\n"


def _section(r: ClaimResult) -> list[str]:
    c, e = r.claim, r.evidence
    out = [f"## {c.number}. `{c.id}` — {r.verdict}", ""]
    if r.decided:  # results merged from several sessions: each claim says which one decided it
        out += [f"*Decided {r.decided.date} at commit {r.decided.commit}.*", ""]
    source = "Beyond the paper (a claim of ours)" if c.beyond_paper else "The paper"
    out += [f"**{source}:** {c.statement} ({c.figure})", ""]
    if r.decision is None:
        return out + [f"Not run at this scale: {r.reason}", ""]
    margins = "; ".join(f"{fmt_number(p.margin)} {p.unit}" for p in c.parts)
    out += [f"**Comparison:** {c.comparison}. Smallest effect of interest: {margins}.", ""]
    if e.configuration:
        out += [f"**Configuration:** {e.configuration}", ""]
    if e.differs:
        out += [f"**Differs from the paper:** {e.differs}", ""]
    for table in e.tables:
        out += [f"**{table.title}**", "", table.markdown, ""]
    for fig in e.figures:
        out += [f"![{fig.caption}]({fig.path})", "", f"*{fig.caption}*", ""]
    if e.reference:
        out += [f"**Paper's reference values:** {e.reference}", ""]
    out += ["**Test:**", "", *(_part_line(p) for p in r.parts)]
    out += _preconditions(r.decision.preconditions)
    out += ["", f"**Verdict: {r.verdict}.** {r.explanation}", ""]
    if r.known_refuted:
        out += [f"**Known not to replicate at this scale** (a strict expected failure in the test suite): "
                f"{r.known_refuted}", ""]
    return out


def _part_line(p: Decision) -> str:
    interval = "" if p.ci_low is None else (f", {100 * p.confidence:.3g}% CI "
                                            f"[{fmt_number(p.ci_low)}, {fmt_number(p.ci_high)}]")
    extra = ""
    if p.standardized is not None:
        extra += f", d_z {fmt_number(p.standardized)}"
    if p.fraction_positive is not None:
        extra += f", seeds in favour {fmt_number(p.fraction_positive)}"
    if p.permutation_p is not None:
        extra += f", sign-flip p {fmt_number(p.permutation_p)}"
    return (f"- {p.test}: {p.verdict} — effect {fmt_number(p.effect)}{interval}, "
            f"p {fmt_number(p.p_value)}, n={p.n_seeds}{extra}. {p.reason}")


def _preconditions(checked: list[Precondition]) -> list[str]:
    """What the claim presupposes of its setting, each with the numbers that show whether it holds."""
    if not checked:
        return []
    out = ["", "**Preconditions** (where one does not hold, the claim or its part is NOT TESTABLE):", ""]
    for p in checked:
        gate = f" (part {p.part})" if p.part else ""
        out.append(f"- {p.needs}{gate}: {'holds' if p.holds else '**does not hold**'}: {p.numbers}.")
    return out


def write_report(results: list[ClaimResult], scale: str, out_dir: Path, prov: dict[str, Any]) -> Path:
    """Write REPORT.md and results.json atomically; returns the REPORT.md path."""
    out_dir = Path(out_dir) / scale
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "results.json", [r.to_dict() for r in sorted(results, key=lambda r: r.claim.number)])
    atomic_write_json(out_dir / "provenance.json", prov)
    path = out_dir / "REPORT.md"
    atomic_write_bytes(path, render(results, scale, prov).encode())
    _remove_stale_figures(out_dir / "figures", results)
    return path


def _remove_stale_figures(folder: Path, results: list[ClaimResult]) -> None:
    """A claim's figures no result links any more (a claim now NOT RUN, a renamed plot) would linger beside the
    report and read as current; every result of the scale is in `results`, so the rest of them are stale. Only
    claims' figures (FigureFolder.path names them `<claim id>-<name>.png`) are the report's: the probe's and the
    instability map's pages keep theirs in the same folder."""
    linked = {Path(fig.path).name for r in results for fig in r.evidence.figures}
    claims = tuple(f"{r.claim.id}-" for r in results)
    for stale in (p for p in folder.glob("*.png") if p.name.startswith(claims) and p.name not in linked):
        stale.unlink()


def read_results(path: Path) -> list[ClaimResult]:
    """A results.json (none there: no results)."""
    return [ClaimResult.from_dict(r) for r in json.loads(Path(path).read_text())] if Path(path).is_file() else []


def merge_results(out_dir: Path, scale: str, new: list[ClaimResult]) -> list[ClaimResult]:
    """Results already on disk for this scale, updated by the claims just run."""
    merged = {r.claim.id: r for r in read_results(Path(out_dir) / scale / "results.json") if r.scale == scale}
    merged.update({r.claim.id: r for r in new})
    return list(merged.values())


# -- the instability map's page (reports/<scale>/PROBE.md) ---------------------------------
def render_map(results: list, classes: int, pending: list, scale: str, prov: dict[str, Any], figure: str) -> str:
    """PROBE.md: the map's rule, its cells measured so far (mean over seeds, range), the setting its rule picks."""
    from . import instability_map as M

    found = M.regimes(results, classes) if results else {}
    verdict = _map_verdict(M.decide(results, classes), pending)
    rounds = M.CONTEXT_ROUNDS + M.READ_ROUNDS
    rows = []
    for r in results:
        acc = np.asarray(r.dense_accuracy)
        cells = [f"{np.mean(r.lii[k]):.1f} ({min(r.lii[k]):.1f}–{max(r.lii[k]):.1f})" for k in rounds]
        read = "/".join(f"{np.nanmean(r.accuracy[k]):.1f}" for k in M.READ_ROUNDS)
        rows.append([r.cell.label, r.cell.why, f"{r.cell.steps:,}", r.cell.seeds, f"{np.nanmean(acc):.1f}", read, *cells,
                     ", ".join(f"{v:.1f}" for v in r.instability()), found[r.cell]])
    header = ["cell", "axis", "steps a round", "seeds", "dense acc. %",
              f"acc. % rounds {'/'.join(map(str, M.READ_ROUNDS))}",
              *[f"LII {100 * 0.8 ** k:.0f}% (round {k})" for k in rounds], "per-seed instability", "regime"]
    lines = [f"# The instability map (scale `{scale}`)", "",
             "Where IMP's subnetworks become unstable: LII (points of test error, 30 points on the path, batch norm "
             "recomputed) of IMP's trained subnetworks and of a second training from the same start with other SGD "
             "noise, by weights remaining. Declared in `replication/instability_map.py` with its rule before any of "
             "its runs.", "",
             f"Rule: a seed's instability is its mean LII at rounds {', '.join(map(str, M.READ_ROUNDS))} (the "
             f"subnetworks the scale's claims read); **unstable** when every seed's is at least {M.UNSTABLE_CUT:g} "
             f"points, **stable** when every seed's is under {M.STABLE_CUT:g}, **between** otherwise; **fails** when "
             "a seed's dense network, or its subnetwork at a round read, does not train. The scale's setting is the "
             f"cheapest one with an unstable batch {M.UNSTABLE_BATCH} and a stable larger batch. If none has both, the "
             "fallback judges each subnetwork round measured alone by the same cuts and picks the cheapest setting "
             "with a round of contrast; the scale then reads those rounds.", "", verdict, "",
             markdown_table(header, rows) if rows else "No cell is measured yet.", ""]
    if pending:
        lines += ["Not yet measured (the store resumes them): " + "; ".join(c.label for c in pending) + ".", ""]
    if results:
        lines += [f"![LII against steps a round]({figure})", ""]
    lines += [code_line(prov), ""]
    return "\n".join(lines)


def _map_verdict(pick, pending: list) -> str:
    """What the map's rule decides, in words (instability_map.decide)."""
    so_far = f"; {len(pending)} cell(s) are not yet measured" if pending else ""
    if pick is None:
        return ("**No setting measured qualifies**, at the rounds read or, by the fallback, at any single round "
                f"measured{so_far}." + ("" if pending else " The map is the finding: the long scale runs nothing."))
    setting = (f"{pick.unstable.schedule} schedule, {pick.unstable.epochs} epochs a round"
               f"{', augmented' if pick.unstable.augment else ''}")
    where = ", ".join(map(str, pick.rounds))
    if pick.fallback:
        return (f"**No setting qualifies at the rounds read; by the fallback the rule picks {setting}**: batch "
                f"{pick.unstable.batch} is unstable and batch {pick.stable.batch} stable at round(s) {where} only, "
                f"which the scale's claims then read{so_far}.")
    return (f"**The rule picks {setting}**: batch {pick.unstable.batch} is unstable and batch {pick.stable.batch} "
            f"stable there{so_far}.")


def write_map(results: list, classes: int, pending: list, scale: str, out_dir: Path, prov: dict[str, Any]) -> Path:
    """PROBE.md and its figure (LII against steps a round, a line per batch size and density), atomically."""
    from . import instability_map as M
    from .figures import plot_lii

    out = Path(out_dir) / scale
    (out / "figures").mkdir(parents=True, exist_ok=True)
    figure = "figures/instability-map.png"
    if results:
        lines: dict[str, tuple[list[int], list[list[float]]]] = {}
        styles: dict[str, dict] = {}
        groups: list[str] = []  # a colour per batch size and variant, a line style per density
        for r in results:
            group = "".join([f"batch {r.cell.batch}", f", {r.cell.schedule}" if r.cell.schedule != "step" else "",
                             ", augmented" if r.cell.augment else ""])
            groups += [group] if group not in groups else []
            for k, dash in zip(M.SUBNETWORK_ROUNDS, ("dotted", "dashed", "solid")):
                name = f"{group}, {100 * 0.8 ** k:.0f}% remaining"
                steps, values = lines.setdefault(name, ([], []))
                steps.append(r.cell.steps)
                values.append(r.lii[k])
                styles[name] = {"color": f"C{groups.index(group)}", "linestyle": dash}
        plot_lii(lines, out / figure, "optimizer steps a round",
                 "IMP's subnetworks (Table 1's step schedule unless named)", styles=styles,
                 cuts=(M.STABLE_CUT, M.UNSTABLE_CUT))
    path = out / "PROBE.md"
    atomic_write_bytes(path, render_map(results, classes, pending, scale, prov, figure).encode())
    return path


# -- a scale's stability probes (reports/<scale>/PROBE.md) -------------------------------------
def stability_table(results: list, regimes: dict[int, str]) -> str:
    """A stability probe's table (probe.BatchStability per batch size): LII per round, mean, dense accuracy, regime."""
    rows = []
    for r in results:
        cells = [f"{np.mean(v):.2f} ({min(v):.1f}–{max(v):.1f})" for v in r.lii.values()]
        acc = np.asarray(r.dense_accuracy)
        rows.append([r.batch, *cells, f"{r.mean_lii:.2f}", f"{np.nanmean(acc):.1f} (min {np.nanmin(acc):.1f}, "
                     f"{int(np.sum(~np.isfinite(acc)))} diverged)", regimes[r.batch]])
    rounds = [f"LII round {k}" for k in results[0].lii]
    return markdown_table(["batch", *rounds, "mean LII", "dense accuracy %", "regime"], rows)


def write_probes(surveyed: list, scale: str, out_dir: Path, prov: dict[str, Any]) -> Path:
    """PROBE.md: per declared probe its table (LII by batch size and round, dense accuracy, regime) and a figure
    of LII against batch size, a line per round. surveyed: (probe, results, regimes) triples."""
    from .figures import plot_lii

    out = Path(out_dir) / scale
    (out / "figures").mkdir(parents=True, exist_ok=True)
    lines = [f"# Stability probes (scale `{scale}`)", "",
             "Declared in `replication/registry.py` (`PROBES`) before the IMP runs that depend on them; the regimes "
             "follow the rule in `replication/probe.py`. LII in points of test error.", ""]
    for i, (declared, results, regimes) in enumerate(surveyed):
        figure = f"figures/probe-{i + 1}.png"
        plot_lii({f"round {r}": ([x.batch for x in results], [x.lii[r] for x in results]) for r in results[0].lii},
                 out / figure, "batch size", f"{declared.preset} {dict(declared.overrides) or ''}", base=2)
        lines += [f"## {declared.preset} {dict(declared.overrides) or ''}, {declared.seeds} seeds", "",
                  stability_table(results, regimes), "", f"![LII by batch size]({figure})", ""]
    lines += [code_line(prov), ""]
    path = out / "PROBE.md"
    atomic_write_bytes(path, "\n".join(lines).encode())
    return path
