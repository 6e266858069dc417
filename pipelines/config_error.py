"""ConfigError on its own: the CLI reports it without loading the config models (pipelines/config.py)."""


class ConfigError(ValueError):
    """A configuration problem, reported as one line naming the field."""
