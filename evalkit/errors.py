"""Errors a user can cause. The CLI prints their one-line message and exits 2; anything else is a bug."""


class EvalkitError(Exception):
    """Base class: a problem with the user's input, config, suite or checkpoint."""


class ConfigError(EvalkitError, ValueError):
    """A run or sweep configuration that cannot work (unknown key, wrong type, impossible setting)."""


class SuiteError(EvalkitError, ValueError):
    """A suite directory or manifest that does not validate; the message names file and line."""


class CheckpointError(EvalkitError):
    """A model directory or Hub snapshot that is missing files or tensors, or does not match its config."""


class InputError(EvalkitError, ValueError):
    """A prompt or image that the processor cannot use (unreadable image, tags not matching images...)."""


class UnsupportedSettingError(EvalkitError):
    """A dtype / attention / device combination that cannot run on this machine (recorded as skipped)."""
