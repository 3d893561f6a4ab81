"""Published MTAT-trained taggers ported into the project: one registry of :class:`PortSpec`.

=============  ===================================================================  ==========
pons_musicnn   musicnn (Pons et al. 2018), ``MTT_musicnn`` of the musicnn 0.1.0 wheel  ISC
pons_vgg       VGG-like CNN of the same package, ``MTT_vgg``                         ISC
won_fcn        FCN (Choi et al. 2016) trained by Won et al. 2020                     MIT
won_musicnn    Musicnn re-implemented and trained by Won et al. 2020                 MIT
=============  ===================================================================  ==========

Every port maps a 16 kHz waveform ``(batch, chunk_samples)`` to logits ``(batch, 50)`` over
:data:`MTAT_TOP50_TAGS` (the first ten are the project's ten, in order), with its front-end inside.
``spec.clip_rule`` says which chunks of a clip the original tool averages; ``spec.build(source)``
loads the published weights from ``source`` (the folder holding ``spec.weights``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from tagging.clips import ClipRule
from tagging.constants import TOP10_TAGS
from training.models.pretrained import pons, won

MTAT_TOP50_TAGS: tuple[str, ...] = (
    *TOP10_TAGS,
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir",
    "voice", "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello",
    "no voice", "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip
"""MTAT's 50 most frequent tags in the output order of all four ports (musicnn's
``configuration.MTT_LABELS`` and Won et al.'s ``mtat/tags.txt`` list them identically)."""

MUSICNN_WHEEL = "musicnn==0.1.0"
ISC_MUSICNN = (
    "ISC (musicnn 0.1.0, Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019)"
)
MIT_WON = "MIT (sota-music-tagging-models, Copyright (c) 2020 Minz Won)"
PONS_CITATION = (
    "J. Pons and X. Serra, 'musicnn: Pre-trained convolutional neural networks for music audio "
    "tagging', ISMIR 2019 late-breaking/demo; J. Pons, O. Nieto, M. Prockup, E. M. Schmidt, "
    "A. F. Ehmann and X. Serra, 'End-to-end learning for music audio tagging at scale', ISMIR 2018"
)
WON_CITATION = (
    "M. Won, A. Ferraro, D. Bogdanov and X. Serra, 'Evaluation of CNN-based automatic music "
    "tagging models', SMC 2020"
)
PONS_RULE = ClipRule(
    pons.PATCH_SAMPLES,
    hop_samples=pons.PATCH_HOP,
    lead_pad=pons.N_FFT // 2,
    tail_pad=pons.N_FFT // 2,
)
"""musicnn's extractor: librosa ``center=True`` zero padding of the clip, non-overlapping
187-frame patches, incomplete tail dropped; every patch's sigmoid output averaged."""


@dataclass(frozen=True)
class PortSpec:
    """A ported published tagger: where its weights come from, how to build and chunk it."""

    name: str
    architecture: str
    weights: str
    """The weights, relative to the ``source`` folder passed to :meth:`build`."""
    source: str
    licence: str
    attribution: str
    citation: str
    clip_rule: ClipRule
    builder: Callable[[Path], nn.Module] = field(repr=False)
    tags: tuple[str, ...] = MTAT_TOP50_TAGS
    pad: str = "repeat"
    """Clips shorter than ``clip_rule.min_samples`` are tiled (the originals fail on them)."""
    ort_disabled_optimizers: tuple[str, ...] = ()
    """onnxruntime graph optimizers the card tells the service to leave out (measured per port:
    docs/ARCHITECTURE.md, "Measured design choices")."""

    @property
    def chunk_samples(self) -> int:
        return self.clip_rule.chunk_samples

    @property
    def hop_samples(self) -> int | None:
        return self.clip_rule.hop_samples

    @property
    def n_chunks(self) -> int | None:
        return self.clip_rule.n_chunks

    def build(self, source: str | Path) -> nn.Module:
        """The network with its published weights from ``source / weights`` (CPU, eval mode)."""
        path = Path(source) / self.weights
        if not (path.exists() or Path(f"{path}.index").exists()):
            raise FileNotFoundError(f"{self.name}: no weights at {path}")
        return self.builder(path).eval()


def _pons(name: str, checkpoint: str, architecture: str, builder) -> PortSpec:
    """A port of one of the musicnn package's MTAT checkpoints."""
    return PortSpec(
        name=name,
        architecture=f"{architecture}, musicnn package {checkpoint}",
        weights=checkpoint,
        source=f"TF1 checkpoint musicnn/{checkpoint} in the {MUSICNN_WHEEL} wheel",
        licence=ISC_MUSICNN,
        attribution="Jordi Pons and Xavier Serra, Music Technology Group, UPF (musicnn)",
        citation=PONS_CITATION,
        clip_rule=PONS_RULE,
        builder=builder,
    )


def _won(name: str, folder: str, architecture: str, chunk_samples: int, builder) -> PortSpec:
    """A port of one of Won et al.'s MTAT models (evaluated on 16 chunks per clip)."""
    return PortSpec(
        name=name,
        architecture=architecture,
        weights=f"mtat/{folder}/best_model.pth",
        source=f"minzwon/sota-music-tagging-models models/mtat/{folder}/best_model.pth",
        licence=MIT_WON,
        attribution="Minz Won et al., sota-music-tagging-models",
        citation=WON_CITATION,
        clip_rule=ClipRule(chunk_samples, n_chunks=16),
        builder=builder,
    )


PORTS: dict[str, PortSpec] = {
    spec.name: spec
    for spec in (
        _pons("pons_musicnn", "MTT_musicnn", "musicnn (Pons et al. 2018)", pons.build_musicnn),
        _pons("pons_vgg", "MTT_vgg", "VGG-like 2D CNN", pons.build_vgg),
        _won(
            "won_fcn",
            "fcn",
            "FCN (Choi et al. 2016) as trained by Won et al. 2020",
            won.FCN_SAMPLES,
            won.build_fcn,
        ),
        _won(
            "won_musicnn",
            "musicnn",
            "Musicnn (Pons et al. 2018) as re-implemented and trained by Won et al. 2020",
            won.MUSICNN_SAMPLES,
            won.build_musicnn,
        ),
    )
}


def get_port(name: str) -> PortSpec:
    """The registered port ``name``; unknown names raise ``ValueError`` with the valid list."""
    try:
        return PORTS[name]
    except KeyError:
        raise ValueError(f"unknown ported model {name!r}; valid: {', '.join(PORTS)}") from None
