"""The OpenAI-compatible server (``ils serve``): FastAPI app, request batching, API keys, chat page."""
