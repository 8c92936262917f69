"""Submission files the devkit (and Kaggle) read: writers, and strict readers that name bad lines."""
from .det_file import DetSubmission, read_det_file, write_det_file
from .kaggle_csv import align_to_images, is_kaggle_csv, read_kaggle_loc_csv, write_kaggle_loc_csv
from .loc_file import (LocSubmission, gt_class_submission, read_loc_file, write_gt_class_loc_file,
                       write_loc_file)

__all__ = [
    "DetSubmission", "read_det_file", "write_det_file",
    "LocSubmission", "read_loc_file", "write_loc_file", "gt_class_submission", "write_gt_class_loc_file",
    "is_kaggle_csv", "read_kaggle_loc_csv", "write_kaggle_loc_csv", "align_to_images",
]
