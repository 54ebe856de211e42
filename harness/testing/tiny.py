"""Build a tiny, randomly initialised Llama with its own BPE tokenizer, entirely offline.

Tests and speed benchmarks need a real Hugging Face checkpoint (the code paths of a hub model:
`from_pretrained`, chat templates, padding) without network access or gigabytes of weights. The
defaults give the 12M-parameter model of the lm-eval speed comparison (with `chat_template=False`
and the GSM8K train questions as corpus it is that exact model); `TEST_SIZES` gives one that a
test session builds in about a second.

    python -m harness.testing.tiny OUT_DIR --corpus train.jsonl --field question --no-chat-template
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<pad>"
CHAT_TOKENS = ("<|im_start|>", "<|im_end|>")
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TEST_SIZES = {
    "vocab_size": 500,
    "hidden_size": 64,
    "layers": 2,
    "heads": 2,
    "intermediate_size": 128,
    "max_positions": 1024,
}
DEFAULT_CORPUS = (
    "The quick brown fox jumps over the lazy dog.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many in May.",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting.",
    "Betty is saving money for a new wallet which costs $100.",
    "James writes a 3-page letter to 2 different friends twice a week.",
    "Question: How many apples are left if Tom eats 3 of his 7 apples? Answer: 7 - 3 = 4.",
    "The answer is 42. Let's think step by step.",
    "def add(a, b):\n    return a + b\n",
    "A train travels 60 miles per hour for 3 hours, so it covers 180 miles.",
    "She bought 5 pencils at $2 each and paid with a $20 bill, getting $10 back.",
)


def build_tiny_causal_lm(
    out_dir: Path,
    corpus: Iterable[str],
    *,
    vocab_size: int = 2000,
    hidden_size: int = 384,
    layers: int = 6,
    heads: int = 6,
    intermediate_size: int = 1024,
    max_positions: int = 2048,
    seed: int = 0,
    chat_template: bool = True,
) -> Path:
    """Train a byte-level BPE tokenizer on `corpus`, pair it with a random Llama, save both.

    The chat tokens are added after BPE training, so plain text tokenises the same with or
    without `chat_template`; only the embeddings grow by two rows.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _train_tokenizer(corpus, vocab_size, max_positions)
    if chat_template:
        tokenizer.add_special_tokens({"additional_special_tokens": list(CHAT_TOKENS)})
        tokenizer.chat_template = CHATML_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)  # right before construction: same arguments, same weights
    model = LlamaForCausalLM(config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out_dir)
    model.save_pretrained(out_dir)
    return out_dir


def fit_tiny_causal_lm(
    model_dir: Path,
    texts: Sequence[str],
    *,
    steps: int = 200,
    batch_size: int = 8,
    learning_rate: float = 3e-3,
    max_length: int = 384,
    seed: int = 0,
) -> Path:
    """Teach a tiny model the surface form of `texts` (next-token loss, AdamW), saved in place.

    A random model never writes "Step 1:" or "Step 2 is incorrect", so a method that parses
    such text (Critic-CoT) would exercise only its no-answer paths; a few hundred steps on CPU
    are enough for the format, not for the mathematics.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    encoded = [ids[:max_length] for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    generator = torch.Generator().manual_seed(seed)

    def loss() -> Any:
        picks = torch.randint(len(encoded), (batch_size,), generator=generator).tolist()
        width = max(len(encoded[i]) for i in picks)
        ids = torch.full((batch_size, width), tokenizer.pad_token_id)
        labels = torch.full((batch_size, width), -100)
        for row, index in enumerate(picks):
            ids[row, : len(encoded[index])] = labels[row, : len(encoded[index])] = torch.tensor(encoded[index])
        return model(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss

    return _train_and_save(model, model_dir, loss, steps, learning_rate)


def build_tiny_reward_model(out_dir: Path, corpus: Iterable[str], **sizes: Any) -> Path:
    """A tiny Llama sequence classifier (one output: the reward) with a chat-template tokenizer.

    The trunk is `build_tiny_causal_lm`'s; the score head is new and random until
    `fit_tiny_reward_model` trains it.
    """
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging

    build_tiny_causal_lm(out_dir, corpus, **sizes)
    torch.manual_seed(sizes.get("seed", 0))
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # the load report lists the new score head and the unused LM head: expected
    try:
        model = AutoModelForSequenceClassification.from_pretrained(out_dir, num_labels=1, dtype=torch.float32)
    finally:
        logging.set_verbosity(verbosity)
    for weights in Path(out_dir).glob("*.safetensors"):
        weights.unlink()
    model.save_pretrained(out_dir)
    return Path(out_dir)


def fit_tiny_reward_model(model_dir: Path, pairs: Sequence[tuple[str, str]], *, steps: int = 60,
                          learning_rate: float = 3e-3, seed: int = 0) -> Path:
    """Train a reward model to score the first text of each pair above the second (Bradley-Terry
    loss, -log sigmoid(r_chosen - r_rejected)), saved in place."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32)
    torch.manual_seed(seed)
    texts = [text for pair in pairs for text in pair]
    batch = tokenizer(texts, padding=True, return_tensors="pt")

    def loss() -> Any:
        rewards = model(**batch).logits[:, 0].view(-1, 2)
        return -torch.nn.functional.logsigmoid(rewards[:, 0] - rewards[:, 1]).mean()

    return _train_and_save(model, model_dir, loss, steps, learning_rate)


def _train_and_save(model: Any, model_dir: Path, loss: Callable[[], Any], steps: int, learning_rate: float) -> Path:
    """`steps` AdamW steps on `loss()` (which draws its own batch), then the model saved in place."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    for _ in range(steps):
        loss().backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(model_dir)
    return Path(model_dir)


def _train_tokenizer(corpus: Iterable[str], vocab_size: int, max_positions: int) -> Any:
    """Byte-level BPE like GPT-2's: every string is encodable, and no BOS is ever prepended."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=EOS_TOKEN,
        bos_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        model_max_length=max_positions,
    )


def read_corpus(path: Path, field: str | None) -> list[str]:
    """Lines of a text file, or one field of each object of a .jsonl file."""
    lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix != ".jsonl":
        return lines
    if field is None:
        raise SystemExit(f"{path} is JSON lines: pass --field NAME to say which field to train on")
    return [str(json.loads(line)[field]) for line in lines]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a tiny random Llama for offline tests.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--corpus", type=Path, help="a .txt (one text a line) or .jsonl file")
    parser.add_argument("--field", help="the field of each JSON line to train the tokenizer on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-chat-template", dest="chat_template", action="store_false")
    parser.add_argument("--test-sizes", action="store_true", help="the small model tests use")
    args = parser.parse_args(argv)
    corpus = read_corpus(args.corpus, args.field) if args.corpus else list(DEFAULT_CORPUS)
    sizes = TEST_SIZES if args.test_sizes else {}
    out_dir = build_tiny_causal_lm(
        args.out_dir, corpus, seed=args.seed, chat_template=args.chat_template, **sizes
    )
    print(out_dir)


if __name__ == "__main__":
    main()
