"""Helpers of every layer: process groups, precision, devices, threads, OpenMP defaults,
logging, atomic I/O, checkpoints and the errors that report bad input."""
