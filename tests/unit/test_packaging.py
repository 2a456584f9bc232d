"""Every subpackage ships, and the bundled targets are found through package data."""

from pathlib import Path

import tomllib

from edgekit.config.target import bundled_targets_folder, list_targets

ROOT = Path(__file__).resolve().parents[2]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "edgekit").rglob("__init__.py")}
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert "edgekit._targets" in listed


def test_bundled_targets_are_package_data():
    folder = bundled_targets_folder()
    assert (folder / "host.yaml").is_file()
    assert "host" in {target.name for target in list_targets()}
