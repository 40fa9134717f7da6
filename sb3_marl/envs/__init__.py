"""SMAC environments: the built-in batched simulator, the real-SMAC backend and their views."""
