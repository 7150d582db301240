#!/usr/bin/python3
"""Step 2 of training the organism (see scripts/organism/README.md): trains a small Llama on the
texts prepare.ts wrote and writes it as a Hugging Face folder (config.json, model.safetensors;
prepare.ts wrote the tokenizer files).

    /usr/bin/python3 scripts/organism/train.py CONFIG WORK_DIR MODEL_DIR

The model is exactly Hugging Face's LlamaForCausalLM (RMSNorm, rotary embeddings on halves,
SwiGLU MLP, tied embeddings), written out here so that only PyTorch is needed (Debian's
python3-torch; no transformers, no safetensors package). Training is deterministic: one thread,
a seeded generator, fixed data order; OpenBLAS's kernels are pinned (OPENBLAS_CORETYPE) because
different CPU kernels sum in different orders.

Only the answer letter is trained (cross-entropy at the position after "The answer is ("),
which is what LayerLab's loglik scoring reads.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import json
import math
import struct
import sys
import time

import torch
import torch.nn.functional as F

PAD, BOS, BYTE_OFFSET, VOCAB = 0, 1, 3, 259
LETTERS = "ABCDEFGHIJ"


def encode(text):
    """The organism's tokenizer (models/demo.ts): BOS, then byte b is token 3 + b."""
    return [BOS] + [BYTE_OFFSET + b for b in text.encode("utf-8")]


LETTER_IDS = [encode(c)[1] for c in LETTERS]


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        d, hd = c["d_model"], c["d_model"] // c["n_heads"]
        self.nh, self.nkv, self.hd = c["n_heads"], c["n_kv_heads"], hd
        self.input_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.q_proj = torch.nn.Linear(d, self.nh * hd, bias=False)
        self.k_proj = torch.nn.Linear(d, self.nkv * hd, bias=False)
        self.v_proj = torch.nn.Linear(d, self.nkv * hd, bias=False)
        self.o_proj = torch.nn.Linear(self.nh * hd, d, bias=False)
        self.post_attention_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.gate_proj = torch.nn.Linear(d, c["d_ff"], bias=False)
        self.up_proj = torch.nn.Linear(d, c["d_ff"], bias=False)
        self.down_proj = torch.nn.Linear(c["d_ff"], d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, t, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(b, t, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(b, t, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.nkv != self.nh:
            k = k.repeat_interleave(self.nh // self.nkv, dim=1)
            v = v.repeat_interleave(self.nh // self.nkv, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, self.nh * self.hd)
        x = x + self.o_proj(y)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = torch.nn.Embedding(VOCAB, c["d_model"])
        self.layers = torch.nn.ModuleList([Block(c) for _ in range(c["n_layers"])])
        self.norm = RMSNorm(c["d_model"], c["rms_norm_eps"])
        hd = c["d_model"] // c["n_heads"]
        inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        freqs = torch.outer(torch.arange(c["max_seq_len"], dtype=torch.float32), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, ids, hooks=None):
        """Logits [b, t, vocab]; `hooks` (a list) receives every block's output (hook_resid_post)."""
        t = ids.shape[1]
        mask = torch.full((t, t), float("-inf")).triu(1)
        cos, sin = self.cos[:t], self.sin[:t]
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
            if hooks is not None:
                hooks.append(x)
        return self.norm(x) @ self.embed_tokens.weight.T


def init_weights(model, gen):
    """GPT-2 style: N(0, 0.02), residual-stream writers scaled by 1/sqrt(2·layers), norms at 1."""
    resid = 0.02 / math.sqrt(2 * model.c["n_layers"])
    for name, p in model.named_parameters():
        with torch.no_grad():
            if name.endswith("layernorm.weight") or name == "norm.weight":
                p.fill_(1.0)
            else:
                std = resid if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
                p.copy_(torch.randn(p.shape, generator=gen) * std)


def batches_of(rows, size):
    """Right-padded id tensor and the index of each row's last token (where the letter is predicted)."""
    ids = [encode(r["text"]) for r in rows]
    t = max(len(x) for x in ids)
    out = torch.full((len(ids), t), PAD, dtype=torch.long)
    for i, x in enumerate(ids):
        out[i, : len(x)] = torch.tensor(x)
    last = torch.tensor([len(x) - 1 for x in ids])
    target = torch.tensor([LETTERS.index(r["answer"]) for r in rows])
    return out, last, target


def letter_logits(model, ids, last):
    logits = model(ids)
    return logits[torch.arange(ids.shape[0]), last][:, LETTER_IDS]


@torch.no_grad()
def evaluate(model, rows, size=64):
    """Accuracy per subset and per category: the letter with the highest logit among A–J."""
    model.eval()
    hits = {}
    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        ids, last, target = batches_of(chunk, size)
        pred = letter_logits(model, ids, last).argmax(-1)
        for r, ok in zip(chunk, (pred == target).tolist()):
            for key in (r["subset"], r["category"]):
                c, n = hits.get(key, (0, 0))
                hits[key] = (c + int(ok), n + 1)
    model.train()
    return {k: {"correct": c, "total": n, "accuracy": c / n} for k, (c, n) in sorted(hits.items())}


def write_safetensors(path, tensors):
    """The safetensors format: 8-byte header length, JSON header, raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors:
        data = t.detach().contiguous().to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def hf_tensors(model):
    out = [("model.embed_tokens.weight", model.embed_tokens.weight)]
    for l, b in enumerate(model.layers):
        p = f"model.layers.{l}."
        out += [
            (p + "input_layernorm.weight", b.input_layernorm.weight),
            (p + "self_attn.q_proj.weight", b.q_proj.weight),
            (p + "self_attn.k_proj.weight", b.k_proj.weight),
            (p + "self_attn.v_proj.weight", b.v_proj.weight),
            (p + "self_attn.o_proj.weight", b.o_proj.weight),
            (p + "post_attention_layernorm.weight", b.post_attention_layernorm.weight),
            (p + "mlp.gate_proj.weight", b.gate_proj.weight),
            (p + "mlp.up_proj.weight", b.up_proj.weight),
            (p + "mlp.down_proj.weight", b.down_proj.weight),
        ]
    out.append(("model.norm.weight", model.norm.weight))
    return out


def hf_config(c):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": c["d_model"],
        "intermediate_size": c["d_ff"],
        "num_hidden_layers": c["n_layers"],
        "num_attention_heads": c["n_heads"],
        "num_key_value_heads": c["n_kv_heads"],
        "head_dim": c["d_model"] // c["n_heads"],
        "vocab_size": VOCAB,
        "max_position_embeddings": c["max_seq_len"],
        "hidden_act": "silu",
        "rms_norm_eps": c["rms_norm_eps"],
        "rope_theta": c["rope_theta"],
        "rope_scaling": None,
        "tie_word_embeddings": True,
        "bos_token_id": BOS,
        "eos_token_id": 2,
        "pad_token_id": PAD,
        "attention_bias": False,
        "mlp_bias": False,
        "torch_dtype": "float32",
    }


def blas_library():
    """Which libblas the process loaded (Debian switches it with update-alternatives)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "libblas" in line or "openblas" in line}
        return sorted(os.path.realpath(p) for p in libs)
    except OSError:
        return []


def main():
    config_file, work, out = sys.argv[1:4]
    config = json.load(open(config_file))
    mc, tc = config["model"], config["train"]
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(tc["seed"])
    gen = torch.Generator().manual_seed(tc["seed"])
    rows = {s: [json.loads(l) for l in open(os.path.join(work, f"{s}.jsonl"))] for s in ("train", "test")}
    assert max(len(encode(r["text"])) for r in rows["train"] + rows["test"]) <= mc["max_seq_len"]

    model = Llama(mc)
    init_weights(model, gen)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": tc["weight_decay"]}, {"params": rest, "weight_decay": 0.0}],
        lr=tc["lr"], betas=(0.9, 0.98), eps=1e-8,
    )
    steps, bs, warmup = tc["steps"], tc["batch_size"], tc["warmup"]
    lr_at = lambda s: tc["lr"] * (min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    n = len(rows["train"])
    order = torch.randperm(n, generator=gen).tolist()
    pos, t0, log = 0, time.time(), []
    for step in range(steps):
        if pos + bs > n:
            order, pos = torch.randperm(n, generator=gen).tolist(), 0
        chunk = [rows["train"][i] for i in order[pos : pos + bs]]
        pos += bs
        ids, last, target = batches_of(chunk, bs)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = F.cross_entropy(letter_logits(model, ids, last), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % tc["eval_every"] == 0 or step + 1 == steps:
            acc = evaluate(model, rows["test"][:400])
            entry = {"step": step + 1, "loss": round(loss.item(), 4), "seconds": round(time.time() - t0, 1),
                     "reasoning": acc["reasoning"]["accuracy"], "memorization": acc["memorization"]["accuracy"]}
            log.append(entry)
            print(json.dumps(entry), flush=True)
    seconds = time.time() - t0
    final = evaluate(model, rows["test"])
    print(json.dumps({"test": final}), flush=True)

    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"), hf_tensors(model))
    with open(os.path.join(out, "config.json"), "w") as f:
        f.write(json.dumps(hf_config(mc), indent=2) + "\n")
    # A few prompts' logits at the answer position, for LayerLab's forward pass to be checked against.
    model.eval()
    with torch.no_grad():
        ref = []
        for r in rows["test"][:4]:
            ids = torch.tensor([encode(r["text"])])
            hooks = []
            logits = model(ids, hooks)[0, -1]
            ref.append({"id": r["id"], "text": r["text"], "ids": ids[0].tolist(),
                        "letter_logits": [round(v, 5) for v in logits[LETTER_IDS].tolist()],
                        "resid_post_norms": [round(h[0, -1].norm().item(), 4) for h in hooks]})
    report = {
        "test": final,
        "log": log,
        "train_seconds": round(seconds, 1),
        "reference": ref,
        "environment": {"torch": torch.__version__, "python": sys.version.split()[0], "threads": torch.get_num_threads(),
                        "blas": blas_library(), "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE")},
    }
    with open(os.path.join(work, "training.json"), "w") as f:
        f.write(json.dumps(report, indent=1) + "\n")
    print(f"trained in {seconds:.0f} s; wrote {out}", flush=True)


if __name__ == "__main__":
    main()
