"""The BERT encoder in tf_keras: raw strings -> token ids -> embeddings -> N transformer layers -> pooling.

Layer names mirror the Hugging Face modules and carry the layer index, so the
variables of transformer layer i are `layer_i/...` (e.g. `layer_3/query/kernel:0`)
and the Hub trainer's default block pattern groups them bottom (0) to top. The
embeddings and the tokenizer form the `stem` below them.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from retrain.components.hub_text.checkpoint import ConversionError, EncoderSpec, PoolingSpec, TextCheckpoint
from retrain.components.hub_text.tokenizer import WordPieceTokenizer

POOLED_OUTPUT = "pooled_output"
SEQUENCE_OUTPUT = "sequence_output"
TOKEN_IDS = "input_word_ids"
INPUT_MASK = "input_mask"
INITIALIZER_STDDEV = 0.02  # BERT's initializer_range: what a randomly initialised encoder starts from


def _initializer() -> tf.keras.initializers.Initializer:
    return tf.keras.initializers.TruncatedNormal(stddev=INITIALIZER_STDDEV)


def _dense(units: int, name: str) -> tf.keras.layers.Dense:
    return tf.keras.layers.Dense(units, kernel_initializer=_initializer(), name=name)


def _activation(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    if name == "relu":
        return tf.nn.relu
    approximate = name in ("gelu_new", "gelu_pytorch_tanh")
    return lambda x: tf.nn.gelu(x, approximate=approximate)


class Embeddings(tf.keras.layers.Layer):
    """Word + position + token-type (segment 0) embeddings, layer norm, dropout."""

    def __init__(self, spec: EncoderSpec, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.layer_norm = tf.keras.layers.LayerNormalization(epsilon=spec.layer_norm_eps, name="layer_norm")
        self.dropout = tf.keras.layers.Dropout(spec.hidden_dropout)

    def build(self, input_shape: tf.TensorShape) -> None:
        spec = self.spec
        self.word_embeddings = self.add_weight("word_embeddings", [spec.vocab_size, spec.hidden_size], initializer=_initializer())
        self.position_embeddings = self.add_weight(
            "position_embeddings", [spec.max_position_embeddings, spec.hidden_size], initializer=_initializer()
        )
        self.token_type_embeddings = self.add_weight("token_type_embeddings", [spec.type_vocab_size, spec.hidden_size], initializer=_initializer())
        super().build(input_shape)

    def call(self, token_ids: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        length = tf.shape(token_ids)[1]
        embedded = tf.gather(self.word_embeddings, token_ids)
        embedded += self.position_embeddings[tf.newaxis, :length] + self.token_type_embeddings[0]
        return self.dropout(self.layer_norm(embedded), training=training)


class TransformerLayer(tf.keras.layers.Layer):
    """One post-norm BERT layer: multi-head self-attention and a feed-forward block, each with residual + layer norm."""

    def __init__(self, spec: EncoderSpec, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.query = _dense(spec.hidden_size, "query")
        self.key = _dense(spec.hidden_size, "key")
        self.value = _dense(spec.hidden_size, "value")
        self.attention_output = _dense(spec.hidden_size, "attention_output")
        self.attention_layer_norm = tf.keras.layers.LayerNormalization(epsilon=spec.layer_norm_eps, name="attention_layer_norm")
        self.intermediate = _dense(spec.intermediate_size, "intermediate")
        self.output_dense = _dense(spec.hidden_size, "output")
        self.output_layer_norm = tf.keras.layers.LayerNormalization(epsilon=spec.layer_norm_eps, name="output_layer_norm")
        self.attention_dropout = tf.keras.layers.Dropout(spec.attention_dropout)
        self.dropout = tf.keras.layers.Dropout(spec.hidden_dropout)
        self.activation = _activation(spec.hidden_act)

    def call(self, hidden: tf.Tensor, mask: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        spec = self.spec
        batch, length = tf.shape(hidden)[0], tf.shape(hidden)[1]
        head_size = spec.hidden_size // spec.num_heads

        def split_heads(values: tf.Tensor) -> tf.Tensor:
            return tf.transpose(tf.reshape(values, [batch, length, spec.num_heads, head_size]), [0, 2, 1, 3])

        query, key, value = split_heads(self.query(hidden)), split_heads(self.key(hidden)), split_heads(self.value(hidden))
        scores = tf.matmul(query, key, transpose_b=True) / tf.sqrt(float(head_size))
        scores += (1.0 - tf.cast(mask, scores.dtype))[:, tf.newaxis, tf.newaxis, :] * -1e9
        weights = self.attention_dropout(tf.nn.softmax(scores, axis=-1), training=training)
        context = tf.reshape(tf.transpose(tf.matmul(weights, value), [0, 2, 1, 3]), [batch, length, spec.hidden_size])
        hidden = self.attention_layer_norm(hidden + self.dropout(self.attention_output(context), training=training))
        feed_forward = self.output_dense(self.activation(self.intermediate(hidden)))
        return self.output_layer_norm(hidden + self.dropout(feed_forward, training=training))


class Pooling(tf.keras.layers.Layer):
    """Token vectors [N, L, H] + mask [N, L] -> sentence vectors [N, H] (cls, mean, max or mean_sqrt_len), optionally L2-normalised."""

    def __init__(self, spec: PoolingSpec, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def call(self, hidden: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        weights = tf.cast(mask, hidden.dtype)[:, :, tf.newaxis]
        counts = tf.maximum(tf.reduce_sum(weights, axis=1), 1e-9)
        if self.spec.mode == "cls":
            pooled = hidden[:, 0]
        elif self.spec.mode == "max":
            pooled = tf.reduce_max(hidden + (1.0 - weights) * -1e9, axis=1)
        elif self.spec.mode == "mean":
            pooled = tf.reduce_sum(hidden * weights, axis=1) / counts
        else:
            pooled = tf.reduce_sum(hidden * weights, axis=1) / tf.sqrt(counts)
        return tf.math.l2_normalize(pooled, axis=-1, epsilon=1e-24) if self.spec.normalize else pooled


def build_text_encoder(checkpoint: TextCheckpoint, max_seq_length: int, seed: int = 0) -> tf.keras.Model:
    """The encoder with random (BERT-initialised, seeded) weights: [N] strings -> dict of pooled/sequence outputs, ids and mask."""
    if not 3 <= max_seq_length <= checkpoint.encoder.max_position_embeddings:
        raise ConversionError(f"max_seq_length must be between 3 and {checkpoint.encoder.max_position_embeddings}, got {max_seq_length}")
    tf.keras.utils.set_random_seed(seed)
    spec = checkpoint.encoder
    texts = tf.keras.Input(shape=(), dtype=tf.string, name="text")
    token_ids, mask = WordPieceTokenizer(checkpoint.tokenizer, max_seq_length, spec.pad_token_id, name="tokenizer")(texts)
    hidden = Embeddings(spec, name="embeddings")(token_ids)
    for index in range(spec.num_layers):
        hidden = TransformerLayer(spec, name=f"layer_{index}")(hidden, mask)
    pooled = Pooling(checkpoint.pooling, name="pooling")(hidden, mask)
    outputs = {POOLED_OUTPUT: pooled, SEQUENCE_OUTPUT: hidden, TOKEN_IDS: token_ids, INPUT_MASK: mask}
    return tf.keras.Model(texts, outputs, name="text_encoder")
