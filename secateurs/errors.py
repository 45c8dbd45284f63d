"""The project's own exceptions: the CLI turns each into one stderr line and exit code 2."""


class SecateursError(Exception):
    """Base of every error a user can act on."""


class ConfigError(SecateursError):
    """A configuration value is missing, unknown or impossible."""


class FormatError(SecateursError):
    """A packed model file is corrupt, truncated or of an unknown version."""


class InputError(SecateursError):
    """A user-supplied array or file has the wrong type, shape or content."""


class SimulationError(SecateursError):
    """The RTL simulation could not be built or run, or disagreed with the reference."""
