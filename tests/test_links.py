"""Every link and image in README.md and docs/ is relative, stays inside the repository and points at a file or
folder that exists: the README and its pages are read on GitHub, from a clone and from the installed package's
metadata alike, and an external or broken link is a promise nobody keeps checked."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]

# [text](target) and ![alt](target), target optionally in <…> and followed by a "title"; reference definitions
# ([name]: target) and autolinks (<scheme:…>) too, and bare http(s) URLs, which GitHub links on its own.
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.MULTILINE)
AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*)>")
BARE_URL = re.compile(r"(?<![\w/])(?:https?|ftp)://[^\s)>\]]+")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code spans (neither holds links); fenced lines become
    blank, so line numbers stay."""
    out, fence = [], None
    for line in text.splitlines():
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            out.append("")
        elif fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line.strip(" `~"):
                fence = None
            out.append("")
        else:
            out.append(line)
    joined = "\n".join(out)
    return CODE_SPAN.sub(lambda m: "\n" * m.group(0).count("\n"), joined)


def links(text: str) -> list[tuple[int, str]]:
    """(line, target) of every link, image, reference definition, autolink and bare URL outside code."""
    body = prose(text)
    found, spans = [], []
    for pattern in (INLINE, REFERENCE, AUTOLINK):
        for m in pattern.finditer(body):
            target = m.group(1)
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            found.append((m.start(), target.strip()))
            spans.append(m.span())
    for m in BARE_URL.finditer(body):
        if not any(a <= m.start() < b for a, b in spans):
            found.append((m.start(), m.group(0)))
    return [(body.count("\n", 0, at) + 1, target) for at, target in sorted(found)]


def problem(page: Path, target: str, root: Path = ROOT) -> str | None:
    """Why `target`, linked from `page`, is not a relative link to something in the repository; None if it is."""
    if not target:
        return "empty target"
    if SCHEME.match(target) or target.startswith("//"):
        return "not relative (has a scheme): write it as plain text"
    if target.startswith("/"):
        return "absolute path: make it relative to the file's folder"
    path = unquote(target.split("#", 1)[0].split("?", 1)[0])
    if not path:
        return None  # a bare #anchor, within the page
    resolved = (page.parent / path).resolve()
    if not resolved.is_relative_to(root.resolve()):
        return "leaves the repository"
    if not resolved.exists():
        return f"no such file or folder ({resolved.relative_to(root.resolve())})"
    return None


def bad_links(root: Path, files: list[Path]) -> list[str]:
    bad = []
    for page in files:
        for line, target in links(page.read_text(encoding="utf-8")):
            why = problem(page, target, root)
            if why:
                bad.append(f"{page.relative_to(root)}:{line}: ({target}) {why}")
    return bad


def test_every_link_in_the_readme_and_docs_is_relative_and_exists():
    files = pages()
    assert (ROOT / "README.md").is_file() and len(files) > 1, files
    assert sum(len(links(p.read_text(encoding="utf-8"))) for p in files) > 10  # the parser finds the links there
    bad = bad_links(ROOT, files)
    assert not bad, f"{len(bad)} bad link(s) in README.md / docs/:\n" + "\n".join(bad)


def test_the_checker_finds_each_kind_of_bad_link_and_skips_code(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "x.md").write_text("x\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n"
        "[ok](../reports/x.md) [ok folder](../reports/) [anchor](#page) [ok anchor](../reports/x.md#top)\n"
        "![ok image](<../reports/x.md> \"title\") [same folder](page.md)\n"
        "[web](https://example.org) [mail](mailto:a@b.c) [abs](/etc/passwd)\n"
        "[outside](../../elsewhere.md) [missing](../reports/y.md) [wrong base](reports/x.md)\n"
        "see https://example.com/bare and <https://example.net>\n"
        "`[in code](https://example.org/code)` and `https://example.org/span`\n"
        "```\n[in a fence](https://example.org/fence)\n```\n"
        "~~~~python\n[tilde fence](nowhere.md)\n```\nstill fenced\n~~~~\n"
        "[ref]: https://example.org/ref\n")
    bad = bad_links(tmp_path, [page])
    targets = [b.split(": (", 1)[1].split(")", 1)[0] for b in bad]
    assert targets == ["https://example.org", "mailto:a@b.c", "/etc/passwd", "../../elsewhere.md",
                       "../reports/y.md", "reports/x.md", "https://example.com/bare", "https://example.net",
                       "https://example.org/ref"], bad
    assert all(b.startswith("docs/page.md:") for b in bad), bad
    assert bad[0].startswith("docs/page.md:4:"), bad  # the line it is on
