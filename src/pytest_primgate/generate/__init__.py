"""`primgate gen`: plan tests for routes_map routes that no test covers (pure helpers)."""
