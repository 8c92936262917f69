"""The ResNet trunk: the network, batch-norm folding, starting from a trained classifier
and pretrained weights."""
