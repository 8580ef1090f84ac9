"""Loaders for the manifest formats: plan JSON, smoke TOML and prim.yaml."""
