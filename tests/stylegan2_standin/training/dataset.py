"""Stand-in dataset: PNG images in a zip file or a folder, no labels."""

import io
import os
import zipfile

import numpy as np
import PIL.Image
import torch


class ImageFolderDataset(torch.utils.data.Dataset):
    def __init__(
        self, path, resolution=None, use_labels=False, max_size=None, xflip=False, **_
    ):
        self._path = path
        if os.path.isdir(path):
            names = sorted(os.listdir(path))
            self._images = [
                open(os.path.join(path, n), "rb").read()
                for n in names
                if n.endswith(".png")
            ]
        else:
            with zipfile.ZipFile(path) as archive:
                names = sorted(n for n in archive.namelist() if n.endswith(".png"))
                self._images = [archive.read(n) for n in names]
        if max_size is not None:
            self._images = self._images[:max_size]
        first = self._load(0)
        self.image_shape = list(first.shape)
        self.num_channels, self.resolution = first.shape[0], first.shape[1]
        assert resolution is None or resolution == self.resolution
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.label_shape, self.label_dim, self.has_labels = [0], 0, False

    def _load(self, index):
        image = np.array(PIL.Image.open(io.BytesIO(self._images[index])))
        image = image[:, :, np.newaxis] if image.ndim == 2 else image
        return image.transpose(2, 0, 1)

    def __len__(self):
        return len(self._images)

    def __getitem__(self, index):
        return self._load(index).copy(), self.get_label(index)

    def get_label(self, index):
        return np.zeros([0], dtype=np.float32)
