"""What is evaluated: sample and suite types, the suite-directory format, and the standard benchmarks (hf:/tsv:)."""
