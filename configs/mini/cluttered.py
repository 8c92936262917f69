# The mini settings, unchanged, on the generated `cluttered` preset: 14 CLS-LOC classes, objects
# 15-85 % of the shorter side, more clutter and appearances mini never draws, so that the settings are
# checked on data they were not tuned on. `make run` uses configs/mini/pipeline.py.
_base_ = ['./pipeline.py']
data = dict(root='data/cluttered_ilsvrc', generate=dict(preset='cluttered', seed=0))
