"""Recipe hashes: stable for the same inputs, different for any change."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.image.codelayer import code_hash
from harness.image.recipe import BaseRecipe, deps_recipe, digest


def _base() -> BaseRecipe:
    return BaseRecipe(kernel_version="6.1.0-56-amd64", kernel_sha256="ab" * 32)


def test_base_hash_is_stable() -> None:
    assert _base().hash() == _base().hash()
    assert len(_base().hash()) == 16


def test_base_hash_changes_with_packages_modules_kernel_and_builder() -> None:
    base = _base()
    variants = [
        replace(base, packages=(*base.packages, "strace")),
        replace(base, modules=base.modules[:-1]),
        replace(base, kernel_version="6.1.0-57-amd64"),
        replace(base, kernel_sha256="cd" * 32),
        replace(base, builder="0" * 16),
        replace(base, dpkg_excludes=()),
    ]
    hashes = {v.hash() for v in variants}
    assert base.hash() not in hashes and len(hashes) == len(variants)


def test_digest_separates_parts() -> None:
    assert digest("ab", "c") != digest("a", "bc")


def _project(root: Path, body: str) -> Path:
    for package in ("automation", "standins"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "automation" / "cli.py").write_text(body)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["pydantic>=2", "tenacity"]\n'
        '[project.optional-dependencies]\nstandins = ["pysyncobj>=0.3"]\nharness = ["rich"]\n'
    )
    return root


def test_code_hash_follows_python_changes_but_not_caches(tmp_path: Path) -> None:
    root = _project(tmp_path, "A = 1\n")
    first = code_hash(root)
    (root / "automation" / "__pycache__").mkdir()
    (root / "automation" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"junk")
    assert code_hash(root) == first
    (root / "automation" / "cli.py").write_text("A = 2\n")
    assert code_hash(root) != first


def test_deps_recipe_takes_node_deps_and_standins_extra_not_harness(tmp_path: Path) -> None:
    recipe = deps_recipe(_project(tmp_path, "").joinpath("pyproject.toml"))
    names = [spec.split("=")[0].split(">")[0] for spec in recipe.binary + recipe.pure]
    assert sorted(names) == ["pydantic", "pysyncobj", "tenacity"]
    assert [p.split("=")[0] for p in recipe.pure] == ["pysyncobj"]  # sdist-only: no --platform
    assert all("==" in spec for spec in recipe.binary)  # pinned to the harness's own versions
