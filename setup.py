"""Package layout that pyproject.toml cannot express on its own: the top-level `migrations/` folder
(where alembic.ini and the repository layout keep it) is shipped inside the package as
`mlregistry.migrations`, so that every install, not only a source checkout, can upgrade its database."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages("src"), "mlregistry.migrations", "mlregistry.migrations.versions"],
    package_dir={"": "src", "mlregistry.migrations": "migrations"},
    package_data={"mlregistry.migrations": ["script.py.mako"]},
)
