//! Synthetic H&E slides with known mitoses and mimics, for tests, benchmarks and demos.
