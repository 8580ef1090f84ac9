"""The embedded prim.sh-compatible sandbox: a real HTTP server on loopback."""
