"""The paper's claims, one pytest test each; installed as `replication.claims` (see pyproject.toml).

`pytest claims --scale smoke` in a checkout, or `pytest --pyargs replication.claims --scale smoke` anywhere
the package is installed; the plugin (`replication.pytest_plugin`) is loaded by its pytest11 entry point.
"""
