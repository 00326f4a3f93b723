"""Evaluation: generate on a test set, parse with each task's parser, score with its metric."""
