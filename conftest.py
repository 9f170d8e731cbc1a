# A bare copy of the tree (PYTHONPATH=., nothing installed, as on a borrowed GPU machine) has no entry point to
# load the claims' plugin, so `pytest claims --scale ...` would not know --scale: load it here. Installed, the
# entry point has already registered it and this is a no-op.
pytest_plugins = ["replication.pytest_plugin"]
