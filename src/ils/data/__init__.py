"""The build pipeline: raw task data → normalized, validated, deduplicated, decontaminated splits."""
