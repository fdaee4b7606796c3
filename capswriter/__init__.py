"""CapsWriter: offline push-to-talk dictation and file transcription."""

__version__ = "0.1.0"
