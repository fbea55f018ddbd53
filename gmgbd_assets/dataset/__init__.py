"""The dataset itself: the gmgbd table and its quarantine, the train/val/test splits, and the checks that hold them
together.
"""
