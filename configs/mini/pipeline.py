# The embedded default: the generated `mini` ILSVRC-layout dataset, sized for 2 CPU cores.
_base_ = ['../_base_/pipeline.py']
