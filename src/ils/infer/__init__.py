"""Inference: the one engine that turns prompts into text (used by eval, chat, serving, plans)."""
