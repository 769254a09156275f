"""Scoring an answer against a sample's labels, and the statistics of scores. Imports neither torch nor the model."""
