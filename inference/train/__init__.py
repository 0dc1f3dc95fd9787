"""Training code for humanfx's learned models (needs PyTorch).

* :mod:`.segmenter` - ``train_segmenter``: the Local Segmenter training loop.
* :mod:`.data` - training crops from synthetic scenes or a COCO person dataset.
* :mod:`.losses` - BCE + Dice (seed equation 4).
* :mod:`.sam` - the SAM optimizer (sharpness-aware minimization, Foret et al. 2021).

Nothing here is imported by the inference path; import the submodules directly.
"""
