"""Pretrained CNN features: VGG19 and its weights."""

from painterly.features.vgg import LAYER_NAMES, VGG19, caffe_preprocess, torch_preprocess
from painterly.features.weights import VGGWeights, find_weights, load_vgg19

__all__ = ["LAYER_NAMES", "VGG19", "VGGWeights", "caffe_preprocess", "find_weights", "load_vgg19", "torch_preprocess"]
