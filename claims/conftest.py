"""`pytest claims`: every claim of the paper as a test; see replication/pytest_plugin.py."""

from replication.pytest_plugin import *  # noqa: F401,F403  (the plugin's hooks and fixtures)
