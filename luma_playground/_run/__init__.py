"""Running generations: the pipeline, background jobs and their uploads."""
