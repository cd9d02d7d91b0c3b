//! Benchmarks and comparison harnesses.
