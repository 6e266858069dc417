"""Image folders through the whole pipeline: bad files are counted and listed, good ones train and serve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tensorflow as tf

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.prepare import ExampleLayout

pytestmark = pytest.mark.e2e
NAMES = {5: "five", 6: "six", 7: "seven"}


def _image_folders(root: Path, per_class: int) -> None:
    images = digits.load_digits_images()
    for digit, name in NAMES.items():
        folder = root / name
        folder.mkdir(parents=True)
        for index, image in enumerate(digits.select_digits(images, (digit,)).images[:per_class]):
            (folder / f"{index}.png").write_bytes(digits.encode_png(image))
    (root / "five" / "empty.png").write_bytes(b"")
    (root / "six" / "notes.txt").write_text("not an image")
    (root / "six" / "moved.png").symlink_to(root / "six" / "deleted.png")  # dangling: crashed ExampleGen's driver
    (root.parent / "private.png").write_bytes(digits.encode_png(images.images[0]))
    (root / "seven" / "private.png").symlink_to(root.parent / "private.png")  # outside the data directory: not read


def test_image_folders_with_a_few_bad_files(tmp_path: Path, digits_example: ExampleLayout, run_cli) -> None:
    _image_folders(tmp_path / "images", per_class=40)
    (tmp_path / "config.yaml").write_text(
        "pipeline_name: folders\n"
        "data: {path: images, format: image_folders, eval_fraction: 0.3, max_rejected_fraction: 0.05}\n"
        f"backbone: {{handle: {digits_example.backbone_dir}}}\n"
        "training: {epochs: 10}\n"
        "evaluation: {min_accuracy: 0.5}\n"
        "push: {model_name: folders}\n"
    )
    run = run_cli("run", "--config", "config.yaml", "--output", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "ImageFolderExampleGen done in" in run.stdout
    summary_line = next(line for line in run.stdout.splitlines() if line.startswith("ingested:"))
    assert summary_line.startswith("ingested: 120 images; 4 rejected, listed in ")
    rejected_dir = Path(summary_line.split("listed in ")[1])
    rejected = [json.loads(line) for path in rejected_dir.rglob("rejected-*") for line in path.read_text().splitlines()]
    assert sorted(record["path"] for record in rejected) == ["five/empty.png", "seven/private.png", "six/moved.png", "six/notes.txt"]
    assert "pushed model:" in run.stdout

    model = tf.saved_model.load(str(tmp_path / "out" / "serving" / "folders" / "1"))
    seven = digits.select_digits(digits.load_digits_images(), (7,)).images[100]
    outputs = model.signatures["serving_raw"](image=tf.constant([digits.encode_png(seven)]))
    assert sorted(n.decode() for n in outputs["class_names"].numpy()[0]) == ["five", "seven", "six"]
