# The mini settings, unchanged, on the generated `scenes` preset: `cluttered` whose scenes say
# something of their classes (ilsvrc_pipe/synthetic/context.py): each class has a typical background,
# DET classes have companions they co-occur with, and three pairs of DET classes look alike and are
# told apart by their scenes. The data on which the global context branch has something to see
# (docs/studies.md#the-global-context-branch).
_base_ = ['./pipeline.py']
data = dict(root='data/scenes_ilsvrc', generate=dict(preset='scenes', seed=0))
