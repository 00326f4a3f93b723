"""Training: one loop (``loop.train``), batching, checkpoints and tuning methods."""
