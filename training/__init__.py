"""Training, evaluation, export and data study for music auto-tagging on MagnaTagATune (MTAT).

Importing this package (or :mod:`tagging.audio`, :mod:`training.constants`) does not import
torch: the serving image reuses the torch-free audio helpers without shipping torch.
"""

__version__ = "0.1.0"
