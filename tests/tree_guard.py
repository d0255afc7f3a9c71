"""A pytest plugin (imported by tests/conftest.py): the session fails when the tests changed the
checkout, i.e. when a tracked file was modified or deleted, or a file git does not ignore was
created, between the session's start and its end. Tests write under `tmp_path`, data under the
git-ignored `data/`.

It compares `git status` (and the content of every path it lists) before and after, in the
controller process only under xdist. A path that became clean meanwhile (a commit) is not a
change, but an edit made by hand while the tests ran is one: so the check runs where nobody edits
meanwhile, under `make test` (PYTEST_TREE_CHECK=1) and in CI (CI=true), and PYTEST_TREE_CHECK=0
switches it off there.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

STATE = pytest.StashKey[dict[str, str]]()


def tree_state(root: Path) -> dict[str, str] | None:
    """Every path `git status` lists under `root` -> a digest of its content ("-": deleted),
    so that staging a file is no change; None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    top = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    state = {}
    for entry in done.stdout.decode(errors="surrogateescape").split("\0"):
        if not entry:
            continue
        path = entry[3:]
        try:
            state[path] = hashlib.sha1(Path(top, path).read_bytes()).hexdigest()
        except FileNotFoundError:
            state[path] = "-"
        except OSError as exc:  # a folder (a nested checkout) or unreadable
            state[path] = type(exc).__name__
    return state


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The paths that are dirty after and were clean, or different, before."""
    return sorted(path for path, state in after.items() if before.get(path) != state)


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def _enabled() -> bool:
    setting = os.environ.get("PYTEST_TREE_CHECK")
    if setting is None:
        return os.environ.get("CI", "").lower() == "true"
    return setting != "0"


def pytest_sessionstart(session: pytest.Session) -> None:
    if _enabled() and _is_controller(session.config):
        state = tree_state(session.config.rootpath)
        if state is not None:
            session.config.stash[STATE] = state


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(STATE, None)
    if before is None:
        return
    after = tree_state(session.config.rootpath)
    changed = changes(before, after or {})
    if not changed:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "the tests changed the checkout", red=True)
        for path in changed:
            what = "deleted" if (after or {})[path] == "-" else "written"
            reporter.write_line(f"  {path} ({what})")
        reporter.write_line(
            "Tests must write under tmp_path (or the git-ignored data/). If these were edited "
            "by hand while the tests ran, run again (PYTEST_TREE_CHECK=0 switches this off)."
        )
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
