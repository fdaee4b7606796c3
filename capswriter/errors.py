"""Error types shared by every layer; messages are written for the user to act on."""

from __future__ import annotations


class CapsWriterError(Exception):
    """Base of every error the CLI and the tray turn into one clear sentence."""


class ModelNotInstalled(CapsWriterError):
    """The configured model folder is missing or incomplete."""


class ModelBroken(CapsWriterError):
    """The model folder exists but cannot be loaded."""


class ModelInstallError(CapsWriterError):
    """Installing or converting a model failed."""


class UnsupportedAudio(CapsWriterError):
    """The input is not audio we can decode (unknown format, corrupt, empty)."""


class AudioTooLarge(CapsWriterError):
    """The input exceeds the configured size or duration limit."""


class DecodeCancelled(CapsWriterError):
    """Decoding stopped because nobody waits for the audio any more (the client left)."""


class ConfigError(CapsWriterError):
    """The configuration file or an option has an invalid value."""


class QueueFull(CapsWriterError):
    """The server cannot hold more work right now; retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0, eta: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.eta = eta  # the expected wait that made the server say no, when it was estimated


class ServerUnavailable(CapsWriterError):
    """No CapsWriter server answers at the configured address."""


class MissingExtra(CapsWriterError):
    """A command needs an optional part of the package that is not installed."""


class DownloadError(CapsWriterError):
    """A download failed, was cut short or does not match its published size or checksum."""


class DownloadPaused(DownloadError):
    """A download was paused on request; what arrived is kept, and the next call resumes it."""


class UnsupportedLanguage(CapsWriterError):
    """The requested language is not one the model knows."""


class ShuttingDown(CapsWriterError):
    """The server is stopping and takes no new work."""


class PortInUse(CapsWriterError):
    """Another process (likely another CapsWriter server) already listens on the port."""


class PortUnavailable(CapsWriterError):
    """The system refuses the address: a port it reserves or keeps from this user, or an
    address that is not this machine's."""


class ServerStartFailed(ServerUnavailable):
    """A server started by us exited or did not get its workers ready in time."""
