"""Data layer: MTAT annotations and splits, audio decoding, the 16 kHz cache, torch datasets.

Small attributed data files ship beside these modules (see ``SOURCES.md``). Importing this package
imports neither torch nor any submodule.
"""
