"""The project's own exceptions: one clear message naming the problem."""


class AudioclustError(Exception):
    """Base class: raised for a user-facing problem (bad input, bad config)."""


class DataError(AudioclustError):
    """The data root or the audio in it cannot be used."""


class ConfigError(AudioclustError):
    """A config value is invalid or two values do not fit together."""


class CheckpointError(AudioclustError):
    """A checkpoint is missing, unsafe, or does not match the config."""
