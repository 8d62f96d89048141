"""The docs stay true: every shell command in README.md, docs/*.md and benchmarks/README.md
parses (bash syntax, then each command's own argument parser, without running it), the files
and stage names it names exist, every relative link and anchor resolves, and the README stays
short."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks/README.md"]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")"}
# programs the docs may name that are not ours to parse: checked for bash syntax only
EXTERNAL = {"rm", "cd", "export", ".", "source", "createdb", "cat", "mkdir", "echo", "sed", "git",
            "wait"}
VENV_TOOLS = {"accelerate", "optuna-dashboard"}  # installed with the package


def shell_blocks() -> list[tuple[Path, str]]:
    out = []
    for doc in DOCS:
        for lang, body in FENCE.findall(doc.read_text(encoding="utf-8")):
            if lang in ("bash", "sh", "shell"):
                out.append((doc, body))
    return out


def _strip_heredocs(block: str) -> str:
    lines, out, end = block.split("\n"), [], None
    for line in lines:
        if end is not None:
            if line.strip() == end:
                end = None
            continue
        m = re.search(r"<<-?\s*'?\"?(\w+)'?\"?", line)
        if m:
            end = m.group(1)
            line = line[: m.start()]
        out.append(line)
    return "\n".join(out)


def commands(block: str) -> list[list[str]]:
    """Simple commands of a bash block: heredoc bodies dropped, continuations joined, comments,
    leading VAR=value assignments, a leading `time` and redirections removed, split at
    && || ; | & ( )."""
    text = _strip_heredocs(block).replace("\\\n", " ")
    cmds: list[list[str]] = []
    for line in text.split("\n"):
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        lex.commenters = "#"
        cur: list[str] = []
        tokens = list(lex)
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok in SEPARATORS:
                cmds.append(cur)
                cur = []
            elif tok in (">", ">>", "<", "2>"):
                i += 1  # its file
            else:
                cur.append(tok)
            i += 1
        cmds.append(cur)
    out = []
    for c in cmds:
        while c and (c[0] == "time" or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", c[0])):
            c = c[1:]
        if c:
            out.append(c)
    return out


def test_extraction_sees_the_readme_commands():
    blocks = [b for d, b in shell_blocks() if d.name == "README.md" and d.parent == ROOT]
    progs = [c[0] for b in blocks for c in commands(b)]
    assert "dvc" in progs and "xstilts" in progs and ".venv-test/bin/python" in progs
    assert commands("A=1 B=2 dvc repro --dry && echo ok # note\n") == [
        ["dvc", "repro", "--dry"], ["echo", "ok"]]
    heredoc = "cat > f <<'Y'\nnot: a command\nY\nls x \\\n  y\n"
    assert commands(heredoc) == [["cat"], ["ls", "x", "y"]]
    assert commands("time (python a.py & A=1 python b.py; wait)\n") == [
        ["python", "a.py"], ["python", "b.py"], ["wait"]]


@pytest.mark.parametrize("doc,block", shell_blocks(),
                         ids=lambda v: v.name if isinstance(v, Path) else "")
def test_bash_syntax(doc: Path, block: str):
    r = subprocess.run(["bash", "-n"], input=block, text=True, capture_output=True)
    assert r.returncode == 0, f"{doc.relative_to(ROOT)}: bash -n: {r.stderr}\n{block}"


def _stage_names() -> set[str]:
    dvc = Path(sys.executable).with_name("dvc")
    r = subprocess.run([str(dvc), "stage", "list", "--all", "--name-only"], cwd=ROOT,
                       capture_output=True, text=True, check=True)
    return set(r.stdout.split())


@cache
def _help(script: Path) -> str:
    r = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True,
                       text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, f"{script} --help failed: {r.stderr[-2000:]}"
    return r.stdout


def _check_python(argv: list[str], where: str) -> None:
    if argv[0] == "-m":
        import importlib.util

        mod = argv[1]
        assert importlib.util.find_spec(mod) is not None, f"{where}: no module {mod}"
        return
    script = ROOT / argv[0]
    assert script.is_file(), f"{where}: no script {argv[0]}"
    if script.parent.name == "benchmarks":
        text = _help(script)
        for flag in (a.split("=")[0] for a in argv[1:] if a.startswith("--")):
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), (
                f"{where}: {argv[0]} has no option {flag}")


def _check_mlflow(argv: list[str], where: str) -> None:
    import click
    from mlflow.cli import cli

    ctx = click.Context(cli, info_name="mlflow")
    cmd = cli.get_command(ctx, argv[0])
    assert cmd is not None, f"{where}: mlflow has no command {argv[0]}"
    try:
        cmd.make_context(argv[0], list(argv[1:]), parent=ctx)
    except click.UsageError as e:
        raise AssertionError(f"{where}: {e}") from e


def _check_pip(argv: list[str], where: str) -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for a in argv:
        m = re.fullmatch(r"\.\[([\w,-]+)\]", a)
        if m:
            for extra in m.group(1).split(","):
                assert extra in extras, f"{where}: pyproject.toml has no extra {extra!r}"


def test_every_documented_command_parses():
    from dvc.cli import DvcParserError
    from dvc.cli import parse_args as dvc_parse

    from xstilts.cli import build_parser

    stages = _stage_names()
    checked = 0
    for doc, block in shell_blocks():
        for argv in commands(block):
            where = f"{doc.relative_to(ROOT)}: {shlex.join(argv)}"
            prog, rest = argv[0], argv[1:]
            name = Path(prog).name
            if prog == "xstilts":
                try:
                    build_parser().parse_args(rest)
                except SystemExit as e:
                    raise AssertionError(f"{where}: xstilts refuses these arguments") from e
            elif prog == "dvc":
                try:
                    dvc_parse(rest)
                except (SystemExit, DvcParserError) as e:
                    raise AssertionError(f"{where}: dvc refuses these arguments") from e
                if rest and rest[0] == "repro":
                    for target in (a for a in rest[1:] if "@" in a):
                        assert target in stages, f"{where}: no stage {target} in dvc.yaml"
            elif name in ("python", "python3"):
                _check_python(rest, where)
            elif prog in ("mlflow", ".venv/bin/mlflow"):
                _check_mlflow(rest, where)
            elif name in ("pip", "pip3"):
                _check_pip(rest, where)
            elif prog == "cp":
                for src in rest[:-1]:
                    assert (ROOT / src).exists(), f"{where}: no file {src}"
            elif prog in VENV_TOOLS:
                assert Path(sys.executable).with_name(prog).exists() or shutil.which(prog), (
                    f"{where}: {prog} is not installed with the package")
            else:
                assert prog in EXTERNAL, (
                    f"{where}: unknown program {prog!r}: teach tests/test_docs.py to check it")
            checked += 1
    assert checked > 40


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces -> hyphens."""
    h = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return h.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(m) for m in re.findall(r"^#+ (.*)$", text, re.M)}


def test_relative_links_and_anchors_resolve():
    link = re.compile(r"\]\(([^)\s]+)\)")
    for doc in DOCS:
        text = FENCE.sub("", doc.read_text(encoding="utf-8"))
        for target in link.findall(text):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            assert dest.exists(), f"{doc.relative_to(ROOT)}: link to missing {target}"
            if anchor and dest.suffix == ".md":
                assert anchor in _anchors(dest), (
                    f"{doc.relative_to(ROOT)}: no heading #{anchor} in {path or doc.name}")


def test_readme_is_short_and_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.encode()) <= 12_500, "README.md over ~12 KB: move reference text to docs/"
    first = FENCE.search(text).group(2)
    assert "dvc repro" in first and "pytest" in first
    ci = (ROOT / ".ci/run").read_text()
    test_cmd = next(line for line in first.splitlines() if "pytest" in line)
    assert test_cmd in ci, ".ci/run must run the README's test command verbatim"


def test_benchmarks_name_only_stage_scripts_and_kinds_that_exist():
    """A benchmark that runs the pipeline's stage scripts breaks silently when a stage is renamed
    (the cell runner replaced pipeline/target.py): every `"<name>.py"` a benchmark names must be
    a pipeline/ script or a benchmark, and every `cell(..., "<kind>", ...)` a known cell kind."""
    from xstilts.core.families import KINDS

    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        text = script.read_text(encoding="utf-8")
        for name in re.findall(r"\"([a-z_]+\.py)\"", text):
            assert (ROOT / "pipeline" / name).is_file() or (ROOT / "benchmarks" / name).is_file(), (
                f"{script.relative_to(ROOT)} runs {name}, which is not in pipeline/")
        for kind in re.findall(r"\bcell\([^,]+, \"([a-z_]+)\"", text):
            assert kind in KINDS, f"{script.relative_to(ROOT)}: no cell kind {kind!r}"
