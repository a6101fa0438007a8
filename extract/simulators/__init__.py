"""Local stand-ins for the source APIs: small HTTP servers on 127.0.0.1 for tests, demos and benchmarks."""
