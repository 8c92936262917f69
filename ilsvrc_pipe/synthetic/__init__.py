"""The small synthetic ILSVRC-layout dataset that the pipeline uses by default, and its generator.

The real ILSVRC 2015 data is 160 GB and not redistributable, yet every stage must run end to end on
a laptop and meet every trap of the real files. This package writes a synthetic dataset in the exact
real on-disk layout::

    <root>/ILSVRC/Data/CLS-LOC/{train/<wnid>/<wnid>_<n>.JPEG, val/, test/}
    <root>/ILSVRC/Annotations/CLS-LOC/{train/<wnid>/<stem>.xml (about half), val/<stem>.xml (all)}
    <root>/ILSVRC/ImageSets/CLS-LOC/{train_cls,train_loc,val,test}.txt
    <root>/ILSVRC/Data/DET/train/{ILSVRC2013_train/<wnid>/, ILSVRC2013_train_extra0/, ILSVRC2014_train_0000/}
    <root>/ILSVRC/Data/DET/{val,test}/ and Annotations/DET/{train,val}/<same relative stem>.xml
    <root>/ILSVRC/ImageSets/DET/{train_<k>,val,test}.txt
    <root>/ILSVRC/devkit/data/{map_clsloc.txt, meta_clsloc.mat, ILSVRC2015_clsloc_validation_*.txt,
                               map_det.txt, meta_det.mat, ILSVRC2015_det_validation_blacklist.txt,
                               det_lists/...}: the DET val halves, in the preset's ``det_lists`` layout:
        ``val1_val2`` (the default):  det_lists/val1.txt and det_lists/val2.txt, each sorted
        ``ilsvrc2014_devkit``:        as the public ILSVRC2014 devkit ships them: det_lists/ilsvrc13_val2.txt
                                      (val2 in its own order, not sorted) and det_lists/val.txt (all
                                      of val), no val1 (readers derive it: data/det_val_halves.py)
    <root>/LOC_synset_mapping.txt, LOC_train_solution.csv, LOC_val_solution.csv, LOC_sample_submission.csv
    <root>/traps.json, <root>/.mini_ilsvrc.json (completion marker: preset, seed, version, counts)

Images are learnable: every class has its own shape, fill pattern and colour family, and instances
vary in scale, aspect, rotation (within +-30 degrees), border truncation, colour and lighting. They
sit on cluttered backgrounds (gradients, smooth noise, irregular blobs) with distractors (spiky
solid polygons, line strokes) that belong to no class. Boxes are inclusive integer pixel boxes equal
to the bounding box of the object's drawn mask (amodal when objects overlap), so they are tight.

Presets (``PRESETS``; size is the shorter side in pixels, width/height in 0.75..1.33 unless given):

==========  =============================================  ===========================================  ========
preset      CLS-LOC                                        DET                                          size
==========  =============================================  ===========================================  ========
smoke       4 classes x 16 train (half boxed), 16 val,     4 classes (2 shared with CLS-LOC), 8 train   64-96
            8 test                                         per class + 8 ILSVRC2014 + 4 negatives,
                                                           16 val, 8 test
mini        10 classes x 80 train (half boxed), 200 val,   8 classes (4 shared), 30 train per class +   96-160
            100 test                                       60 ILSVRC2014 + 30 negatives, 100 val,
                                                           50 test
cluttered   14 classes x 60 train (half boxed), 210 val,   10 classes (4 shared), 24 train per class +  96-160
            112 test; objects 15-85 % of the shorter side  60 ILSVRC2014 + 30 negatives, 100 val,
            (mini: 35-80 % by area); 8 shapes and 4        50 test; a quarter small (10-28 px), the
            patterns mini never draws; 2-6 distractors,    rest 15-70 % of the shorter side
            a quarter of them textured; wider colour and
            lighting; 20 % softened
scenes      cluttered, and each image often on its         cluttered, and backgrounds as CLS-LOC;       96-160
            class's habitat (3 background kinds, 80 %)     half the extra objects the first class's
                                                           companion; 3 look-alike pairs of DET
                                                           classes (same shape and pattern, hues 0.04
                                                           apart, different habitats): ``context.py``
paper_size  4 classes x 8 train (half boxed), 8 val,       4 classes (2 shared), 2 train per class +    281-500,
            4 test; ImageNet's image sizes; val holds      3 ILSVRC2014 + 1 negative, 6 val, 2 test;    width/
            portrait and landscape images                  small objects 20-60 px; val holds portrait   height
                                                           and landscape images; DET val lists as the   0.5..2.0
                                                           ILSVRC2014 devkit ships them
==========  =============================================  ===========================================  ========

Deliberate traps (each at least once, chosen deterministically; ``traps.json`` lists the files):

* ``png_named_jpeg``: PNG content under a ``.JPEG`` name (CLS-LOC train and DET train).
* ``cmyk_jpeg``: CMYK JPEGs in CLS-LOC train.
* ``grayscale_jpeg``: single-channel JPEGs (CLS-LOC train/val, DET train); their XML still says
  ``<depth>3</depth>`` (``depth_not_trustworthy``).
* ``xmax_equals_width``: a CLS-LOC val object spanning the whole width, written ``xmin=0`` and
  ``xmax=width`` (one past the last pixel), in the XML and in ``LOC_val_solution.csv``.
* ``bndbox_children_out_of_order``: XMLs whose ``<bndbox>`` children come as xmin, xmax, ymin, ymax.
* ``inverted_box``: a CLS-LOC train XML with a good box plus an extra object with ``xmax < xmin``
  (also in ``LOC_train_solution.csv``, which mirrors the XML).
* ``det_train_xml_without_objects``: ILSVRC2014 DET train XMLs with zero ``<object>``.
* ``det_negatives_without_xml``: ``ILSVRC2013_train_extra0`` images, listed ``-1`` in every
  ``train_<k>.txt``, with no XML.
* ``det_partial_label``: DET train images listed ``0`` in ``train_<k>.txt``: one instance of class k
  is boxed, another one is drawn but not annotated.
* ``det_minimal_objects``: ILSVRC2014 DET XMLs whose objects carry only ``<name>`` and ``<bndbox>``.
* ``kaggle_rows_unsorted``: rows of ``LOC_train_solution.csv`` and ``LOC_val_solution.csv`` shuffled.
* ``clsloc_val_multiple_boxes``: CLS-LOC val images with 2-3 objects of their class.
* ``devkit_ids_not_sorted``: devkit ids are a (non-identity) permutation of sorted-WNID order.
* ``det_val_two_prefixes``: DET val holds both ``ILSVRC2012_val_`` and ``ILSVRC2013_val_`` names.

The output is byte-identical for the same (preset, seed, VERSION): every image draws from its own
random stream keyed on (seed, split, index), and the .mat headers carry no timestamp.

Modules: ``identities.py`` (class shapes, patterns, colours, WNIDs), ``scene.py`` (drawing one
image and its objects), ``context.py`` (the `scenes` preset's habitats, companions, look-alikes), ``plan.py`` (presets and every image as a job, traps assigned),
``writers.py`` (images, XMLs, devkit, ImageSets, Kaggle CSVs, traps manifest), ``generate.py``
(atomic generation, marker, generate on first use), ``preview.py`` (contact sheet).
"""
from .generate import GENERATOR, MARKER, VERSION, ensure_mini_ilsvrc, generate_mini_ilsvrc, read_marker
from .identities import Identity
from .plan import ASPECT_RANGE, PRESETS, Job, Plan, plan_dataset, render_job
from .preview import write_preview
from .scene import CLS_COVER_RANGE, Scene, SceneObject
from .writers import TRAPS_FILE

__all__ = ["ASPECT_RANGE", "CLS_COVER_RANGE", "GENERATOR", "MARKER", "PRESETS", "TRAPS_FILE", "VERSION",
           "Identity", "Job", "Plan", "Scene", "SceneObject", "ensure_mini_ilsvrc", "generate_mini_ilsvrc",
           "plan_dataset", "read_marker", "render_job", "write_preview"]
