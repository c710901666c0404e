#!/usr/bin/env python3
"""Trains the testbed VLM (offline tool; run with /usr/bin/python3, needs Debian's python3-torch).

Two stages, both resumable from testbed/checkpoints/ (re-run the same command after an interruption):
  1. "pretrain": the vision encoder alone, supervised densely per patch with the generator's labels
     (shape, colour, object centre, the object's box bins) — so its tokens say what covers them and where
     that object is, as a detector's dense features would.
  2. "vlm": projector + decoder trained on the generator's questions (the encoder keeps its dense loss, weight
     vlm.dense_weight; 0 freezes it), several questions per image sharing one image prefix, a curriculum on the
     number of objects per scene, and training-only attention supervision (vlm.attention_supervision).

Data comes only from `d2pruner testbed generate` (see testbed/config.json "data"):
  npx tsx src/cli/main.ts testbed generate --seed 1000 --count 20000 --questions 8 --no-png --raw --out testbed/data/train
  npx tsx src/cli/main.ts testbed generate --seed 2000 --count 400 --questions 4 --no-png --raw --out testbed/data/val
Usage: nice -n 10 /usr/bin/python3 testbed/train.py [--config testbed/config.json] [--bench | --evaluate CHECKPOINT]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import BOS, COLORS, EOS, PAD, SHAPES, TestbedVLM, build_vocab, normalize_pixels, tokenize  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = ["yesno", "color", "count", "grounding"]


def log(msg, path):
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
    print(line, flush=True)
    with open(path, "a") as f:
        f.write(line + "\n")


class Dataset:
    """A folder written by `testbed generate --raw`: images.u8, labels.u8, cases.jsonl, scenes.jsonl, meta.json."""

    def __init__(self, folder, vocab, max_len):
        meta = json.load(open(os.path.join(folder, "meta.json")))
        self.n, self.q = meta["count"], meta["questions"]
        size, self.label_bytes = meta["imageSize"], meta["labelBytes"]
        self.images = np.memmap(os.path.join(folder, "images.u8"), np.uint8, "r", shape=(self.n, size, size, 3))
        self.labels = np.fromfile(os.path.join(folder, "labels.u8"), np.uint8).reshape(self.n, -1, self.label_bytes)
        self.seq = np.full((self.n, self.q, max_len), PAD, np.int64)
        self.answer = np.zeros((self.n, self.q, max_len), np.bool_)  # True where the token belongs to the answer
        self.task = np.zeros((self.n, self.q), np.int64)
        self.boxes = np.zeros((self.n, self.q, 4), np.float32)
        # what each question names (1-based colour / shape index, 0 = none) and whether it is answered "yes":
        # the attention supervision's targets are built from these and the per-patch labels
        self.q_color = np.zeros((self.n, self.q), np.int64)
        self.q_shape = np.zeros((self.n, self.q), np.int64)
        self.q_yes = np.zeros((self.n, self.q), np.bool_)
        color_ids = {vocab[c]: k + 1 for k, c in enumerate(COLORS)}
        shape_ids = {vocab[w]: k + 1 for k, s in enumerate(SHAPES) for w in (s, s + "s")}
        self.content_ids = sorted(color_ids) + sorted(shape_ids)
        with open(os.path.join(folder, "cases.jsonl")) as f:
            for k, line in enumerate(f):
                c = json.loads(line)
                i, j = divmod(k, self.q)
                qt = tokenize(c["prompt"], vocab)
                at = tokenize(c["answer"], vocab) + [EOS]
                toks = qt + at
                assert len(toks) <= max_len, c
                self.seq[i, j, : len(toks)] = toks
                self.answer[i, j, len(qt) : len(toks)] = True
                self.task[i, j] = TASKS.index(c["task"])
                if "box" in c:
                    self.boxes[i, j] = c["box"]
                self.q_color[i, j] = next((color_ids[t] for t in qt if t in color_ids), 0)
                self.q_shape[i, j] = next((shape_ids[t] for t in qt if t in shape_ids), 0)
                self.q_yes[i, j] = c["answer"] == "yes"
        self.objects = np.array([len(json.loads(l)["objects"]) for l in open(os.path.join(folder, "scenes.jsonl"))])

    def pixels(self, idx):
        return normalize_pixels(torch.from_numpy(np.ascontiguousarray(self.images[np.sort(idx)][np.argsort(np.argsort(idx))])))


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def optimizer_step(opt, loss, params):
    """One update with the gradient norm clipped to 1."""
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()


def save(path, **state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def autocast(cfg):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.get("bf16", True))


def pretrain_loss(model, px, labels):
    return dense_loss(model, model.vision(px), labels)


def dense_loss(model, feats, labels, heads=None):
    shape, color, center, box = (heads or model.vision.dense)(feats)
    lab = torch.from_numpy(labels.astype(np.int64))
    box_t = lab[..., 3:7].clone()
    box_t[box_t == 255] = -100
    l_shape = F.cross_entropy(shape.float().flatten(0, 1), lab[..., 0].flatten())
    l_color = F.cross_entropy(color.float().flatten(0, 1), lab[..., 1].flatten())
    l_center = 0.0 if center is None else F.cross_entropy(center.float().flatten(0, 1), lab[..., 2].flatten(), weight=torch.tensor([1.0, 4.0]))
    l_box = F.cross_entropy(box.float().flatten(0, 2), box_t.flatten(), ignore_index=-100)
    with torch.no_grad():
        fg = lab[..., 0] > 0
        acc = {
            "shape": (shape.argmax(-1) == lab[..., 0]).float().mean().item(),
            "color_fg": (color.argmax(-1) == lab[..., 1])[fg].float().mean().item(),
            "box_fg_pm1": ((box.argmax(-1) - lab[..., 3:7]).abs() <= 1)[fg].float().mean().item(),
        }
    return l_shape + l_color + l_center + l_box, acc


def vlm_logits(model, px, seq, feats=None, img=None, taps=()):
    """Logits [B, Q, T-1, V] and the tapped heads' attention over the prefix (see Decoder.forward_shared)."""
    if img is None:
        if feats is None:
            with torch.no_grad():
                feats = model.vision(px)
        img = model.projector(feats)
    bos = model.decoder.embed(torch.full((img.shape[0], 1), BOS, dtype=torch.long))
    prefix = torch.cat([bos.to(img.dtype), img], dim=1)
    return model.decoder.forward_shared(prefix, seq[:, :, :-1], model.lm_weight(), taps)


def vlm_loss(model, px, seq, answer, feats=None, img=None, weights=None, taps=(), attn_target=None):
    """Mean over questions of the mean answer-token cross-entropy; `weights` [B, Q] weighs the questions.
    With `taps` (layer, head) and `attn_target` (one [B, Q, P + T] target per tap), also the attention
    supervision loss: the cross-entropy between each tapped head's attention at the answer positions and its
    target, and the attention mass each tapped head puts on its target keys."""
    logits, tapped = vlm_logits(model, px, seq, feats, img, taps)
    logits = logits.float()
    target = seq[:, :, 1:]
    mask = answer[:, :, 1:].float()
    ce = F.cross_entropy(logits.flatten(0, 2), target.flatten(), reduction="none").view(target.shape)
    per_q = (ce * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    w = torch.ones_like(per_q) if weights is None else weights
    loss = (per_q * w).sum() / w.sum()
    if not tapped:
        return loss, None, None
    attn_losses, on_target = [], []
    for probs, goal in zip(tapped, attn_target):  # [B, Q, T-1, P+T-1], [B, Q, P+T-1]
        probs = probs.float()
        xent = -(goal.unsqueeze(2) * probs.clamp_min(1e-6).log()).sum(-1)  # [B, Q, T-1]
        attn_losses.append((xent * mask).sum() / mask.sum())
        mass = (probs * (goal.unsqueeze(2) > 0)).sum(-1)  # attention mass on the target keys
        on_target.append(((mass * mask).sum() / mask.sum()).item())
    return loss, torch.stack(attn_losses).mean(), on_target


def word_targets(data, seq):
    """Target attention [B, Q, T] over the question's own tokens: its colour and shape words, equally — what
    the answer position must gather from the question before it can look for the object in the image."""
    hit = np.isin(seq[:, :, :-1].numpy(), data.content_ids).astype(np.float32)
    hit[:, :, 0] += (hit.sum(-1) == 0)  # no content word (never with the generator's questions): first token
    return torch.from_numpy(hit / hit.sum(-1, keepdims=True))


def attention_targets(data, idx, qsel):
    """Target attention [B, Q, 1 + 576] over the prefix (bos, image patches) for each question: where a reader of
    the image should look to answer it. yes/no "yes" and grounding: the patches of the named colour+shape;
    colour: the patches of the named (unique) shape; count: each object of the shape and the bos token get equal
    mass (so the share left on bos says how many there are); yes/no "no": the bos token alone."""
    labels = data.labels[idx]  # [B, 576, LABEL_BYTES]
    B, Q = qsel.shape
    target = np.zeros((B, Q, 1 + labels.shape[1]), np.float32)
    for b in range(B):
        shape, color, obj = labels[b, :, 0], labels[b, :, 1], labels[b, :, 7]
        for q in range(Q):
            i, j = idx[b], qsel[b, q]
            task, qs, qc = TASKS[data.task[i, j]], data.q_shape[i, j], data.q_color[i, j]
            row = target[b, q]
            if task == "count":
                ids = np.unique(obj[(shape == qs) & (obj > 0)])
                row[0] = 1.0
                for k in ids:
                    hit = obj == k
                    row[1:][hit] = 1.0 / hit.sum()
            else:
                hit = (shape == qs) & (color == qc) if task in ("yesno", "grounding") else shape == qs
                if task == "yesno" and not data.q_yes[i, j]:
                    hit[:] = False
                if hit.any():
                    row[1:][hit] = 1.0
                else:
                    row[0] = 1.0
            row /= row.sum()
    return torch.from_numpy(target)


def box_from_tokens(tokens, inv_vocab):
    found = {}
    for t in tokens:
        w = inv_vocab.get(int(t), "")
        if len(w) > 1 and w[0] in "ltrb" and w[1:].isdigit() and w[0] not in found:
            found[w[0]] = int(w[1:]) * 4
    if len(found) < 4:
        return None
    return [found["l"], found["t"], found["r"], found["b"]]


def iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = w * h if w > 0 and h > 0 else 0
    area = lambda r: max(0, r[2] - r[0]) * max(0, r[3] - r[1])
    u = area(a) + area(b) - inter
    return inter / u if u > 0 else 0.0


@torch.no_grad()
def evaluate(model, data, cfg, inv_vocab, scenes=None, batch=25, by_objects=None):
    """Teacher-forced answer accuracy per task: all answer tokens (and the end token) argmax-correct, which is
    greedy decoding's exact match (for boxes, each coordinate given the true ones before it); grounding is
    scored by IoU >= 0.5 of the argmax box tokens. With `by_objects` (a dict), also fills it with
    {"N objects": {task: accuracy}} per number of objects in the scene."""
    model.eval()
    right = np.zeros(4)
    total = np.zeros(4)
    right_k = np.zeros((7, 4))
    total_k = np.zeros((7, 4))
    n = min(data.n, scenes or data.n)
    for start in range(0, n, batch):
        idx = np.arange(start, min(n, start + batch))
        seq = torch.from_numpy(data.seq[idx])
        with autocast(cfg):
            logits = vlm_logits(model, data.pixels(idx), seq)[0].float()
        pred = logits.argmax(-1)
        target = seq[:, :, 1:]
        mask = torch.from_numpy(data.answer[idx][:, :, 1:])
        for bi, i in enumerate(idx):
            for j in range(data.q):
                t = data.task[i, j]
                m = mask[bi, j]
                if TASKS[t] == "grounding":
                    box = box_from_tokens(pred[bi, j][m].tolist(), inv_vocab)
                    ok = box is not None and iou(box, data.boxes[i, j]) >= 0.5
                else:
                    ok = bool((pred[bi, j][m] == target[bi, j][m]).all())
                right[t] += ok
                total[t] += 1
                right_k[data.objects[i], t] += ok
                total_k[data.objects[i], t] += 1
    model.train()
    if by_objects is not None:
        for k in range(1, 7):
            by_objects[f"{k} objects"] = {TASKS[t]: right_k[k, t] / max(1, total_k[k, t]) for t in range(4)}
    return {TASKS[t]: right[t] / max(1, total[t]) for t in range(4)}


def log_validation(label, model, val, cfg, inv_vocab, log_path):
    """Logs validation accuracy per task on the whole set, then per number of objects in the scene."""
    split = {}
    acc = evaluate(model, val, cfg, inv_vocab, by_objects=split)
    log(f"{label} ({val.n} scenes) " + " ".join(f"{k} {v:.3f}" for k, v in acc.items()), log_path)
    for group, row in split.items():
        log(f"  {group}: " + " ".join(f"{k} {v:.2f}" for k, v in row.items()), log_path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=os.path.join(ROOT, "testbed", "config.json"))
    ap.add_argument("--bench", action="store_true", help="time a few steps of each stage and exit")
    ap.add_argument("--evaluate", metavar="CHECKPOINT", help="only evaluate a checkpoint on the validation set, by number of objects")
    args = ap.parse_args()
    cfg = json.load(open(args.config))
    torch.set_num_threads(cfg.get("threads", 2))
    torch.manual_seed(cfg["seed"])
    ckpt_dir = os.path.join(ROOT, cfg["checkpoints"])
    os.makedirs(ckpt_dir, exist_ok=True)
    log_path = os.path.join(ROOT, cfg["log"]) if not (args.bench or args.evaluate) else "/tmp/testbed-bench.log"
    vocab = build_vocab()
    inv_vocab = {i: w for w, i in vocab.items()}
    model = TestbedVLM(cfg)
    n_params = lambda m: sum(p.numel() for p in m.parameters())
    log(f"model: vision {n_params(model.vision)} projector {n_params(model.projector)} decoder {n_params(model.decoder)} params", log_path)
    train = Dataset(os.path.join(ROOT, cfg["data"]["train"]), vocab, cfg["max_len"])
    val = Dataset(os.path.join(ROOT, cfg["data"]["val"]), vocab, cfg["max_len"])
    log(f"data: train {train.n} scenes x {train.q} questions, val {val.n} x {val.q}", log_path)
    if args.evaluate:
        model.load_state_dict(torch.load(args.evaluate)["model"], strict=False)
        log_validation(f"{args.evaluate}: val", model, val, cfg, inv_vocab, log_path)
        return

    # ---------------- stage 1: dense pretraining of the vision encoder ----------------
    pc = cfg["pretrain"]
    path1 = os.path.join(ckpt_dir, "pretrain.pt")
    params1 = list(model.vision.parameters())
    opt1 = torch.optim.AdamW(params1, lr=pc["lr"], weight_decay=0.0)
    step = 0
    if os.path.exists(path1):
        st = torch.load(path1)
        model.vision.load_state_dict(st["vision"])
        opt1.load_state_dict(st["opt"])
        step = st["step"]
        log(f"pretrain: resumed at step {step}", log_path)
    t0 = time.time()
    while step < pc["steps"]:
        rng = np.random.default_rng([cfg["seed"], 1, step])
        idx = rng.choice(train.n, pc["batch"], replace=False)
        for g in opt1.param_groups:
            g["lr"] = lr_at(step, pc["steps"], pc["lr"], pc["warmup"])
        with autocast(cfg):
            loss, acc = pretrain_loss(model, train.pixels(idx), train.labels[idx])
        optimizer_step(opt1, loss, params1)
        step += 1
        if args.bench and step == 5:
            log(f"bench pretrain: {(time.time() - t0) / 5:.2f} s/step (batch {pc['batch']})", log_path)
            break
        if step % pc["log_every"] == 0 or step == pc["steps"]:
            log(f"pretrain step {step}/{pc['steps']} loss {loss.item():.4f} " + " ".join(f"{k} {v:.4f}" for k, v in acc.items()) + f" ({time.time() - t0:.0f}s)", log_path)
        if step % pc["save_every"] == 0 or step == pc["steps"]:
            save(path1, vision=model.vision.state_dict(), opt=opt1.state_dict(), step=step)

    # ---------------- stage 2: the VLM (the encoder keeps its dense loss, weight dense_weight; 0 freezes it) --------
    vc = cfg["vlm"]
    path2 = os.path.join(ckpt_dir, "vlm.pt")
    dense_weight = vc.get("dense_weight", 0.0)
    params2 = list(model.projector.parameters()) + list(model.decoder.parameters())
    params2 += list(model.read_shape.parameters()) + list(model.read_color.parameters()) + list(model.read_box.parameters())
    params2 += list(model.read_joint.parameters())
    if dense_weight > 0:
        params2 += list(model.vision.parameters())
    else:
        for p in model.vision.parameters():
            p.requires_grad_(False)
    scale_params = [p for n, p in model.named_parameters() if n.endswith("log_scale")]
    params2 = [p for p in params2 if all(p is not q for q in scale_params)]
    lr_mult = [1.0, vc.get("scale_lr_mult", 1.0)]
    opt2 = torch.optim.AdamW([{"params": params2}, {"params": scale_params}], lr=vc["lr"], weight_decay=vc.get("weight_decay", 0.0), betas=(0.9, 0.98))
    step = 0
    if os.path.exists(path2):
        st = torch.load(path2)
        missing, _ = model.load_state_dict(st["model"], strict=False)
        step = st["step"]
        if missing:  # a readout added after this checkpoint: fresh optimizer state
            log(f"vlm: resumed at step {step} with new parameters {missing} (optimizer state reset)", log_path)
        else:
            opt2.load_state_dict(st["opt"])
            log(f"vlm: resumed at step {step}", log_path)
    # attention supervision (training only): heads [layer, head] taught where to look at the answer positions
    sup = vc.get("attention_supervision", {})
    # "taps": heads that look at the named object's patches; "word_taps": heads that gather the question's
    # colour and shape words into the answer position (sorted by layer, as forward_shared returns them)
    tapped = sorted([(tuple(t), "image") for t in sup.get("taps", [])] + [(tuple(t), "words") for t in sup.get("word_taps", [])])
    taps = [t for t, _ in tapped]
    tap_kinds = [k for _, k in tapped]
    attn_weight = sup.get("weight", 0.0)
    by_objects = [np.nonzero(train.objects <= k)[0] for k in range(7)]
    t0 = time.time()
    while step < vc["steps"]:
        rng = np.random.default_rng([cfg["seed"], 2, step])
        # curriculum: at most `start` objects per scene at first, all scenes after `curriculum` of the steps
        frac = min(1.0, step / max(1, vc["curriculum"] * vc["steps"]))
        max_objects = int(round(vc["curriculum_start_objects"] + frac * (6 - vc["curriculum_start_objects"])))
        pool = by_objects[max_objects]
        idx = rng.choice(pool, vc["batch"], replace=False)
        qsel = np.stack([rng.choice(train.q, vc["questions"], replace=False) for _ in idx])
        seq = torch.from_numpy(train.seq[idx[:, None], qsel])
        answer = torch.from_numpy(train.answer[idx[:, None], qsel])
        for g, mult in zip(opt2.param_groups, lr_mult):
            g["lr"] = mult * lr_at(step, vc["steps"], vc["lr"], vc["warmup"])
        with autocast(cfg):
            px = train.pixels(idx)
            if dense_weight > 0:
                feats = model.vision(px)
                img = model.projector(feats)
                l_dense, dense_acc = dense_loss(model, feats, train.labels[idx])
                l_read, read_acc = dense_loss(model, img, train.labels[idx], model.readouts)
                lab = torch.from_numpy(train.labels[idx].astype(np.int64))
                joint = torch.where(lab[..., 0] > 0, 1 + (lab[..., 0] - 1) * 6 + (lab[..., 1] - 1).clamp(min=0), 0)
                joint_logits = model.read_joint(img).float()
                l_read = l_read + F.cross_entropy(joint_logits.flatten(0, 1), joint.flatten())
                read_acc["joint_fg"] = (joint_logits.argmax(-1) == joint)[lab[..., 0] > 0].float().mean().item()
                dense_acc = {**dense_acc, **{"read_" + k: v for k, v in read_acc.items()}}
                task_w = torch.tensor([vc.get("task_weights", {}).get(t, 1.0) for t in TASKS])
                goals = None
                if taps:
                    image_goal = attention_targets(train, idx, qsel)  # [B, Q, P]
                    word_goal = word_targets(train, seq)  # [B, Q, T-1]
                    pad_words = torch.zeros(word_goal.shape)
                    pad_image = torch.zeros(image_goal.shape)
                    goals = [torch.cat([image_goal, pad_words], -1) if kind == "image" else torch.cat([pad_image, word_goal], -1)
                             for kind in tap_kinds]
                l_vlm, l_attn, on_target = vlm_loss(model, px, seq, answer, feats, img, task_w[torch.from_numpy(train.task[idx[:, None], qsel])],
                                                    taps, goals)
                loss = l_vlm + dense_weight * (l_dense + l_read)
                if taps:
                    loss = loss + attn_weight * l_attn
                    for kind in ("image", "words"):
                        hits = [v for v, k in zip(on_target, tap_kinds) if k == kind]
                        if hits:
                            dense_acc[f"attn_{kind}"] = float(np.mean(hits))
            else:
                l_vlm, _, _ = vlm_loss(model, px, seq, answer)
                loss, dense_acc = l_vlm, {}
        optimizer_step(opt2, loss, params2)
        step += 1
        if args.bench and step == 5:
            log(f"bench vlm: {(time.time() - t0) / 5:.2f} s/step (batch {vc['batch']} x {vc['questions']} questions)", log_path)
            return
        if step % vc["log_every"] == 0:
            scales = " ".join(f"{p.exp().mean().item():.2f}" for p in scale_params)
            log(f"vlm step {step}/{vc['steps']} loss {l_vlm.item():.4f} " + " ".join(f"{k} {v:.3f}" for k, v in dense_acc.items()) + f" q_scale {scales} lr {lr_at(step, vc['steps'], vc['lr'], vc['warmup']):.2e} max_objects {max_objects} ({time.time() - t0:.0f}s)", log_path)
        if step % vc["save_every"] == 0 or step == vc["steps"]:
            save(path2, model=model.state_dict(), opt=opt2.state_dict(), step=step)
        if step % vc["eval_every"] == 0 or step == vc["steps"]:
            acc = evaluate(model, val, cfg, inv_vocab, vc.get("eval_scenes"))
            log(f"vlm step {step} val " + " ".join(f"{k} {v:.3f}" for k, v in acc.items()), log_path)
    final = os.path.join(ckpt_dir, "final.pt")
    save(final, model=model.state_dict(), config=cfg)
    log_validation("final val", model, val, cfg, inv_vocab, log_path)
    log(f"done: {final}", log_path)


if __name__ == "__main__":
    main()
