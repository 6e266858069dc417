"""In-graph WordPiece tokenization of raw strings, as Hugging Face's BertTokenizer does it.

Normalisation follows HF's basic tokenizer: control characters removed, any Unicode
space becomes a space, then (per the tokenizer config) lower-casing and accent
stripping (NFD, combining marks removed). tensorflow_text then splits on
whitespace, punctuation and CJK characters and applies WordPiece. Sequences are
truncated to `max_seq_length - 2` word pieces, wrapped in [CLS] ... [SEP] and
padded to the longest sequence of the batch.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_text as tf_text

from retrain.components.hub_text.checkpoint import TokenizerSpec


def normalize_text(texts: tf.Tensor, lower_case: bool, strip_accents: bool) -> tf.Tensor:
    """HF BERT normalisation of a [N] string tensor (before splitting into words)."""
    texts = tf.strings.regex_replace(texts, r"[\t\n\r\p{Zs}]", " ")
    texts = tf.strings.regex_replace(texts, r"[\p{C}]", "")
    if lower_case:
        texts = tf.strings.lower(texts, encoding="utf-8")
    if strip_accents:
        texts = tf.strings.regex_replace(tf_text.normalize_utf8(texts, "NFD"), r"\p{Mn}", "")
    return texts


class WordPieceTokenizer(tf.keras.layers.Layer):
    """[N] strings -> (token ids [N, L] int32, mask [N, L] int32), L = longest sequence of the batch (<= max_seq_length)."""

    def __init__(self, spec: TokenizerSpec, max_seq_length: int, pad_id: int, **kwargs) -> None:
        super().__init__(trainable=False, **kwargs)
        self.spec, self.max_seq_length, self.pad_id = spec, max_seq_length, pad_id
        table = tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(list(spec.vocab), tf.range(len(spec.vocab), dtype=tf.int64)),
            num_oov_buckets=1,
        )
        self.wordpiece = tf_text.BertTokenizer(table, token_out_type=tf.int64, unknown_token=spec.unk_token, lower_case=False)

    def call(self, texts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        texts = normalize_text(tf.reshape(texts, [-1]), self.spec.lower_case, self.spec.strip_accents)
        pieces = self.wordpiece.tokenize(texts).merge_dims(-2, -1)[:, : self.max_seq_length - 2]
        ids, _ = tf_text.combine_segments([pieces], start_of_sequence_id=self.spec.cls_id, end_of_segment_id=self.spec.sep_id)
        dense = tf.cast(ids.to_tensor(default_value=self.pad_id), tf.int32)
        mask = tf.sequence_mask(ids.row_lengths(), maxlen=tf.shape(dense)[1], dtype=tf.int32)
        return dense, mask
