"""What the networks take (size multiples, the AdaIN encoder layer and transforms), importable
without torch: the methods' specs check options and estimate memory with these before any network loads."""

#: The feed-forward style network's encoder downsamples twice by 2, so inputs are padded to a multiple of this.
TRANSFORMER_SIZE_MULTIPLE = 4
#: The AdaIN network works at relu4_1, 1/8 of the input size, so inputs are padded to a multiple of this.
ADAIN_SIZE_MULTIPLE = 8
#: The VGG19 layer whose features the AdaIN network restyles.
ADAIN_ENCODER_LAYER = "relu4_1"
#: Feature transforms of the AdaIN network: channel mean/std (``adain``) or whole covariance (``wct``).
ADAIN_TRANSFORMS = ("adain", "wct")
