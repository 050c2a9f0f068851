"""Runnable examples of the EGRU (``python -m snntorch_egru.examples.sequence_demo``)."""
