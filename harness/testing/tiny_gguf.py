"""Write a tiny Llama checkpoint as a GGUF file, laid out as llama.cpp's converter lays one out.

Tests of the GGUF path need a GGUF file without a download. This writes one from a checkpoint of
`harness.testing.tiny` with the `gguf` package's writer: llama.cpp's metadata keys, its tensor
names (from the package's own name map), the rotary row order its converter gives the query and
key projections, and the tokenizer as byte-level BPE metadata with the chat template. Tensors are
stored as float32, so a model loaded from the file computes what the checkpoint computes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTROL_TOKEN = 3  # llama.cpp's token type for special tokens
NORMAL_TOKEN = 1


def write_tiny_gguf(model_dir: Path, out_file: Path, *, architecture: str = "llama") -> Path:
    """`model_dir` (a tiny Llama with its tokenizer) as one GGUF file at `out_file`.

    `architecture` other than llama only relabels the file, to make one transformers refuses."""
    import gguf
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = model.config
    writer = gguf.GGUFWriter(str(out_file), architecture)
    writer.add_name(Path(model_dir).name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    _add_tokenizer(writer, tokenizer)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        weights = tensor.float().numpy()
        if name.endswith(("q_proj.weight", "k_proj.weight")):
            heads = config.num_attention_heads if "q_proj" in name else config.num_key_value_heads
            weights = _rotary_rows(weights, heads)
        writer.add_tensor(names.get_name(name, try_suffixes=(".weight", ".bias")), weights)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(out_file)


def _add_tokenizer(writer: Any, tokenizer: Any) -> None:
    """Byte-level BPE as llama.cpp stores GPT-2-style vocabularies (`tokenizer.ggml.model = gpt2`)."""
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    vocabulary = dict(backend["model"]["vocab"])
    special = {token["content"]: token["id"] for token in backend["added_tokens"]}
    vocabulary.update(special)
    tokens = [token for token, _ in sorted(vocabulary.items(), key=lambda item: item[1])]
    merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in backend["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([CONTROL_TOKEN if token in special else NORMAL_TOKEN for token in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_add_bos_token(False)
    if getattr(tokenizer, "chat_template", None):
        writer.add_chat_template(tokenizer.chat_template)


def _rotary_rows(weights: Any, heads: int) -> Any:
    """llama.cpp's `permute` of a query or key projection: each head's rows from the
    rotate-half order transformers uses to llama.cpp's interleaved pairs (transformers undoes it
    when it loads the file)."""
    rows = weights.shape[0]
    return (weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))
