"""Helpers of scripts/make_data_samples.py: synthetic speech, backgrounds and recording channels.

Everything here works at 16 kHz on float64 NumPy arrays and takes a `numpy.random.Generator`,
so a clip is a pure function of its seed.
"""

SAMPLE_RATE = 16000
