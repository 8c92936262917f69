"""mmengine registries of ilsvrc_pipe: configs build models, heads and datasets by type name."""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry("model", parent=MMENGINE_MODELS, locations=["ilsvrc_pipe.models"])
DATASETS = Registry("dataset", parent=MMENGINE_DATASETS, locations=["ilsvrc_pipe.data.cls_dataset", "ilsvrc_pipe.data.loc_crops",
                                                                     "ilsvrc_pipe.data.det_train"])
