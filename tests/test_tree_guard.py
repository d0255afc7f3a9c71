"""tests/tree_guard.py: a pytest session in a throwaway git checkout fails when its tests change
the checkout, and passes when they write only under tmp_path or an ignored folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = {
    "writes_a_tracked_file": "Path('README.md').write_text('changed by a test')",
    "leaves_a_new_file": "Path('output.csv').write_text('a,b')",
    "deletes_a_tracked_file": "Path('README.md').unlink()",
    "writes_where_it_should": "tmp_path.joinpath('out.png').write_bytes(b'png'); "
    "Path('data').mkdir(); Path('data/out.csv').write_text('a,b')",
}


def git(checkout: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=checkout,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("hello\n")
    (repo / "notes.md").write_text("draft\n")
    (repo / ".gitignore").write_text("/data/\n")
    (repo / "pytest.ini").write_text("[pytest]\n")
    (repo / "conftest.py").write_text(
        "from tests.tree_guard import pytest_sessionfinish, pytest_sessionstart  # noqa: F401\n"
    )
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "start")
    # Work in progress before the session: neither it nor staging it is the tests' doing.
    (repo / "notes.md").write_text("edited by hand\n")
    git(repo, "add", "notes.md")
    return repo


def session(
    checkout: Path, test: str, *args: str, settings: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """pytest in `checkout` on one test, the guard on unless `settings` say otherwise."""
    (checkout / "test_it.py").write_text(
        f"from pathlib import Path\n\ndef test_it(tmp_path):\n    {TESTS[test]}\n"
    )
    git(checkout, "add", "test_it.py")
    git(checkout, "commit", "-q", "-m", test)
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTEST_TREE_CHECK"}}
    # Without the venv's other plugins a session starts in 0.4 s instead of 5.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=checkout,
        env=env | {"PYTHONPATH": str(ROOT)} | (settings or {"PYTEST_TREE_CHECK": "1"}),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("test", "path"),
    [
        ("writes_a_tracked_file", "README.md (written)"),
        ("leaves_a_new_file", "output.csv (written)"),
        ("deletes_a_tracked_file", "README.md (deleted)"),
    ],
)
def test_a_session_that_changes_the_checkout_fails(checkout, test, path):
    done = session(checkout, test)
    assert done.returncode == 1, done.stdout
    assert "1 passed" in done.stdout  # the test itself passed; the session did not
    assert "the tests changed the checkout" in done.stdout
    assert f"  {path}\n" in done.stdout
    assert "notes.md" not in done.stdout


def test_the_check_runs_once_under_xdist(checkout):
    done = session(checkout, "writes_a_tracked_file", "-p", "xdist", "-n", "2")
    assert done.returncode == 1, done.stdout
    assert done.stdout.count("the tests changed the checkout") == 1
    assert "  README.md (written)\n" in done.stdout


def test_writing_under_tmp_path_or_an_ignored_folder_passes(checkout):
    done = session(checkout, "writes_where_it_should")
    assert done.returncode == 0, done.stdout
    assert "changed the checkout" not in done.stdout


@pytest.mark.parametrize(
    ("settings", "checked"),
    [
        ({"PYTEST_TREE_CHECK": "0"}, False),
        ({"CI": "true"}, True),  # on in CI unless switched off
        ({"CI": "true", "PYTEST_TREE_CHECK": "0"}, False),
    ],
)
def test_the_check_is_on_in_ci_and_can_be_switched_off(checkout, settings, checked):
    done = session(checkout, "writes_a_tracked_file", settings=settings)
    assert done.returncode == (1 if checked else 0), done.stdout
    assert ("the tests changed the checkout" in done.stdout) is checked


def test_make_test_turns_the_check_on():
    done = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    [pytest_line] = [line for line in done.stdout.splitlines() if " -m pytest " in line]
    assert pytest_line.startswith("PYTEST_TREE_CHECK=1 "), pytest_line
