"""Training: the one loop (:mod:`painterly.train.loop`), photo data, DDP, and the trainers plugged into it.

Users with a GPU usually train on COCO train2014 (83k photos), as Johnson et al. did; on a CPU a
few dozen large photos (``scripts/make_photo_set.py`` builds such a set offline) cut into random
crops at several scales train a light model in under two hours.
"""

from painterly.train.config import TrainConfig
from painterly.train.data import PhotoCrops, list_photos
from painterly.train.loop import TrainResult
from painterly.train.trainer import train

__all__ = ["PhotoCrops", "TrainConfig", "TrainResult", "list_photos", "train"]
