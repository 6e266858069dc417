"""The work of a `retrain run` in feature_extraction as one plain script, the baseline of `pipeline_scaling`.

`python -m benchmarks.plain_pipeline images|text DATA OUTPUT --backbone HANDLE --epochs N --batch-size B
--learning-rate LR [--image-size H W --channels C]`: read the files (an image folder per class, or a
`text,label` CSV) -> hash split 80/20 -> decode (PIL: EXIF orientation, alpha on white, resize with
antialiasing) -> embed with the TF Hub backbone -> train the same head (dropout 0.1, dense softmax,
Adam) for the same epochs -> evaluate on the eval split -> save backbone + head as a SavedModel.
Prints `accuracy=... seconds=...`. No TFX, Beam, ML Metadata or caching.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # the Hub modules are tf_keras layers

EVAL_BUCKETS = 2  # of 10: 20% eval, as the pipeline's default data.eval_fraction


def is_eval(key: str) -> bool:
    """The record's split by a stable hash of its key."""
    return int(hashlib.md5(key.encode()).hexdigest(), 16) % 10 < EVAL_BUCKETS


def read_images(root: Path, size: tuple[int, int], channels: int) -> tuple[list[np.ndarray], list[str], list[bool]]:
    """Decoded images in [0, 1], their labels (folder names) and whether each is eval."""
    from PIL import Image, ImageOps

    pixels, labels, evals = [], [], []
    for path in sorted(root.glob("*/*")):
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            rgba = image.convert("RGBA")
            flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            flat.alpha_composite(rgba)
            converted = flat.convert("L" if channels == 1 else "RGB").resize((size[1], size[0]), Image.BILINEAR, reducing_gap=None)
        array = np.asarray(converted, np.float32) / 255.0
        pixels.append(array[..., None] if channels == 1 else array)
        labels.append(path.parent.name)
        evals.append(is_eval(str(path.relative_to(root))))
    return pixels, labels, evals


def read_texts(path: Path) -> tuple[list[str], list[str], list[bool]]:
    """Texts, labels and whether each is eval, from a `text,label` CSV."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row["text"] for row in rows], [row["label"] for row in rows], [is_eval(f"{i}:{row['text']}") for i, row in enumerate(rows)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("images", "text"))
    parser.add_argument("data", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--backbone", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--learning-rate", type=float, required=True)
    parser.add_argument("--image-size", type=int, nargs=2, default=(224, 224))
    parser.add_argument("--channels", type=int, default=3)
    args = parser.parse_args()
    start = time.perf_counter()
    import tensorflow as tf
    import tensorflow_hub as hub

    tf.keras.utils.set_random_seed(42)
    if args.kind == "images":
        inputs, labels, evals = read_images(args.data, tuple(args.image_size), args.channels)
        inputs = np.stack(inputs)
    else:
        import tensorflow_text  # noqa: F401  (registers the ops of the text module's tokenizer)

        inputs, labels, evals = read_texts(args.data)
        inputs = np.array(inputs, dtype=object)
    classes = sorted(set(labels))
    targets = np.array([classes.index(label) for label in labels])
    evals = np.array(evals)
    backbone = hub.KerasLayer(str(args.backbone), trainable=False)
    embeddings = np.concatenate([backbone(inputs[i : i + 256]).numpy() for i in range(0, len(inputs), 256)])
    head = tf.keras.Sequential([tf.keras.layers.Dropout(0.1), tf.keras.layers.Dense(len(classes), activation="softmax")])
    head.compile(optimizer=tf.keras.optimizers.Adam(args.learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    head.fit(embeddings[~evals], targets[~evals], epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    _, accuracy = head.evaluate(embeddings[evals], targets[evals], batch_size=256, verbose=0)
    model = tf.keras.Sequential([backbone, head])
    model(inputs[:1])
    model.save(str(args.output))
    print(f"accuracy={accuracy:.4f} seconds={time.perf_counter() - start:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
