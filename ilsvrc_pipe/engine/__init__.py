"""The stage runner and what it drives: the pipeline, training, specs, the one inference
loop, progress, the batch rule, start-up checks and runtime settings."""
