"""Which packages the cloudpane distribution installs (the rest is in pyproject.toml).

The bundled trainer ships as `tui._trainer`, built from `trainer/`: cloudpane packages its
sdist from those files (tui/services/trainer_package.py) and never installs a top-level
`trainer`, the name Google's template gives a user's own training package.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["tui", "tui.*"]), "tui._trainer"],
    package_dir={"tui._trainer": "trainer"},
)
