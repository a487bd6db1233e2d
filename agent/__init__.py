"""The Qiyas agent."""

# Kept here, not read from package metadata: importlib.metadata costs the agent ~0.8 MB.
__version__ = "0.1.0"
