"""The wheel (issue 15, item 4): built with ``python -m build``, installed in a clean venv with
its dependencies from the package index, and run from there.

Everything Parley reads at run time that is not Python — the console's templates and static
assets, the catalogues (``parley.po``, ``texts.po``), the JSON schemas, the alembic
migrations, the demo scenarios — must be inside: every file of ``src/parley`` is looked for
in the installed package. Then ``parley --help`` and ``parley init`` run from that venv (the
init runs the migrations from the wheel), and a sentence renders from the installed
catalogues.

It needs the package index (build isolation fetches hatchling; the install fetches the
dependencies, ``--prefer-binary``); uv is used when the venv has it (scripts/setup installs
it), pip otherwise. It takes about a minute with a warm cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "parley"
# Made at run time or by the developer's tools (compiled catalogues are gitignored), never shipped.
NOT_SHIPPED_SUFFIXES = (".pyc", ".mo")


def _run(args: list[str | Path], *, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    )
    return proc.stdout


def _clean_env(tmp: Path) -> dict[str, str]:
    """This process's environment without anything that points at the development venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)
    )
    env["PARLEY_HOME"] = str(tmp / "unused-home")
    return env


def test_the_wheel_installs_in_a_clean_venv_and_runs(tmp_path: Path) -> None:
    env = _clean_env(tmp_path)
    started = time.monotonic()

    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, ROOT], cwd=tmp_path, env=env)
    (wheel,) = dist.glob("parley-*.whl")
    built = time.monotonic()

    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv:
        _run([uv, "venv", "-q", "-p", sys.executable, venv], cwd=tmp_path, env=env)
        _run([uv, "pip", "install", "-q", "-p", python, wheel], cwd=tmp_path, env=env)
    else:
        base = getattr(sys, "_base_executable", sys.executable)
        _run([base, "-m", "venv", venv], cwd=tmp_path, env=env)
        _run([python, "-m", "pip", "install", "-q", "--prefer-binary", wheel], cwd=tmp_path, env=env)
    installed = time.monotonic()

    # The package comes from the venv, not from this checkout.
    where = _run(
        [python, "-c", "import parley, pathlib; print(pathlib.Path(parley.__file__).parent)"],
        cwd=tmp_path,
        env=env,
    )
    package = Path(where.strip())
    assert package.is_relative_to(venv), package

    expected = sorted(
        p.relative_to(SOURCE)
        for p in SOURCE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in NOT_SHIPPED_SUFFIXES
    )
    missing = [str(p) for p in expected if not (package / p).is_file()]
    assert not missing, f"not in the wheel: {missing}"
    # Named, so a change of layout that empties a directory fails here and not at run time.
    for pattern, at_least in (
        ("console/templates/*.html", 10),
        ("console/static/**/*.js", 3),
        ("console/static/**/*.css", 1),
        ("formats/locale/*/LC_MESSAGES/parley.po", 3),
        ("formats/locale/*/LC_MESSAGES/texts.po", 2),
        ("formats/schemas/*.json", 5),
        ("storage/migrations/versions/*.py", 1),
        ("storage/migrations/env.py", 1),
        ("storage/migrations/script.py.mako", 1),
    ):
        found = list(package.glob(pattern))
        assert len(found) >= at_least, f"{pattern}: {len(found)} in the wheel, expected at least {at_least}"

    parley = venv / "bin" / "parley"
    assert "init" in _run([parley, "--help"], cwd=tmp_path, env=env)
    home = tmp_path / "home"
    _run(
        [
            parley,
            "--home",
            home,
            "init",
            "--name",
            "wheel-node",
            "--party",
            "Norway",
            "--listen",
            "127.0.0.1:18443",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert (home / "parley.toml").is_file()
    _run([parley, "--home", home, "identity", "--out", tmp_path / "card.json"], cwd=tmp_path, env=env)
    assert "wheel-node" in (tmp_path / "card.json").read_text()
    # The catalogues are read from the installed package.
    said = _run(
        [
            python,
            "-c",
            "from parley.formats.texts import T, render; print(render(T('the node is shutting down'), 'ru'))",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert said.strip() == "узел останавливается"

    print(
        f"wheel: built in {built - started:.0f}s, installed in {installed - built:.0f}s, "
        f"checked in {time.monotonic() - installed:.0f}s"
    )
