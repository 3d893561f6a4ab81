"""The dataset study behind ``python -m training analyze``: labels, content against labels, projections.

``python -m training analyze --mtat-root DIR --out DIR [--checkpoint PATH] [--labels-only]
[--max-clips N]`` writes ``report.md`` with PNG figures (and ``summary.json``,
``descriptors.csv``, ``label_pairs.csv``, ``descriptor_tests.csv``) into ``--out``.
``--real-labels`` (the packaged real MTAT top-10 label table) or ``--labels-table PATH`` run the
label part alone without audio.

Three parts:

1. Labels (:mod:`.labels`, :mod:`.section_labels`): tag frequencies, label cardinality,
   co-occurrence counts, P(B|A), lift and PMI with Fisher's exact test per pair and
   Benjamini-Hochberg correction (Benjamini & Hochberg 1995; :mod:`.corrections`).
2. Content against labels (:mod:`.section_content`): per-clip descriptors (:mod:`.descriptors`,
   computed over clips by :mod:`.clip_descriptors`) per tag, and the seed's claim that slow/fast
   and classical/techno separate without machine learning, tested with Mann-Whitney U
   (:mod:`.separability`: AUC = U / (n1 n2), rank-biserial effect, Holm correction, Holm 1979).
3. Projections (:mod:`.section_projections`): PCA and t-SNE (van der Maaten & Hinton 2008;
   :mod:`.projections`) of standardized descriptors (and of a checkpoint's penultimate features,
   :mod:`.embeddings`), with silhouette scores (Rousseeuw 1987) of each tag's partition and k-NN
   label purity against the base rate (:mod:`.clusters`).

The command (:mod:`.analyze`) reads the data (:mod:`.sources`), runs the parts and writes the
report (:mod:`.figures`, :mod:`.report`). Importing this package imports no submodule.
"""
