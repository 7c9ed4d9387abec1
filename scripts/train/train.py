"""Trains kvchat-demo on one GPU: tokenizer, then a small Llama, on a fixed wall-clock budget.

    python3 scripts/train/train.py --data scripts/train/.data/corpus --out $OUT --minutes 8

Needs torch (CUDA) and tokenizers. Writes to --out:
  tokenizer.json   byte-level BPE, 8187 learned tokens + the five Llama-3 special tokens at the end
  ckpt.json        hyper-parameters, the tensor index of the ckpt_*.bin files, the loss log
  ckpt_<n>.bin     fp16 weights in Hugging Face Llama layout with MLC's fused qkv_proj ([q; k; v]
                   rows) and gate_up_proj ([gate; up] rows), split into files of at most 15 MiB
The learning-rate schedule runs on elapsed time (warm-up, then cosine to 10%), so the run ends on
time whatever the GPU's speed. scripts/train/convert.mjs turns the output into MLC format.
"""
import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

SPECIAL_TOKENS = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>']

MODEL = dict(
    vocab_size=8192, hidden_size=512, intermediate_size=1536, num_hidden_layers=7,
    num_attention_heads=8, num_key_value_heads=2, head_dim=64, rms_norm_eps=1e-5,
    rope_theta=10000.0, context_window_size=2048,
)
TRAIN = dict(
    batch_size=32, seq_len=2048, peak_lr=2e-3, min_lr_ratio=0.1, warmup_seconds=20,
    weight_decay=0.1, betas=(0.9, 0.95), grad_clip=1.0, eval_every_seconds=60, eval_windows=48, seed=1234,
)
FILE_CAP = 15 * 1024 * 1024


def load_docs(path):
    with gzip.open(path, 'rt', encoding='utf-8') as f:
        return [json.loads(line) for line in f]


def train_tokenizer(docs):
    """Byte-level BPE like the fixtures' (GPT-2 regex and byte map); special tokens added after
    training so that they take the last ids, where @mlc-ai/web-tokenizers numbers them anyway."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=MODEL['vocab_size'] - len(SPECIAL_TOKENS), min_frequency=2, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[],
    )
    # Chats are left out: their markup would become merges instead of special tokens.
    tokenizer.train_from_iterator((d['text'] for d in docs if d['source'] != 'chat'), trainer=trainer)
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    assert tokenizer.get_vocab_size() == MODEL['vocab_size'], tokenizer.get_vocab_size()
    return tokenizer


def token_stream(tokenizer, docs):
    """All documents as one uint16 stream, each <|begin_of_text|> text <|end_of_text|>."""
    bos, eot = tokenizer.token_to_id('<|begin_of_text|>'), tokenizer.token_to_id('<|end_of_text|>')
    parts = []
    for enc in tokenizer.encode_batch([d['text'] for d in docs], add_special_tokens=False):
        parts.append(np.array([bos, *enc.ids, eot], dtype=np.uint16))
    return np.concatenate(parts)


# ------------------------------------------------------------------------------------------------
# Model: Llama with MLC's fused projections, so the export needs no reshuffling.

class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rope_tables(cfg, device):
    d = cfg['head_dim']
    inv_freq = 1.0 / (cfg['rope_theta'] ** (torch.arange(0, d, 2, device=device).float() / d))
    angles = torch.outer(torch.arange(cfg['context_window_size'], device=device).float(), inv_freq)
    return angles.cos(), angles.sin()  # [T, D/2]


def apply_rope(x, cos, sin):
    """Rotate-half RoPE (HF/MLC Llama): pairs (i, i + D/2). x: [B, heads, T, D]."""
    half = x.shape[-1] // 2
    x0, x1 = x[..., :half], x[..., half:]
    return torch.cat([x0 * cos - x1 * sin, x1 * cos + x0 * sin], dim=-1)


class Block(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, d = cfg['hidden_size'], cfg['head_dim']
        self.heads, self.kv_heads, self.head_dim = cfg['num_attention_heads'], cfg['num_key_value_heads'], d
        self.qkv_proj = torch.nn.Linear(h, (self.heads + 2 * self.kv_heads) * d, bias=False)
        self.o_proj = torch.nn.Linear(self.heads * d, h, bias=False)
        self.gate_up_proj = torch.nn.Linear(h, 2 * cfg['intermediate_size'], bias=False)
        self.down_proj = torch.nn.Linear(cfg['intermediate_size'], h, bias=False)
        self.input_layernorm = RMSNorm(h, cfg['rms_norm_eps'])
        self.post_attention_layernorm = RMSNorm(h, cfg['rms_norm_eps'])

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        qkv = self.qkv_proj(self.input_layernorm(x)).view(b, t, self.heads + 2 * self.kv_heads, self.head_dim).transpose(1, 2)
        q, k, v = qkv.split([self.heads, self.kv_heads, self.kv_heads], dim=1)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        group = self.heads // self.kv_heads  # GQA: query heads h*group..h*group+group-1 share KV head h
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o_proj(attn.transpose(1, 2).reshape(b, t, -1))
        gate, up = self.gate_up_proj(self.post_attention_layernorm(x)).chunk(2, dim=-1)
        return x + self.down_proj(F.silu(gate) * up)


class Llama(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(cfg['vocab_size'], cfg['hidden_size'])
        self.layers = torch.nn.ModuleList(Block(cfg) for _ in range(cfg['num_hidden_layers']))
        self.norm = RMSNorm(cfg['hidden_size'], cfg['rms_norm_eps'])
        self.lm_head = torch.nn.Linear(cfg['hidden_size'], cfg['vocab_size'], bias=False)
        cos, sin = rope_tables(cfg, 'cpu')
        self.register_buffer('cos', cos, persistent=False)
        self.register_buffer('sin', sin, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * cfg['num_hidden_layers']) if name.endswith(('o_proj.weight', 'down_proj.weight')) else 0.02
                torch.nn.init.normal_(p, std=std)

    def forward(self, tokens):
        t = tokens.shape[1]
        cos, sin = self.cos[:t], self.sin[:t]
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x))

    def mlc_tensors(self):
        """(MLC name, fp32 tensor) in mlc-llm's parameter order."""
        yield 'model.embed_tokens.weight', self.embed_tokens.weight
        for i, layer in enumerate(self.layers):
            p = f'model.layers.{i}'
            yield f'{p}.self_attn.qkv_proj.weight', layer.qkv_proj.weight
            yield f'{p}.self_attn.o_proj.weight', layer.o_proj.weight
            yield f'{p}.mlp.gate_up_proj.weight', layer.gate_up_proj.weight
            yield f'{p}.mlp.down_proj.weight', layer.down_proj.weight
            yield f'{p}.input_layernorm.weight', layer.input_layernorm.weight
            yield f'{p}.post_attention_layernorm.weight', layer.post_attention_layernorm.weight
        yield 'model.norm.weight', self.norm.weight
        yield 'lm_head.weight', self.lm_head.weight


# ------------------------------------------------------------------------------------------------

def windows(stream, starts, seq_len, device):
    idx = torch.from_numpy(np.stack([stream[s:s + seq_len + 1].astype(np.int64) for s in starts])).to(device, non_blocking=True)
    return idx[:, :-1], idx[:, 1:]


@torch.no_grad()
def evaluate(model, eval_stream, starts, seq_len, device):
    model.eval()
    losses = []
    for i in range(0, len(starts), 8):
        x, y = windows(eval_stream, starts[i:i + 8], seq_len, device)
        with torch.autocast('cuda', dtype=torch.bfloat16):
            logits = model(x)
        losses.append(F.cross_entropy(logits.float().view(-1, logits.shape[-1]), y.reshape(-1)).item())
    model.train()
    return sum(losses) / len(losses)


def export(model, out, meta):
    index, files, current, offset = [], [], [], 0
    for name, tensor in model.mlc_tensors():
        data = tensor.detach().to('cpu', torch.float16).numpy().tobytes()
        if offset + len(data) > FILE_CAP and current:
            files.append(b''.join(current))
            current, offset = [], 0
        index.append({'name': name, 'shape': list(tensor.shape), 'dtype': 'float16', 'file': f'ckpt_{len(files)}.bin', 'byteOffset': offset, 'nbytes': len(data)})
        current.append(data)
        offset += len(data)
    files.append(b''.join(current))
    for i, blob in enumerate(files):
        with open(os.path.join(out, f'ckpt_{i}.bin'), 'wb') as f:
            f.write(blob)
    with open(os.path.join(out, 'ckpt.json'), 'w') as f:
        json.dump({**meta, 'tensors': index}, f, indent=1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--data', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--minutes', type=float, required=True, help='wall-clock budget of the training loop')
    args = parser.parse_args()
    started = time.time()
    torch.manual_seed(TRAIN['seed'])
    rng = np.random.default_rng(TRAIN['seed'])
    device = 'cuda'
    print(f'torch {torch.__version__}, {torch.cuda.get_device_name()}', flush=True)

    train_docs = load_docs(os.path.join(args.data, 'train.jsonl.gz'))
    eval_docs = load_docs(os.path.join(args.data, 'eval.jsonl.gz'))
    tokenizer = train_tokenizer(train_docs)
    tokenizer.save(os.path.join(args.out, 'tokenizer.json'))
    train_stream, eval_stream = token_stream(tokenizer, train_docs), token_stream(tokenizer, eval_docs)
    print(f'tokenizer + tokenization {time.time() - started:.0f}s: train {len(train_stream)} tokens, eval {len(eval_stream)} tokens', flush=True)

    seq_len, batch = TRAIN['seq_len'], TRAIN['batch_size']
    eval_starts = np.linspace(0, len(eval_stream) - seq_len - 2, TRAIN['eval_windows']).astype(np.int64)
    model = Llama(MODEL).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f'parameters {n_params}', flush=True)
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{'params': decay, 'weight_decay': TRAIN['weight_decay']}, {'params': no_decay, 'weight_decay': 0.0}],
                                  lr=TRAIN['peak_lr'], betas=TRAIN['betas'], fused=True)
    compiled = torch.compile(model)

    budget = args.minutes * 60
    log, step, tokens = [], 0, 0
    best = (math.inf, 0, None)  # (eval loss, step, weights): many epochs over a small corpus can overfit
    loop_start = last_eval = None
    while True:
        x, y = windows(train_stream, rng.integers(0, len(train_stream) - seq_len - 1, batch), seq_len, device)
        now = time.time()
        if loop_start is None and step == 1:
            loop_start = last_eval = now  # after the first step, i.e. after compilation
        elapsed = now - loop_start if loop_start else 0.0
        if elapsed >= budget:
            break
        warm = min(1.0, (elapsed + 1e-3) / TRAIN['warmup_seconds'])
        progress = elapsed / budget
        lr = TRAIN['peak_lr'] * warm * (TRAIN['min_lr_ratio'] + (1 - TRAIN['min_lr_ratio']) * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group['lr'] = lr
        with torch.autocast('cuda', dtype=torch.bfloat16):
            logits = compiled(x)
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), TRAIN['grad_clip'])
        optimizer.step()
        step += 1
        tokens += batch * seq_len
        if step % 50 == 0 or step == 1:
            row = {'step': step, 'seconds': round(elapsed, 1), 'tokens': tokens, 'lr': lr, 'train_loss': round(loss.item(), 4)}
            if loop_start and now - last_eval >= TRAIN['eval_every_seconds']:
                row['eval_loss'] = round(evaluate(model, eval_stream, eval_starts, seq_len, device), 4)
                last_eval = now
                if row['eval_loss'] < best[0]:
                    best = (row['eval_loss'], step, {k: v.detach().to('cpu', copy=True) for k, v in model.state_dict().items()})
            log.append(row)
            print(json.dumps(row), flush=True)
    final = {'step': step, 'seconds': round(time.time() - loop_start, 1), 'tokens': tokens, 'train_loss': round(loss.item(), 4),
             'eval_loss': round(evaluate(model, eval_stream, eval_starts, seq_len, device), 4)}
    log.append(final)
    print(json.dumps(final), flush=True)
    if best[0] < final['eval_loss']:
        model.load_state_dict(best[2])
        print(f'exporting the weights of step {best[1]} (eval loss {best[0]})', flush=True)
    exported_step = best[1] if best[0] < final['eval_loss'] else step
    export(model, args.out, {
        'model': MODEL, 'train': TRAIN, 'exported_step': exported_step, 'parameters': n_params, 'train_tokens_in_corpus': int(len(train_stream)),
        'eval_tokens_in_corpus': int(len(eval_stream)), 'torch': torch.__version__, 'device': torch.cuda.get_device_name(), 'log': log,
    })
    print(f'done in {time.time() - started:.0f}s', flush=True)


if __name__ == '__main__':
    main()
