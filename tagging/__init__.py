"""The torch-free core that the service, the CLI and training share.

What a tagging model *is* and how audio reaches it: the tag vocabulary and sample rate
(:mod:`tagging.constants`), decoding and resampling (:mod:`tagging.audio`,
:mod:`tagging.decoders`), the clip rule that turns a clip into chunks (:mod:`tagging.clips`),
the model card's evaluations (:mod:`tagging.evaluations`) and atomic writes
(:mod:`tagging.files`). Nothing here imports torch, scikit-learn or the web framework.
"""
