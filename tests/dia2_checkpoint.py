"""Random-weight Dia2 checkpoints for the real `dia2` package: no hub, no weights download.

Dia2 builds its model from `config.json` (dia2.config.load_config → dia2.core.model.Dia2Model), so a
checkpoint is that config, the model's own random state dict as `model.safetensors`, a slow BERT
tokenizer whose vocabulary holds `[S1]` and `[S2]`, and a random transformers `MimiModel` saved with
`save_pretrained` (24 kHz, 12.5 frames/s: the strides of the real codec are kept).

`Size` names the shapes. TINY runs on one CPU thread at ~3 ms a frame (the test tier); the 1B/2B
shapes are for benchmarks/dia2_gpu.py and are ASSUMPTIONS (see the notes on each): the published
configs could not be read here (no hub), so those sizes only need the right parameter count and
step cost, not the exact layer layout.

The same folder can be used two ways:
- as a local folder: `Dia2.from_local(folder/config.json, folder/model.safetensors,
  tokenizer_id=folder, mimi_id=folder/mimi)`, which dramac does when `[dia2] repo` names a folder;
- as a Hugging Face cache entry (`lay_out_as_hub_cache`), so `Dia2.from_repo("org/name")` resolves
  offline with HF_HOME pointing at it and HF_HUB_OFFLINE=1: the path a real user takes.
"""

from __future__ import annotations

import json
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

# Common words first so most of a play's words are single tokens, as with a real subword
# vocabulary; letters and ##letters spell out anything else.
_WORDS = """the a an and or but of to in on at for with from by is are was were be been it i you he she
we they me him her us them my your his our their this that these those what who where when why how
not no yes now then here there all one two three come go get got have has had do did done say said
know think see look want need can could will would shall should may might must just so very well
right good bad time night day morning evening house door light sea ship boat water wind storm old
new long last first never ever again still only back down up out over into about after before hello
friend waiting begin finally quiet dark evening listen careful minutes more fire tell everything went
anyone expected promise checked every single left voice hands keep brought coffee love news week
sleep go car find nobody angry soft gentle right miles rosa hannah george ferry""".split()
_PUNCT = list(".,!?;:'\"-()…")
_SPECIAL = ["[PAD]", "[unused0]", "[unused1]", "[unused2]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[S1]", "[S2]"]
PAD_ID, NEW_WORD_ID, ZERO_ID = 0, 2, 3  # [PAD]; two unused slots stand for Dia2's action tokens


@dataclass(frozen=True)
class Size:
    name: str
    decoder_layers: int
    width: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    depformer_layers: int
    depformer_width: int
    depformer_hidden: int
    depformer_heads: int
    codebooks: int
    codebook_size: int
    context_steps: int
    mimi_tiny: bool = True  # a random Mimi of minimal width; False: the real codec's shapes
    # Distinct depformer weight sets; stages past the last share it (as Moshi's schedule does).
    # None: one set per stage, dia2's default.
    weight_sets: int | None = None

    def weights_schedule(self) -> list[int] | None:
        if self.weight_sets is None:
            return None
        stages = self.codebooks - 1
        return [min(i, self.weight_sets - 1) for i in range(stages)]


# ~81k parameters; context 200 frames = 16 s, so the context limit is easy to reach in a test.
TINY = Size("tiny", 2, 32, 64, 4, 2, 8, 1, 32, 64, 2, 4, 64, 200)
# ASSUMPTION (not confirmed against the published configs): a Moshi-like layout with 32 Mimi
# codebooks of 2048 entries, 1500 context steps, 9 depformer weight sets; widths and depths chosen
# so the parameter count is ≈1.1 B / ≈2.2 B (parameter_count() prints it).
DIA2_1B = Size("1B", 16, 1536, 6144, 12, 4, 128, 4, 1024, 4096, 16, 32, 2048, 1500, mimi_tiny=False, weight_sets=9)
DIA2_2B = Size("2B", 24, 2048, 8192, 16, 4, 128, 6, 1024, 4096, 16, 32, 2048, 1500, mimi_tiny=False, weight_sets=9)
SIZES = {s.name: s for s in (TINY, DIA2_1B, DIA2_2B)}


def vocabulary() -> list[str]:
    letters = list(string.ascii_lowercase) + list(string.digits)
    return _SPECIAL + _WORDS + _PUNCT + letters + [f"##{c}" for c in letters]


def dia2_config(size: Size, vocab_size: int, mimi: str | None) -> dict:
    audio_vocab = size.codebook_size + 2  # + pad and bos, the last two ids
    return {
        "data": {
            "channels": 2 + size.codebooks,
            "text_vocab_size": vocab_size,
            "audio_vocab_size": audio_vocab,
            "action_vocab_size": 2,  # pad, new word
            "text_pad_token_id": PAD_ID,
            "text_new_word_token_id": NEW_WORD_ID,
            "text_zero_token_id": ZERO_ID,
            "audio_pad_token_id": audio_vocab - 1,
            "audio_bos_token_id": audio_vocab - 2,
            "action_pad_token_id": 0,
            "action_new_word_token_id": 1,
            # Every delay must be ≥ 1: a 0 feeds the "not yet generated" id into an embedding.
            "delay_pattern": [1] + [2] * (size.codebooks - 1),
            "first_word_min_start": 0,
            "max_pad": 6,
            "second_stream_ahead": 0,
        },
        "model": {
            "decoder": {"n_layer": size.decoder_layers, "n_embd": size.width, "n_hidden": size.hidden,
                        "gqa_query_heads": size.heads, "kv_heads": size.kv_heads, "gqa_head_dim": size.head_dim},
            # The depformer needs kv_heads == gqa_query_heads.
            "depformer": {"n_layer": size.depformer_layers, "n_embd": size.depformer_width,
                          "n_hidden": size.depformer_hidden, "gqa_query_heads": size.depformer_heads,
                          "kv_heads": size.depformer_heads, "gqa_head_dim": size.head_dim},
            "linear": {"mlp_activations": ["silu", "linear"]},
            "dropout": 0.0,
            "rope_min_timescale": 1,
            "rope_max_timescale": 10000,
            "normalization_layer_epsilon": 1e-5,
        },
        "runtime": {"max_context_steps": size.context_steps,
                    **({"weights_schedule": size.weights_schedule()} if size.weight_sets else {})},
        "assets": {"tokenizer": None, "mimi": mimi},
    }


def _write_tokenizer(folder: Path) -> int:
    vocab = vocabulary()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "do_lower_case": True,
        "additional_special_tokens": ["[S1]", "[S2]"],
    }))
    (folder / "special_tokens_map.json").write_text(json.dumps({
        "unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]",
        "mask_token": "[MASK]", "additional_special_tokens": ["[S1]", "[S2]"],
    }))
    return len(vocab)


def _write_mimi(folder: Path, size: Size, seed: int) -> None:
    import torch
    from transformers import MimiConfig, MimiModel

    torch.manual_seed(seed)
    if size.mimi_tiny:
        config = MimiConfig(hidden_size=32, num_filters=4, codebook_size=size.codebook_size, codebook_dim=16,
                            num_quantizers=size.codebooks, num_semantic_quantizers=1, num_hidden_layers=1,
                            num_attention_heads=2, num_key_value_heads=2, head_dim=16, intermediate_size=64,
                            sliding_window=25, upsample_groups=32,
                            vector_quantization_hidden_dimension=16)
    else:
        config = MimiConfig(codebook_size=size.codebook_size, num_quantizers=size.codebooks)
    MimiModel(config).eval().save_pretrained(folder)


def build(folder: str | Path, size: Size = TINY, seed: int = 0, mimi: str | None = None) -> Path:
    """Write a random checkpoint of `size` into `folder` (config.json, model.safetensors, tokenizer,
    and `mimi/` unless `mimi` names another codec); returns the folder."""
    import torch
    from safetensors.torch import save_file

    from dia2.config import load_config
    from dia2.core.model import Dia2Model
    from dia2.core.precision import Precision

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = _write_tokenizer(folder)
    if mimi is None:
        _write_mimi(folder / "mimi", size, seed)
        mimi = str((folder / "mimi").resolve())
    (folder / "config.json").write_text(json.dumps(dia2_config(size, vocab_size, mimi), indent=1))
    torch.manual_seed(seed)
    model = Dia2Model(load_config(folder / "config.json"), Precision(torch.float32, torch.float32))
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    return folder


def lay_out_as_hub_cache(folder: Path, hf_home: Path, repo: str, commit: str = "0" * 40) -> None:
    """Copy a checkpoint folder into HF_HOME as the cache entry of `repo`, so that
    `Dia2.from_repo(repo)` resolves it with HF_HUB_OFFLINE=1 and no network."""
    entry = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    (entry / "refs").mkdir(parents=True, exist_ok=True)
    (entry / "refs" / "main").write_text(commit)
    shutil.copytree(folder, entry / "snapshots" / commit, dirs_exist_ok=True)


def parameter_count(size: Size) -> int:
    """Parameters of a Dia2 model of `size`, counted on the meta device (nothing allocated)."""
    import tempfile

    import torch

    from dia2.config import load_config
    from dia2.core.model import Dia2Model
    from dia2.core.precision import Precision

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(dia2_config(size, len(vocabulary()), None)))
        with torch.device("meta"):
            model = Dia2Model(load_config(path), Precision(torch.float32, torch.float32))
    return sum(p.numel() for p in model.parameters())
