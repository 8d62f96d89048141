"""`xstilts pin`: pin every hub source of params.yaml to the commit it resolves to now.

For each task with ``source: hub`` (and the base model when ``model.source: hub``) the hub is
asked which commit its repo is at -- ``HfApi().dataset_info(repo, revision=pin).sha`` (models:
``model_info``), where ``pin`` is the registry's pin of the task's repo (``Task.hub.revision``:
a sha public code pins for that repo, copied without hub access, so this is also where an
unknown sha is caught as "revision ... not found") or None (unpinned in the registry, e.g. UD:
the latest commit of the default branch) -- and the sha is written into params.yaml as
``tasks.<name>.revision`` (``model.revision``), with the same comment-preserving rewrite as
``xstilts tune --apply`` (xstilts.tune.set_entry_text).

* Entries already pinned in params.yaml are kept (not even asked about) unless ``--update``,
  which re-resolves them as if they were unpinned.
* All or nothing: every repo is resolved and the new file validated before params.yaml is
  replaced (atomically); any error (repo not found, hub unreachable, HF_HUB_OFFLINE set) names
  the task and repo, exits 1 and leaves params.yaml byte-identical.
* ``--dry-run`` resolves and prints the table but writes nothing.
* Only a task's own hub repo is pinned (``Task.hub``): the SQuAD / COPA training repos of the QA
  targets and XCOPA keep their registry value, as with ``tasks.<name>.revision`` written by hand,
  and are not asked about; nor is ``Task.hub.parquet_revision`` (the Parquet-export commit read
  for loading-script repos such as cosmos_qa), which params.yaml cannot override.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from xstilts.core.params import Params, ParamsError, load_params

MODEL = "model"  # the --tasks name of the base model (model.source: hub)
SHA = re.compile(r"[0-9a-f]{40}")


class PinError(RuntimeError):
    """A pin request that cannot be carried out; params.yaml is left as it was."""


@dataclass
class Pin:
    """One hub source of params.yaml and what `pin` does with it."""

    name: str  # task name, or MODEL
    keys: tuple[str, ...]  # the params.yaml entry that gets `revision`
    kind: str  # "dataset" | "model"
    repo: str
    current: str | None  # the revision in params.yaml now
    query: str | None  # the revision asked about (None = the default branch)
    ask: bool  # False: kept as it is (already pinned, no --update)
    sha: str | None = None

    @property
    def status(self) -> str:
        if not self.ask:
            return "kept" if SHA.fullmatch(self.current or "") else \
                "kept (a tag or branch, not a commit sha)"
        if self.current is None:
            return "pinned"
        return "unchanged" if self.sha == self.current else f"updated (was {self.current})"

    @property
    def changes(self) -> bool:
        return self.ask and self.sha != self.current


def plan(p: Params, tasks: list[str] | None = None, update: bool = False) -> list[Pin]:
    """The hub sources of `p` to pin (all, or those named in `tasks`), in params order."""
    from xstilts.tasks import get_task

    hub_tasks = [name for name, src in p.tasks.items() if src.source == "hub"]
    model_hub = p.model.source == "hub"
    if tasks is not None:
        problems = []
        for name in tasks:
            if name == MODEL:
                if not model_hub:
                    problems.append(f"{MODEL}: model.source is {p.model.source!r}, not 'hub'")
            elif name not in p.tasks:
                problems.append(f"{name}: not declared under `tasks:` in params.yaml")
            elif p.tasks[name].source != "hub":
                problems.append(f"{name}: source is {p.tasks[name].source!r}, not 'hub' "
                                "(only hub datasets have revisions)")
        if problems:
            raise PinError("--tasks: " + "; ".join(problems))
        hub_tasks = [name for name in hub_tasks if name in tasks]
        model_hub = model_hub and MODEL in tasks
    pins: list[Pin] = []
    if model_hub:
        current = p.model.revision
        ask = current is None or update
        pins.append(Pin(MODEL, ("model",), "model", p.model.name, current,
                        None if update else current, ask))
    for name in hub_tasks:
        task = get_task(name)
        if task.hub is None:
            raise PinError(f"task {name!r}: it has no hub repository to pin")
        current = p.tasks[name].revision
        ask = current is None or update
        pins.append(Pin(name, ("tasks", name), "dataset", task.hub.path, current,
                        task.hub.revision if ask else current, ask))
    return pins


def _repo_error(e: Exception) -> bool:
    """An answer of the hub about this repo (not found, gated, bad revision, HTTP error), as
    opposed to the hub being unreachable (then asking the other repos is pointless)."""
    from huggingface_hub import errors

    return isinstance(e, errors.HfHubHTTPError | errors.HFValidationError)


def _reason(e: Exception, pin: Pin) -> str:
    from huggingface_hub import errors

    first = (str(e).strip().splitlines() or [""])[0]
    if isinstance(e, errors.RevisionNotFoundError):
        return f"revision {pin.query!r} not found"
    if isinstance(e, errors.RepositoryNotFoundError):
        return "repository not found (misspelt, private or gated: log in with `hf auth login`)"
    if type(e).__name__ == "OfflineModeIsEnabled":
        return "HF_HUB_OFFLINE is set: unset it to reach the hub"
    if _repo_error(e):
        return f"the hub refused the request ({type(e).__name__}: {first})"
    return f"the hub could not be reached ({type(e).__name__}: {first})"


def resolve(pins: list[Pin]) -> None:
    """Ask the hub for the sha of every pin that is not kept (once per repo and revision);
    PinError lists every failure. An unreachable hub stops the asking at the first error."""
    import huggingface_hub

    todo = [pin for pin in pins if pin.ask]
    if not todo:
        return
    api = huggingface_hub.HfApi()
    failures: list[str] = []
    answers: dict[tuple, str | Exception] = {}
    for i, pin in enumerate(todo):
        key = (pin.kind, pin.repo, pin.query)
        if key not in answers:
            info = api.model_info if pin.kind == "model" else api.dataset_info
            try:
                answers[key] = info(pin.repo, revision=pin.query).sha
            except Exception as e:  # noqa: BLE001 - reported with the task and repo
                answers[key] = e
        sha = answers[key]
        where = f"{pin.name} ({pin.kind} {pin.repo})"
        if isinstance(sha, Exception):
            failures.append(f"{where}: {_reason(sha, pin)}")
            if not _repo_error(sha):
                rest = [p.name for p in todo[i + 1:]]
                if rest:
                    failures.append(f"not asked (the hub is unreachable): {', '.join(rest)}")
                break
        elif not isinstance(sha, str) or not sha:
            failures.append(f"{where}: the hub returned no commit sha")
        else:
            pin.sha = sha
    if failures:
        raise PinError("hub revisions could not be resolved:\n  " + "\n  ".join(failures))


def pinned_text(text: str, pins: list[Pin]) -> str:
    """params.yaml `text` with the `revision` of every changed pin set (comments kept)."""
    from xstilts.tune import TuneError, set_entry_text, yaml_string

    for pin in pins:
        if pin.changes:
            try:
                text = set_entry_text(text, pin.keys, {"revision": pin.sha}, render=yaml_string)
            except (TuneError, ParamsError) as e:
                raise PinError(f"{pin.name}: cannot write {'.'.join(pin.keys)}.revision: "
                               f"{e}") from None
    return text


def pin_params(params_path: Path | str = "params.yaml", tasks: list[str] | None = None,
               update: bool = False, dry_run: bool = False) -> list[Pin]:
    """Resolve and (unless `dry_run`) write the pins; PinError leaves the file untouched."""
    from xstilts.tune import write_params_text

    path = Path(params_path)
    text = path.read_text(encoding="utf-8")
    pins = plan(load_params(path), tasks, update)
    resolve(pins)
    new = pinned_text(text, pins)
    if not dry_run and new != text:
        write_params_text(path, new)
    return pins


def format_table(pins: list[Pin]) -> str:
    rows = [("task", "repo", "sha", "status")]
    rows += [(pin.name, f"{pin.repo} ({pin.kind})", pin.sha or pin.current or "", pin.status)
             for pin in pins]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " +
                     r[3] for r in rows)


# ---- command line ----

def add_parser(sub) -> None:
    """The `xstilts pin` subcommand (called by xstilts.cli)."""
    t = sub.add_parser("pin", help="pin every hub dataset (and hub model) to its current commit",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--params", default="params.yaml")
    t.add_argument("--tasks", default=None, metavar="A,B",
                   help=f"only these tasks (comma-separated; {MODEL!r} = the base model)")
    t.add_argument("--update", action="store_true",
                   help="re-resolve entries already pinned in params.yaml too")
    t.add_argument("--dry-run", action="store_true", help="print the pins, write nothing")
    t.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    tasks = None
    if args.tasks is not None:
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        if not tasks:
            print("[pin] error: --tasks is empty", file=sys.stderr)
            return 2
    try:
        pins = pin_params(args.params, tasks, update=args.update, dry_run=args.dry_run)
    except ParamsError as e:
        print(f"[pin] {e}", file=sys.stderr)
        return 2
    except PinError as e:
        print(f"[pin] error: {e}\n[pin] {args.params} left as it was", file=sys.stderr)
        return 2 if str(e).startswith("--tasks") else 1
    if not pins:
        print(f"{args.params}: no hub sources (source: hub): nothing to pin")
        return 0
    print(format_table(pins))
    changed = sum(pin.changes for pin in pins)
    if args.dry_run:
        print(f"dry run: {changed} revision(s) would be written; {args.params} not changed")
    elif changed:
        print(f"{changed} revision(s) written to {args.params}: `dvc params diff` shows them, "
              "`dvc repro` re-prepares those tasks")
    else:
        print(f"{args.params}: already pinned, nothing changed")
    return 0
