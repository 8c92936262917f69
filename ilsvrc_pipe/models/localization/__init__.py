"""The localizer of appendix C: per-class RPN, its anchors (and those fitted to the
training boxes), anchor sampling, the RoI-centric R-CNN and the rescoring of
proposals."""
