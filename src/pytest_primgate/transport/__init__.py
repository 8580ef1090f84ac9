"""HTTP transport layers shared by every client of a run (plan tests, wallet set-up, x402)."""
