"""Audio files in and transcripts out: decoding, segmentation at pauses, writers."""
