"""Record the ORIGINAL taggers' penultimate features on the parity patches, the reference of the
ports' ``embedding`` output (``tests/data/pretrained/<name>_penultimate.json``).

The patches are those of the logits references (``tests/data/pretrained/<name>.json``: excerpt
``wave`` and ``patch_starts``); the recorded logits are checked against those references before
anything is written, so the features come from the same patches through the same original graph.
The penultimate features are the input of the original's final classifier layer (the project's
definition, ``training/embedding.py``):

* ``won``, in the project's venv (torch, torchaudio): ``FCN`` / ``Musicnn`` of
  minzwon/sota-music-tagging-models ``training/model.py`` (commit 06fa058) with ``Conv_1d``,
  ``Conv_2d``, ``Conv_V``, ``Conv_H`` of ``training/modules.py`` (commit 1676bf3), copied
  unchanged into ``CODE/model.py`` and ``CODE/modules.py`` (upstream code: not in this repo),
  ``load_state_dict`` of ``WEIGHTS/mtat/{fcn,musicnn}/best_model.pth``, eval mode; a forward
  pre-hook on ``dense`` / ``dense2`` records their input::

    python scripts/record_penultimate.py won --code CODE --weights WEIGHTS

* ``pons``, in the musicnn package's throwaway venv (tensorflow-cpu 2.15.1, numpy<2, librosa
  0.10.2.post1, musicnn 0.1.0 --no-deps; see tests/data/pretrained/README.md): the graph as
  ``musicnn.extractor.extractor`` builds it, fed ``extractor.batch_data(excerpt, 187, 187)``;
  the fetched tensor is the first input of the ``MatMul`` of the final dense layer (whose
  ``BiasAdd`` is the logits ``y``); for ``MTT_musicnn`` it is checked to equal the package's own
  ``penultimate`` feature (``extractor``'s key: the batch-normalised 200-unit dense layer)::

    VENV/bin/python scripts/record_penultimate.py pons
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "pretrained"
LOGIT_CHECK = 1e-3  # the parity tolerance of per-patch logits (training...parity.PATCH_TOLERANCE)


def write(name: str, original: str, layer: str, feats: dict, logit_diffs: dict) -> None:
    out = {
        "model": name,
        "original": original,
        "layer": layer,
        "logits_max_abs_diff_vs_reference": logit_diffs,
        "recordings": {k: {"patch_penultimate": np.round(v, 6).tolist()} for k, v in feats.items()},
    }
    path = DATA / f"{name}_penultimate.json"
    path.write_text(json.dumps(out) + "\n")
    print(f"{path}: {', '.join(f'{k} {v.shape}' for k, v in feats.items())}; logits {logit_diffs}")


def check_logits(name: str, key: str, logits: np.ndarray, rec: dict) -> float:
    diff = float(np.max(np.abs(logits - np.asarray(rec["patch_logits"]))))
    if not diff <= LOGIT_CHECK:
        raise SystemExit(f"{name}/{key}: logits differ from the reference by {diff:.3g}")
    return diff


def record_won(code: Path, weights: Path) -> None:
    import soundfile as sf
    import torch

    sys.path.insert(0, str(code))
    import model as upstream  # noqa: PLC0415  (the upstream module, from --code)

    from training.models.pretrained import get_port
    from training.models.pretrained.parity import patch_inputs

    for name, cls, folder, dense in (
        ("won_fcn", upstream.FCN, "fcn", "dense"),
        ("won_musicnn", upstream.Musicnn, "musicnn", "dense2"),
    ):
        ref = json.loads((DATA / f"{name}.json").read_text())
        net = cls()
        state = torch.load(weights / "mtat" / folder / "best_model.pth", map_location="cpu")
        net.load_state_dict(state)
        net.eval()
        captured: list[np.ndarray] = []
        getattr(net, dense).register_forward_pre_hook(
            lambda _m, x, c=captured: c.append(x[0].detach().numpy().copy())
        )
        logit_hook: list[np.ndarray] = []
        getattr(net, dense).register_forward_hook(
            lambda _m, _x, y, c=logit_hook: c.append(y.detach().numpy().copy())
        )
        feats, diffs = {}, {}
        for key, rec in ref["recordings"].items():
            excerpt, _ = sf.read(DATA / rec["wave"], dtype="float32")
            x = patch_inputs(get_port(name).clip_rule, excerpt, rec["patch_starts"])
            captured.clear()
            logit_hook.clear()
            with torch.no_grad():
                net(torch.from_numpy(x))
            diffs[key] = check_logits(name, key, logit_hook[0], rec)
            feats[key] = captured[0]
        layer = f"input of {cls.__name__}.{dense} (the final nn.Linear), eval mode"
        write(name, ref["original"], layer, feats, diffs)


def record_pons() -> None:
    import tensorflow as tf
    from musicnn import extractor, models

    for name, model in (("pons_musicnn", "MTT_musicnn"), ("pons_vgg", "MTT_vgg")):
        ref = json.loads((DATA / f"{name}.json").read_text())
        tf.compat.v1.reset_default_graph()
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
            is_training = tf.compat.v1.placeholder(tf.bool)
            outs = models.define_model(x, is_training, model, 50)
            y = outs[0] if isinstance(outs, tuple | list) else outs
            # musicnn's own 'penultimate' feature (extractor's key), the VGG has none
            own = outs[-1] if model == "MTT_musicnn" else None
        matmul = y.op.inputs[0].op  # logits = BiasAdd(MatMul(penultimate, W), b)
        if y.op.type != "BiasAdd" or matmul.type != "MatMul":
            raise SystemExit(f"{name}: logits are {y.op.type}({matmul.type}), not a dense layer")
        penultimate = matmul.inputs[0]
        sess = tf.compat.v1.Session()
        sess.run(tf.compat.v1.global_variables_initializer())
        folder = Path(extractor.__file__).parent / model
        tf.compat.v1.train.Saver().restore(sess, str(folder) + "/")
        feats, diffs = {}, {}
        for key, rec in ref["recordings"].items():
            batch, _ = extractor.batch_data(str(DATA / rec["wave"]), 187, 187)
            if len(batch) != len(rec["patch_starts"]):
                raise SystemExit(
                    f"{name}/{key}: {len(batch)} patches, reference has {len(rec['patch_starts'])}"
                )
            feed = {x: batch, is_training: False}
            logits, feat = sess.run([y, penultimate], feed_dict=feed)
            diffs[key] = check_logits(name, key, logits, rec)
            if own is not None and not np.array_equal(sess.run(own, feed_dict=feed), feat):
                raise SystemExit(f"{name}/{key}: the MatMul input is not musicnn's penultimate")
            feats[key] = feat
        layer = (
            f"first input of {matmul.name} (MatMul of the final dense layer): {penultimate.name}"
        )
        write(name, ref["original"], layer, feats, diffs)
        sess.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("which", choices=["won", "pons"])
    p.add_argument("--code", type=Path, help="won: folder with upstream model.py + modules.py")
    p.add_argument("--weights", type=Path, help="won: sota-music-tagging-models weights root")
    args = p.parse_args()
    if args.which == "won":
        if args.code is None or args.weights is None:
            p.error("won needs --code and --weights")
        record_won(args.code, args.weights)
    else:
        record_pons()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
