"""The image classifier and its test-time modes (centre crop, 10-crop, dense multi-scale)."""
