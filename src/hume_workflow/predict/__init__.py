"""Labelling new samples with what a finished pair found: its vote, its runs' task encoders."""
