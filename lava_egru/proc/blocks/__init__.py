"""Hierarchical layer Processes (input, dense, EGRU) and their SubProcessModels."""
