"""Build ``models/<name>_int8`` from ``models/<name>``: static int8, kept only if it agrees.

    python scripts/make_int8.py won_musicnn [--models DIR]

Quantization (``onnxruntime.quantization.quantize_static``, the recipe of
``benchmarks.ort_variants``' ``int8_qop_u8s8``): QOperator format, uint8 activations, int8
weights per channel, Conv/MatMul/Gemm nodes outside ``/frontend/`` (the STFT convolution and
the mel bank stay fp32), outside ``/vertical/`` (the timbral filters' DFT stages,
:class:`training.models.pretrained.vertical.VerticalMax`, stay fp32) and but for the final
classifier Gemm (fp32, so the ``embedding`` output stays its input), MinMax calibration on the
clip-rule chunks of the five real recordings of tests/data and on 16 synthetic clips
(``training.data.synth``, one chunk each).

Agreement with the fp32 model, on the four parity recordings of
``tests/data/pretrained`` (brahms, vibe_ace, trumpet, mtat_joram; the whole files, clip
probabilities = mean over the card's clip-rule chunks): the same top 3 on every one and max
|Δp| <= 0.02 over the 50 tags (issue 19), else nothing is written. The card is the fp32 card
with the new name and a ``quantization`` field (recipe, agreement, the fp32 model it comes
from); its ``evaluations`` are the fp32 model's, each marked so (``model``), and its
``calibration`` is left out (thresholds fitted on the fp32 predictions): it decides nothing
unless given a threshold.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ort_variants import INT8, PARITY, calibration_chunks, quantize  # noqa: E402
from tagging.audio import decode  # noqa: E402
from tagging.card import ModelCard  # noqa: E402

RECIPE = "int8_qop_u8s8"
MAX_DP = 0.02


def clip_probabilities(path: Path, card: ModelCard) -> dict[str, np.ndarray]:
    """``{recording: (K,) clip probabilities}`` of the parity recordings (one thread, no arena)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sess = ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"],
        disabled_optimizers=card.ort_disabled_optimizers or None,
    )  # fmt: skip
    out = {}
    for key, f in PARITY.items():
        chunks = card.clip_rule.chunks(decode(f))
        out[key] = sess.run([card.output_name], {card.input_name: chunks})[0].mean(axis=0)
    return out


def agreement(fp32: dict[str, np.ndarray], int8: dict[str, np.ndarray], tags: list[str]) -> dict:
    per = {}
    for key, p in fp32.items():
        q = int8[key]
        top_p = [tags[i] for i in np.argsort(-p, kind="stable")[:3]]
        top_q = [tags[i] for i in np.argsort(-q, kind="stable")[:3]]
        per[key] = {"top3_fp32": top_p, "top3_int8": top_q, "same_top3": top_p == top_q,
                    "max_abs_dp": round(float(np.abs(p - q).max()), 5)}  # fmt: skip
    worst = max(v["max_abs_dp"] for v in per.values())
    return {
        "recordings": per,
        "same_top3_all": all(v["same_top3"] for v in per.values()),
        "max_abs_dp": worst,
        "rule": f"same top 3 on every parity recording and max |dp| <= {MAX_DP}",
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("name")
    p.add_argument("--models", type=Path, default=REPO / "models")
    args = p.parse_args()
    src = args.models / args.name
    dst = args.models / f"{args.name}_int8"
    card = ModelCard.model_validate_json((src / "card.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        onnx_int8 = Path(tmp) / "model.onnx"
        calib = calibration_chunks(card.chunk_samples, card.clip_rule)
        quantize(src / "model.onnx", onnx_int8, calib, INT8[RECIPE])
        agree = agreement(
            clip_probabilities(src / "model.onnx", card),
            clip_probabilities(onnx_int8, card),
            card.tags,
        )
        print(json.dumps(agree, indent=1))
        if not agree["same_top3_all"] or agree["max_abs_dp"] > MAX_DP:
            print(f"not kept: {agree['rule']} does not hold", file=sys.stderr)
            return 1
        dst.mkdir(exist_ok=True)
        shutil.copyfile(onnx_int8, dst / "model.onnx")
    data = json.loads((src / "card.json").read_text())
    data.pop("calibration", None)  # thresholds fitted on the fp32 model's predictions
    for entry in data.get("evaluations") or []:  # the fp32 model's, said so on each
        entry["model"] = f"{args.name} (fp32); not re-measured for this int8 model"
    fmt, act, weight = INT8[RECIPE]
    data["name"] = dst.name
    data["architecture"] = f"{data.get('architecture')} (static int8)"
    data["quantization"] = {
        "from": args.name,
        "tool": f"onnxruntime {ort.__version__} quantize_static",
        "format": fmt, "activations": act, "weights": weight, "per_channel": True,
        "nodes": "Conv, MatMul, Gemm outside /frontend/, /vertical/ (DFT stages) and the final classifier (fp32)",
        "calibration": f"MinMax on {len(calib)} chunks: the five real recordings of tests/data "
        "(clip-rule chunks) and 16 synthetic clips (one chunk each)",
        "agreement": agree,
        "note": f"evaluations are those of {args.name} (fp32), marked so; its calibrated "
        "thresholds are not copied: this model decides nothing unless given a threshold",
        "command": f"python scripts/make_int8.py {args.name}",
    }  # fmt: skip
    ModelCard.model_validate(data).write(dst / "card.json")
    licence = data.get("licence_file")
    if licence and (src / licence).exists():
        shutil.copyfile(src / licence, dst / licence)
    print(f"wrote {dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
