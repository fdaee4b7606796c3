"""Speech recognition: model manifests, installation, conversion and the engine."""
