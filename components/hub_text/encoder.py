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


class Projection(tf.keras.layers.Layer):
    """`x @ kernel + bias` over the last axis as one `Einsum`, for [N, L, in] inputs, or heads in and out of attention.

    `heads_in=n` returns [N, L, n, units / n] (the query/key/value split into heads);
    `heads_out=True` takes [N, L, n, d] and contracts the last two axes. The kernel is
    always [in, units], as a Dense layer's, so checkpoints convert the same way. Unlike
    tf_keras `Dense` on a 3-D input (a `tensordot` of about 15 shape ops), no shape is
    computed at run time, which keeps the traced graph and its gradient small.
    """

    def __init__(self, units: int, heads_in: int = 0, heads_out: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units, self.heads_in, self.heads_out = units, heads_in, heads_out

    def build(self, input_shape: tf.TensorShape) -> None:
        fan_in = int(input_shape[-1]) * (int(input_shape[-2]) if self.heads_out else 1)
        self.kernel = self.add_weight("kernel", [fan_in, self.units], initializer=_initializer())
        self.bias = self.add_weight("bias", [self.units], initializer="zeros")
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        if self.heads_in:
            heads = [self.heads_in, self.units // self.heads_in]
            kernel = tf.reshape(self.kernel, [self.kernel.shape[0], *heads])
            return tf.einsum("nli,ihd->nlhd", inputs, kernel) + tf.reshape(self.bias, heads)
        if self.heads_out:
            kernel = tf.reshape(self.kernel, [inputs.shape[-2], inputs.shape[-1], self.units])
            return tf.einsum("nlhd,hdo->nlo", inputs, kernel) + self.bias
        return tf.einsum("nli,io->nlo", inputs, self.kernel) + self.bias


class LayerNorm(tf.keras.layers.Layer):
    """Layer normalisation over the last axis (weights `gamma`, `beta`), without tf_keras' reshapes into a fused batch norm."""

    def __init__(self, epsilon: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape: tf.TensorShape) -> None:
        self.gamma = self.add_weight("gamma", [input_shape[-1]], initializer="ones")
        self.beta = self.add_weight("beta", [input_shape[-1]], initializer="zeros")
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        mean, variance = tf.nn.moments(inputs, axes=[-1], keepdims=True)
        return tf.nn.batch_normalization(inputs, mean, variance, self.beta, self.gamma, self.epsilon)


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
        self.layer_norm = LayerNorm(spec.layer_norm_eps, name="layer_norm")
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
        heads = spec.num_heads
        self.query = Projection(spec.hidden_size, heads_in=heads, name="query")
        self.key = Projection(spec.hidden_size, heads_in=heads, name="key")
        self.value = Projection(spec.hidden_size, heads_in=heads, name="value")
        self.attention_output = Projection(spec.hidden_size, heads_out=True, name="attention_output")
        self.attention_layer_norm = LayerNorm(spec.layer_norm_eps, name="attention_layer_norm")
        self.intermediate = Projection(spec.intermediate_size, name="intermediate")
        self.output_dense = Projection(spec.hidden_size, name="output")
        self.output_layer_norm = LayerNorm(spec.layer_norm_eps, name="output_layer_norm")
        self.attention_dropout = tf.keras.layers.Dropout(spec.attention_dropout)
        self.dropout = tf.keras.layers.Dropout(spec.hidden_dropout)
        self.activation = _activation(spec.hidden_act)

    def call(self, hidden: tf.Tensor, mask: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        head_size = self.spec.hidden_size // self.spec.num_heads
        query, key, value = self.query(hidden), self.key(hidden), self.value(hidden)
        scores = tf.einsum("nqhd,nkhd->nhqk", query, key) * (1.0 / float(head_size) ** 0.5)
        scores += (1.0 - tf.cast(mask, scores.dtype))[:, tf.newaxis, tf.newaxis, :] * -1e9
        weights = self.attention_dropout(tf.nn.softmax(scores, axis=-1), training=training)
        context = tf.einsum("nhqk,nkhd->nqhd", weights, value)
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
