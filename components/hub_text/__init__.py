"""Hugging Face BERT-family checkpoint -> TF Hub text module with in-graph WordPiece tokenization.

`checkpoint.read_checkpoint` validates a local checkpoint directory, `encoder` builds
the tf_keras encoder, `weights` loads its safetensors weights, `export` writes the
TF2 SavedModel that takes raw strings, `metadata` reads back the settings it records
(the PyTorch trainer truncates texts at its `max_seq_length`).
"""
