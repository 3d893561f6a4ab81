"""Synthetic MagnaTagATune: MP3 clips + ``annotations_final.csv`` in MTAT's exact on-disk format.

MTAT audio cannot be downloaded here, so tests, CI and the demo use a miniature MTAT made by this
package. The same loader (``training.data.mtat.read_annotations``) reads it unchanged.

How it works:

* **Labels** (:mod:`.labels`, :mod:`.plan`) follow the real MTAT top-10 statistics
  (``training/data/mtat_top10_stats.json``, derived by :func:`derive_stats` from the real label
  table ``mtat_top10_labels.tsv``; source: MTAT, Law et al. 2009, "Evaluation of algorithms using
  games: the case of music tagging", ISMIR). Each synthetic *song* draws a latent tag set from the
  empirical distribution of MTAT's top-10 label combinations (or none of the ten). Each ~29 s
  *segment* (clip) of the song writes the latent tags, each dropped with probability
  ``label_drop`` (MTAT's labels are weak: taggers miss tags). Names: :mod:`.names`.
* **Audio** is rendered from the latent tags (:mod:`.render`). :mod:`.style` makes the song-level
  decisions: tempo (slow 55-80 BPM, fast 140-180 BPM, techno 125-135 BPM), key, chord progression,
  drum style, instruments and a motif. :mod:`.instruments` and :mod:`.percussion` make the sounds:
  plucked Karplus-Strong guitar (Karplus & Strong 1983), distorted power chords (rock), struck
  inharmonic piano, bowed string sections with vibrato, synthesizers with filter envelopes
  (electronic/techno), orchestral woodwinds with dynamics (classical), drum kits. :mod:`.patterns`
  writes what they play (motif-based melodies on scale degrees, arpeggios, chords, basslines,
  techno four-on-the-floor, rock backbeat, grooves), :mod:`.parts` arranges instruments and
  patterns into tracks and :mod:`.mixing` masters the sum (light convolution reverb, loudness,
  limiter). Clips without a top-10 tag get other styles (ambient pads, formant "voices", world
  percussion, organ) so they are not silence. Every song varies randomly (key, tempo within
  range, instrument mix, loudness).
* **Determinism**: all randomness of a clip derives from ``(seed, song index, segment index)``, so
  any number of worker processes writes byte-identical files (LAME via libsndfile is deterministic).

CLI: ``python -m training synth --out DIR --clips N --seed S [--seconds 29.1] [--workers N]``
(:mod:`.command`; writing: :mod:`.writer`).
Stats: ``python -m training.data.synth --derive-stats`` rewrites the JSON from the TSV.
"""

from training.data.synth.labels import derive_stats, load_stats
from training.data.synth.names import segment_bounds
from training.data.synth.plan import (
    ClipPlan,
    DatasetPlan,
    SynthConfig,
    plan_dataset,
    sample_labels,
)
from training.data.synth.render import render_clip
from training.data.synth.writer import SynthSummary, synthesize

__all__ = [
    "ClipPlan",
    "DatasetPlan",
    "SynthConfig",
    "SynthSummary",
    "derive_stats",
    "load_stats",
    "plan_dataset",
    "render_clip",
    "sample_labels",
    "segment_bounds",
    "synthesize",
]
