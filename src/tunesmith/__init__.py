"""tunesmith: fine-tune, evaluate, compress and serve DeepSeek-family LLMs."""
