"""Reports of a gated run: terminal table, results file, GitHub summary and annotations."""
