"""The testbed VLM: a small LLaVA-like model (patch vision encoder -> MLP projector -> Llama-style decoder).

Shared by train.py (training) and export.py (ONNX export). Offline tool only; run with /usr/bin/python3.
"""
import math
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<image>"]
COLORS = ["red", "green", "blue", "yellow", "purple", "orange"]
SHAPES = ["circle", "square", "triangle"]
WORDS = (
    ["is", "there", "a", "what", "color", "the", "how", "many", "are", "where", "?", "yes", "no"]
    + COLORS
    + SHAPES
    + [s + "s" for s in SHAPES]
    + [str(d) for d in range(10)]
)
COORD_BINS = 48
COORDS = [f"{side}{k}" for side in "ltrb" for k in range(COORD_BINS + 1)]
VOCAB = SPECIALS + WORDS + COORDS
PAD, BOS, EOS, UNK, IMAGE = range(5)
WORD_RE = re.compile(r"\w+|[^\w\s]+")


def build_vocab():
    return {w: i for i, w in enumerate(VOCAB)}


def tokenize(text, vocab):
    return [vocab.get(w, UNK) for w in WORD_RE.findall(text)]


# ---------------------------------------------------------------------------------------------------------
# Vision encoder: 8x8 patch embedding + learned 2-D position, dilated 3x3 conv blocks over the 24x24 grid.
# Dense heads (shape, colour, centre, box bins) supervise it per patch during pretraining.
# ---------------------------------------------------------------------------------------------------------
class ChannelNorm(nn.Module):
    def __init__(self, width, eps=1e-5):
        super().__init__()
        self.norm = nn.LayerNorm(width, eps=eps)

    def forward(self, x):  # [B, C, H, W]
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvBlock(nn.Module):
    def __init__(self, width, dilation):
        super().__init__()
        self.norm = ChannelNorm(width)
        self.conv = nn.Conv2d(width, width * 2, 3, padding=dilation, dilation=dilation)
        self.out = nn.Conv2d(width * 2, width, 1)

    def forward(self, x):
        return x + self.out(F.gelu(self.conv(self.norm(x))))


class VisionEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v = cfg["vision"]
        width, grid, patch = v["width"], cfg["grid"], cfg["patch_size"]
        self.grid = grid
        self.patch = nn.Conv2d(3, width, patch, stride=patch)
        self.row = nn.Parameter(torch.randn(1, width, grid, 1) * 0.02)
        self.col = nn.Parameter(torch.randn(1, width, 1, grid) * 0.02)
        self.blocks = nn.ModuleList([ConvBlock(width, d) for d in v["dilations"]])
        self.norm = ChannelNorm(width)
        # dense heads (training only)
        self.head_shape = nn.Linear(width, len(SHAPES) + 1)
        self.head_color = nn.Linear(width, len(COLORS) + 1)
        self.head_center = nn.Linear(width, 2)
        self.head_box = nn.Linear(width, 4 * (COORD_BINS + 1))

    def forward(self, pixel_values):  # [B, 3, 192, 192] in [-1, 1] -> [B, 576, width]
        x = self.patch(pixel_values) + self.row + self.col
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return x.flatten(2).transpose(1, 2)

    def dense(self, feats):
        b, n, _ = feats.shape
        return (
            self.head_shape(feats),
            self.head_color(feats),
            self.head_center(feats),
            self.head_box(feats).view(b, n, 4, COORD_BINS + 1),
        )


class Projector(nn.Module):
    """LLaVA-1.5's two-layer MLP projector."""

    def __init__(self, cfg):
        super().__init__()
        self.fc1 = nn.Linear(cfg["vision"]["width"], cfg["text"]["hidden_size"])
        self.fc2 = nn.Linear(cfg["text"]["hidden_size"], cfg["text"]["hidden_size"])

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


# ---------------------------------------------------------------------------------------------------------
# Llama-style decoder: RMSNorm, RoPE on position ids, causal multi-head attention, SwiGLU MLP.
# ---------------------------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rope_cos_sin(position_ids, head_dim, theta):
    """position_ids [..., S] (int64) -> cos, sin [..., S, head_dim]."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    ang = position_ids.to(torch.float32).unsqueeze(-1) * inv
    emb = torch.cat([ang, ang], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x, cos, sin):
    return x * cos + rotate_half(x) * sin


class Attention(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = t["heads"], t["kv_heads"], t["head_dim"]
        d = t["hidden_size"]
        self.q = nn.Linear(d, self.heads * self.head_dim, bias=False)
        self.k = nn.Linear(d, self.kv_heads * self.head_dim, bias=False)
        self.v = nn.Linear(d, self.kv_heads * self.head_dim, bias=False)
        self.o = nn.Linear(self.heads * self.head_dim, d, bias=False)
        # Per-head log temperature on the queries (training aid for sharp, selective attention over 576 image
        # tokens); export folds exp(log_scale) into the query weights, so the exported graph is plain attention.
        self.log_scale = nn.Parameter(torch.zeros(self.heads, 1, 1))

    def query(self, h):
        return self.split(self.q(h), self.heads) * self.log_scale.exp()

    def split(self, x, heads):  # [..., S, heads*hd] -> [..., heads, S, hd]
        shape = x.shape[:-1] + (heads, self.head_dim)
        return x.view(shape).transpose(-3, -2)

    def merge(self, x):  # [..., H, S, hd] -> [..., S, H*hd]
        x = x.transpose(-3, -2)
        return x.reshape(x.shape[:-2] + (self.heads * self.head_dim,))

    def expand_kv(self, x):
        if self.kv_heads == self.heads:
            return x
        return x.repeat_interleave(self.heads // self.kv_heads, dim=-3)


class Layer(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.attn_norm = RMSNorm(t["hidden_size"], t["rms_eps"])
        self.attn = Attention(t)
        self.mlp_norm = RMSNorm(t["hidden_size"], t["rms_eps"])
        d, m = t["hidden_size"], t["intermediate_size"]
        self.gate = nn.Linear(d, m, bias=False)
        self.up = nn.Linear(d, m, bias=False)
        self.down = nn.Linear(m, d, bias=False)

    def mlp(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))

    def forward(self, x, cos, sin, bias, past_k=None, past_v=None):
        """Standard step: x [B, S, d]; bias [B, 1, S, T] additive mask over T = past + S keys.
        Returns x, k, v (the full cache, [B, kv_heads, T, hd]) and the head-averaged attention of the last query [B, T]."""
        a = self.attn
        h = self.attn_norm(x)
        q = apply_rope(a.query(h), cos, sin)
        k = apply_rope(a.split(a.k(h), a.kv_heads), cos, sin)
        v = a.split(a.v(h), a.kv_heads)
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        scores = q @ a.expand_kv(k).transpose(-1, -2) / math.sqrt(a.head_dim) + bias
        probs = scores.softmax(-1)
        x = x + a.o(a.merge(probs @ a.expand_kv(v)))
        x = x + self.mlp(self.mlp_norm(x))
        return x, k, v, probs[:, :, -1, :].mean(1)


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        t = cfg["text"]
        self.t = t
        self.embed = nn.Embedding(len(VOCAB), t["hidden_size"])
        self.layers = nn.ModuleList([Layer(t) for _ in range(t["layers"])])
        self.norm = RMSNorm(t["hidden_size"], t["rms_eps"])
        self.lm_head = nn.Linear(t["hidden_size"], len(VOCAB), bias=False)

    def mask_bias(self, attention_mask, seq_len):
        """Additive causal + padding mask [B, 1, S, T] for S new tokens over T = attention_mask.shape[1] keys."""
        total = attention_mask.shape[1]
        q_idx = torch.arange(seq_len, device=attention_mask.device) + (total - seq_len)
        k_idx = torch.arange(total, device=attention_mask.device)
        causal = k_idx.unsqueeze(0) <= q_idx.unsqueeze(1)  # [S, T]
        allowed = causal.unsqueeze(0) & (attention_mask.unsqueeze(1) > 0)  # [B, S, T]
        return ((1.0 - allowed.to(torch.float32)) * -1e9).unsqueeze(1)  # float32 in ONNX too (torch.where would give double)

    def run_layers(self, x, attention_mask, position_ids, pasts, layers):
        """Runs the given layer indices. pasts: list of (k, v) or None per listed layer."""
        cos, sin = rope_cos_sin(position_ids, self.t["head_dim"], self.t["rope_theta"])
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        bias = self.mask_bias(attention_mask, x.shape[1])
        presents, last_attn = [], None
        for j, i in enumerate(layers):
            pk, pv = pasts[j] if pasts is not None else (None, None)
            x, k, v, last_attn = self.layers[i](x, cos, sin, bias, pk, pv)
            presents.append((k, v))
        return x, presents, last_attn

    def logits(self, x, lm_weight=None):
        return F.linear(self.norm(x), self.lm_head.weight if lm_weight is None else lm_weight)

    # --- training path: one image prefix shared by Q questions (same maths as Q separate sequences) ---
    def forward_shared(self, prefix, questions, lm_weight=None, taps=()):
        """prefix [B, P, d] (bos + image embeds, positions 0..P-1); questions [B, Q, T] token ids at positions
        P..P+T-1, each attending to the prefix and causally to itself. Returns logits [B, Q, T, V] and, for
        each (layer, head) in `taps` (in layer order), that head's attention of the question tokens over the prefix
        and the question [B, Q, T, P + T]."""
        B, P, d = prefix.shape
        _, Q, T = questions.shape
        hd, theta = self.t["head_dim"], self.t["rope_theta"]
        pos_p = torch.arange(P)
        pos_q = torch.arange(P, P + T)
        cos_p, sin_p = rope_cos_sin(pos_p, hd, theta)
        cos_q, sin_q = rope_cos_sin(pos_q, hd, theta)
        causal_p = torch.where(pos_p.unsqueeze(1) >= pos_p.unsqueeze(0), 0.0, -1e9)
        causal_q = torch.where(pos_q.unsqueeze(1) >= pos_q.unsqueeze(0), 0.0, -1e9)
        xp = prefix
        xq = self.embed(questions)  # [B, Q, T, d]
        tapped = []
        for li, layer in enumerate(self.layers):
            a = layer.attn
            s = 1.0 / math.sqrt(hd)
            hp = layer.attn_norm(xp)
            qp = apply_rope(a.query(hp), cos_p, sin_p)  # [B, H, P, hd]
            kp = a.expand_kv(apply_rope(a.split(a.k(hp), a.kv_heads), cos_p, sin_p))
            vp = a.expand_kv(a.split(a.v(hp), a.kv_heads))
            probs = ((qp @ kp.transpose(-1, -2)) * s + causal_p).softmax(-1)
            hq = layer.attn_norm(xq)
            qq = apply_rope(a.query(hq), cos_q, sin_q)  # [B, Q, H, T, hd]
            kq = a.expand_kv(apply_rope(a.split(a.k(hq), a.kv_heads), cos_q, sin_q))
            vq = a.expand_kv(a.split(a.v(hq), a.kv_heads))
            s_img = torch.einsum("bqhtd,bhpd->bqhtp", qq, kp) * s
            s_self = (qq @ kq.transpose(-1, -2)) * s + causal_q
            pq = torch.cat([s_img, s_self], dim=-1).softmax(-1)
            tapped += [pq[:, :, h] for tl, h in taps if tl == li]
            out_q = torch.einsum("bqhtp,bhpd->bqhtd", pq[..., :P], vp) + pq[..., P:] @ vq
            xp = xp + a.o(a.merge(probs @ vp))
            xp = xp + layer.mlp(layer.mlp_norm(xp))
            xq = xq + a.o(a.merge(out_q))
            xq = xq + layer.mlp(layer.mlp_norm(xq))
        return self.logits(xq, lm_weight), tapped


class TestbedVLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.vision = VisionEncoder(cfg)
        self.projector = Projector(cfg)
        self.decoder = Decoder(cfg)
        # Training-time readouts on the projector output (the image tokens the decoder sees). The output rows of
        # the colour, shape and coordinate tokens are these readouts' weights (tied), so a decoder that copies an
        # attended image token to its output can already name the token's colour, shape and box; export bakes the
        # tied rows into lm_head, which is then an ordinary linear layer.
        d = cfg["text"]["hidden_size"]
        self.read_shape = nn.Linear(d, len(SHAPES) + 1, bias=False)
        self.read_color = nn.Linear(d, len(COLORS) + 1, bias=False)
        self.read_box = nn.Linear(d, 4 * (COORD_BINS + 1), bias=False)
        # colour x shape as one class, so that a single key direction marks e.g. "red circle" (binding)
        self.read_joint = nn.Linear(d, len(SHAPES) * len(COLORS) + 1, bias=False)
        vocab = {w: i for i, w in enumerate(VOCAB)}
        self.register_buffer("tied_ids", torch.tensor(
            [vocab[s] for s in SHAPES] + [vocab[c] for c in COLORS] + [vocab[c] for c in COORDS]), persistent=False)

    def image_features(self, pixel_values):
        return self.projector(self.vision(pixel_values))

    def readouts(self, img):
        b, n, _ = img.shape
        return self.read_shape(img), self.read_color(img), None, self.read_box(img).view(b, n, 4, COORD_BINS + 1)

    def lm_weight(self):
        """lm_head's weight with the tied rows (shape words, colour words, coordinate tokens) from the readouts."""
        tied = torch.cat([self.read_shape.weight[1:], self.read_color.weight[1:], self.read_box.weight], dim=0)
        return self.decoder.lm_head.weight.index_put((self.tied_ids,), tied)


def normalize_pixels(rgb_uint8):
    """[B, H, W, 3] uint8 -> [B, 3, H, W] float in [-1, 1] (rescale 1/255, mean 0.5, std 0.5)."""
    x = rgb_uint8.permute(0, 3, 1, 2).float() / 255.0
    return (x - 0.5) / 0.5
