"""Mutation testing of the modules that carry the platform's guarantees, with a score per module (`make mutation`).

Runs mutmut over the modules listed in `scripts/mutation_targets.toml`, one module after the other, each against its
own fast tests. mutmut works on a copy: this script copies the sources and tests to `var/mutation/` (ignored by git),
writes mutmut's configuration there, and runs mutmut in it, so nothing lands in the working tree. Prints the progress
(which module, n of m, then mutmut's own count), the survivors, and last the scores, one per line:
`RESULT mutation_score_<module>=<pct> %` (killed / total; a mutant whose tests time out or crash counts as killed).

    python scripts/mutation.py [--only NAME ...] [--max-children N]

Integration tests among the targets' tests need the local PostgreSQL (`eval "$(bash deploy/local/stack.sh env)"`).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("services", "contracts", "bpass", "tests")
PLUGIN = ROOT / "scripts" / "mutation_pytest_plugin.py"
# Statements not mutated: logging and metrics say what happened, they are not the guarantee under test.
NOT_MUTATED = [r"^\s*log\.(debug|info|warning|error|exception)\(", r"^\s*metrics\.[A-Z_]+\.labels\("]
# A mutant is killed when its tests fail, time out or take the test process down (a mutant that calls os._exit);
# it survives when they pass, or when no test runs its code at all.
NOT_KILLED = {"survived", "no tests", "not checked"}
PROGRESS_EVERY_S = 15
STATUS_BY_EXIT_CODE = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    37: "caught by type check",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    None: "not checked",
}


@dataclass(frozen=True)
class Target:
    name: str
    files: list[str]
    functions: list[str]
    tests: list[str]

    def mutant_patterns(self) -> list[str]:
        """mutmut's names of this module's mutants, as globs: `<module>.x_<function>__mutmut_<n>` for a function,
        `<module>.xǁ<Class>ǁ<method>__mutmut_<n>` for a method."""
        patterns = []
        for file in self.files:
            module = file.removesuffix(".py").replace("/", ".")
            if not self.functions:
                patterns.append(f"{module}.*")
            for function in self.functions:
                cls, _, name = function.rpartition(".")
                patterns.append(f"{module}.xǁ{cls}ǁ{name}__mutmut_*" if cls else f"{module}.x_{name}__mutmut_*")
        return patterns


@dataclass
class Score:
    killed: int
    total: int
    statuses: dict[str, str]

    @property
    def pct(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 0.0


def load_targets(path: Path) -> list[Target]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [
        Target(name=m["name"], files=m["files"], functions=m.get("functions", []), tests=m["tests"])
        for m in data["module"]
    ]


def mutmut_config(targets: list[Target]) -> str:
    files = sorted({file for t in targets for file in t.files})
    tests = sorted({test for t in targets for test in t.tests})
    lines = [
        "",
        "[tool.mutmut]",
        f"source_paths = {json.dumps(['services', 'contracts', 'bpass'])}",
        f"only_mutate = {json.dumps(files)}",
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        # no .pytest_cache in the copy; property tests capped (scripts/mutation_pytest_plugin.py); a mutant that makes a
        # test wait forever (mutmut's own limit is CPU time, which waiting does not use) fails after 30 s, not 120
        f'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "{PLUGIN.stem}", "--timeout=30"]',
        f"also_copy = {json.dumps([PLUGIN.name])}",
        f"do_not_mutate_patterns = {json.dumps(NOT_MUTATED)}",
        "use_git_change_detection = false",
        "",
    ]
    return "\n".join(lines)


def prepare(work: Path, targets: list[Target]) -> None:
    """A fresh copy of the sources and tests, with mutmut's configuration, in `work`."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    for name in COPIED:
        shutil.copytree(ROOT / name, work / name, ignore=ignore)
    shutil.copy(PLUGIN, work / PLUGIN.name)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (work / "pyproject.toml").write_text(pyproject + mutmut_config(targets), encoding="utf-8")


def score(work: Path, target: Target) -> Score:
    statuses: dict[str, str] = {}
    for file in target.files:
        meta = json.loads((work / "mutants" / f"{file}.meta").read_text(encoding="utf-8"))
        for key, exit_code in meta["exit_code_by_key"].items():
            if any(fnmatch.fnmatchcase(key, p) for p in target.mutant_patterns()):
                statuses[key] = STATUS_BY_EXIT_CODE.get(exit_code, "suspicious")
    counted = {k: s for k, s in statuses.items() if s != "skipped"}
    return Score(sum(s not in NOT_KILLED for s in counted.values()), len(counted), statuses)


def run_module(work: Path, target: Target, mutmut: str, max_children: int, progress: str) -> int:
    """mutmut over one module's mutants; every `PROGRESS_EVERY_S` a line of how far it got. mutmut's own output (a
    spinner, and its count over every file it mutated) is shown only when it fails."""
    command = [mutmut, "run", f"--max-children={max_children}", *target.mutant_patterns()]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    output: list[str] = []
    with subprocess.Popen(  # noqa: S603 - our own venv's mutmut
        command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as process:
        assert process.stdout is not None
        reader = threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True)
        reader.start()
        started = time.monotonic()
        while process.poll() is None:
            time.sleep(0.5)
            if time.monotonic() - started >= PROGRESS_EVERY_S:
                started = time.monotonic()
                print(f"    {progress} {target.name}: {tested(work, target)}", flush=True)
        reader.join()
    if process.returncode != 0:
        print("".join(output)[-6000:].replace("\r", "\n"))
    return process.returncode


def tested(work: Path, target: Target) -> str:
    try:
        result = score(work, target)
    except (OSError, ValueError):  # not written yet, or being written
        return "preparing"
    done = [s for s in result.statuses.values() if s != "not checked"]
    killed = sum(s not in NOT_KILLED for s in done)
    return f"{len(done)} of {len(result.statuses)} mutants tested, {killed} killed"


SHOW_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
for name, path in json.load(sys.stdin):
    try:
        print(f"# {name}\\n{get_diff_for_mutant(name, path=path)}")
    except Exception as exc:  # one unreadable mutant must not hide the others
        print(f"# {name}\\n(no diff: {exc!r})")
"""


def survivor_diffs(work: Path, target: Target, names: list[str]) -> str:
    """The survivors' diffs, read in one process (`mutmut show <name>` starts one per mutant)."""
    by_module = {file.removesuffix(".py").replace("/", "."): file for file in target.files}
    pairs = [(name, next(f for m, f in by_module.items() if name.startswith(f"{m}."))) for name in names]
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", SHOW_DIFFS], cwd=work, input=json.dumps(pairs), capture_output=True, text=True
    )
    return result.stdout if result.returncode == 0 else f"(diffs unavailable: {result.stderr.strip()[-500:]})\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=Path, default=ROOT / "scripts" / "mutation_targets.toml")
    parser.add_argument("--only", nargs="*", default=[], help="module names to run (default: all)")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "mutation", help="mutmut's working copy")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    targets = load_targets(args.targets)
    unknown = set(args.only) - {t.name for t in targets}
    if unknown:
        parser.error(f"unknown module(s) {sorted(unknown)}; known: {[t.name for t in targets]}")
    chosen = [t for t in targets if not args.only or t.name in args.only]
    mutmut = str(Path(sys.executable).parent / "mutmut")
    work: Path = args.work.resolve()

    print(f"==> mutation testing: {len(chosen)} module(s), work copy {work}", flush=True)
    prepare(work, chosen)
    scores: dict[str, Score] = {}
    failed: list[str] = []
    report = []
    for index, target in enumerate(chosen, start=1):
        what = ", ".join(target.files) + (f" ({', '.join(target.functions)})" if target.functions else "")
        print(f"\n==> [{index}/{len(chosen)}] {target.name}: {what}", flush=True)
        started = time.monotonic()
        code = run_module(work, target, mutmut, args.max_children, f"[{index}/{len(chosen)}]")
        if code != 0:
            print(f"==> [{index}/{len(chosen)}] {target.name}: mutmut exited {code}", flush=True)
            failed.append(target.name)
            continue
        result = scores[target.name] = score(work, target)
        survivors = sorted(k for k, s in result.statuses.items() if s in NOT_KILLED)
        print(
            f"==> [{index}/{len(chosen)}] {target.name}: {result.killed}/{result.total} killed "
            f"({result.pct:.1f} %) in {time.monotonic() - started:.0f} s",
            flush=True,
        )
        for name in survivors:
            print(f"    {result.statuses[name]}: {name}")
        report.append(f"## {target.name}\n\n" + survivor_diffs(work, target, survivors))
    (work / "survivors.txt").write_text("\n".join(report), encoding="utf-8")
    print(f"\nsurvivors' diffs: {work / 'survivors.txt'} (or `cd {work} && {mutmut} show <name>`)")
    if failed:
        print(f"mutmut failed for: {', '.join(failed)}")
    print()
    for name, result in scores.items():
        print(f"{name}: {result.killed}/{result.total} killed")
    for name, result in scores.items():
        print(f"RESULT mutation_score_{name}={result.pct:.1f} %")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
