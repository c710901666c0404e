#!/usr/bin/env python3
"""Exports a trained testbed checkpoint to transformers.js's LLaVA folder layout (offline tool).

  /usr/bin/python3 testbed/export.py [--checkpoint testbed/checkpoints/final.pt] [--out models/testbed]

Writes config.json, generation_config.json, tokenizer.json, tokenizer_config.json, preprocessor_config.json,
processor_config.json and onnx/{vision_encoder,embed_tokens,decoder_model_merged}.onnx (the files
LlavaForConditionalGeneration loads), plus the split export at layer K (config "split_layer"):
onnx/decoder_prefix.onnx (layers < K; outputs the hidden states entering layer K and the head-averaged
attention of the last query token at layer K-1) and onnx/decoder_suffix.onnx (layers >= K), both with the same
KV-cache contract as the merged decoder. Every file is written to a temporary name and renamed when complete.
"""
import argparse
import json
import os
import shutil
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import BOS, EOS, IMAGE, PAD, SPECIALS, UNK, VOCAB, TestbedVLM  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPSET = 17


class VisionExport(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model.image_features(pixel_values)


class EmbedExport(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.embed = model.decoder.embed

    def forward(self, input_ids):
        return self.embed(input_ids)


class DecoderExport(nn.Module):
    """Layers [first, last) with a KV cache. head: 'logits' (final norm + lm_head) or 'hidden' (hidden states
    entering layer `last` plus the head-averaged attention of the last query token in layer last-1)."""

    def __init__(self, model, first, last, head):
        super().__init__()
        self.decoder = model.decoder
        self.layers = list(range(first, last))
        self.head = head

    def forward(self, inputs_embeds, attention_mask, position_ids, *past):
        pasts = [(past[2 * j], past[2 * j + 1]) for j in range(len(self.layers))]
        x, presents, last_attn = self.decoder.run_layers(inputs_embeds, attention_mask, position_ids, pasts, self.layers)
        flat = [t for kv in presents for t in kv]
        if self.head == "logits":
            return (self.decoder.logits(x), *flat)
        return (x, last_attn, *flat)


def export_decoder(model, cfg, path, first, last, head, input_name):
    t = cfg["text"]
    b, s, p = 1, 3, 2
    module = DecoderExport(model, first, last, head).eval()
    embeds = torch.randn(b, s, t["hidden_size"])
    mask = torch.ones(b, p + s, dtype=torch.int64)
    pos = torch.arange(p, p + s, dtype=torch.int64).unsqueeze(0)
    past, past_names, present_names = [], [], []
    dyn = {
        input_name: {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
    }
    for i in range(first, last):
        for kind in ("key", "value"):
            past.append(torch.randn(b, t["kv_heads"], p, t["head_dim"]))
            past_names.append(f"past_key_values.{i}.{kind}")
            present_names.append(f"present.{i}.{kind}")
            dyn[past_names[-1]] = {0: "batch_size", 2: "past_sequence_length"}
            dyn[present_names[-1]] = {0: "batch_size", 2: "total_sequence_length"}
    if head == "logits":
        outputs = ["logits"] + present_names
        dyn["logits"] = {0: "batch_size", 1: "sequence_length"}
    else:
        outputs = ["hidden_states", "attention"] + present_names
        dyn["hidden_states"] = {0: "batch_size", 1: "sequence_length"}
        dyn["attention"] = {0: "batch_size", 1: "total_sequence_length"}
    tmp = path + ".tmp"
    torch.onnx.export(
        module,
        (embeds, mask, pos, *past),
        tmp,
        input_names=[input_name, "attention_mask", "position_ids"] + past_names,
        output_names=outputs,
        dynamic_axes=dyn,
        opset_version=OPSET,
        do_constant_folding=True,
    )
    os.replace(tmp, path)


def export_simple(module, args, path, input_names, output_names, dyn):
    tmp = path + ".tmp"
    torch.onnx.export(module.eval(), args, tmp, input_names=input_names, output_names=output_names,
                      dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True)
    os.replace(tmp, path)


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def tokenizer_json():
    added = [
        {"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
        for i, tok in enumerate(SPECIALS)
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [BOS], "tokens": ["<s>"]}},
        },
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": {w: i for i, w in enumerate(VOCAB)}, "unk_token": "<unk>"},
    }


# The prompt is the image followed by the question: "<image>is there a red circle?" (see README).
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}{{ '<image>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% endif %}{% endfor %}"
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=os.path.join(ROOT, "testbed", "checkpoints", "final.pt"))
    ap.add_argument("--config", default=os.path.join(ROOT, "testbed", "config.json"))
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "testbed"))
    args = ap.parse_args()
    cfg = json.load(open(args.config))
    torch.set_num_threads(cfg.get("threads", 2))
    model = TestbedVLM(cfg)
    state = torch.load(args.checkpoint)
    model.load_state_dict(state["model"])
    model.eval()
    with torch.no_grad():
        model.decoder.lm_head.weight.copy_(model.lm_weight())  # bake the tied readout rows into lm_head
        for layer in model.decoder.layers:  # fold the query temperature into the query weights
            a = layer.attn
            scale = a.log_scale.exp().view(a.heads, 1, 1)
            a.q.weight.copy_((a.q.weight.view(a.heads, a.head_dim, -1) * scale).view_as(a.q.weight))
            a.log_scale.zero_()
    t, k = cfg["text"], cfg["split_layer"]
    onnx_dir = os.path.join(args.out, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)
    size = cfg["image_size"]

    with torch.no_grad():
        export_simple(VisionExport(model), (torch.randn(1, 3, size, size),), os.path.join(onnx_dir, "vision_encoder.onnx"),
                      ["pixel_values"], ["image_features"], {"pixel_values": {0: "batch_size"}, "image_features": {0: "batch_size"}})
        export_simple(EmbedExport(model), (torch.tensor([[BOS, 5, 6]], dtype=torch.int64),), os.path.join(onnx_dir, "embed_tokens.onnx"),
                      ["input_ids"], ["inputs_embeds"],
                      {"input_ids": {0: "batch_size", 1: "sequence_length"}, "inputs_embeds": {0: "batch_size", 1: "sequence_length"}})
        export_decoder(model, cfg, os.path.join(onnx_dir, "decoder_model_merged.onnx"), 0, t["layers"], "logits", "inputs_embeds")
        export_decoder(model, cfg, os.path.join(onnx_dir, "decoder_prefix.onnx"), 0, k, "hidden", "inputs_embeds")
        export_decoder(model, cfg, os.path.join(onnx_dir, "decoder_suffix.onnx"), k, t["layers"], "logits", "hidden_states")

    grid = cfg["grid"]
    text_config = {
        "model_type": "llama",
        "num_hidden_layers": t["layers"],
        "num_attention_heads": t["heads"],
        "num_key_value_heads": t["kv_heads"],
        "hidden_size": t["hidden_size"],
        "head_dim": t["head_dim"],
        "intermediate_size": t["intermediate_size"],
        "vocab_size": len(VOCAB),
        "rms_norm_eps": t["rms_eps"],
        "rope_theta": t["rope_theta"],
        "max_position_embeddings": 1024,
        "hidden_act": "silu",
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "pad_token_id": PAD,
    }
    write_json(os.path.join(args.out, "config.json"), {
        "model_type": "llava",
        "architectures": ["LlavaForConditionalGeneration"],
        "image_token_index": IMAGE,
        "image_seq_length": grid * grid,
        "vision_feature_select_strategy": "full",
        "projector_hidden_act": "gelu",
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "pad_token_id": PAD,
        "text_config": text_config,
        "vision_config": {
            "model_type": "d2pruner_testbed_conv",
            "image_size": size,
            "patch_size": cfg["patch_size"],
            "hidden_size": cfg["vision"]["width"],
            "dilations": cfg["vision"]["dilations"],
        },
        "d2pruner": {
            "grid": {"rows": grid, "cols": grid},
            "split_layer": k,
            "split_files": {"prefix": "onnx/decoder_prefix.onnx", "suffix": "onnx/decoder_suffix.onnx"},
        },
    })
    write_json(os.path.join(args.out, "generation_config.json"), {
        "bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD, "max_new_tokens": 8, "do_sample": False,
    })
    write_json(os.path.join(args.out, "tokenizer.json"), tokenizer_json())
    write_json(os.path.join(args.out, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
        "add_bos_token": True, "model_max_length": 1024, "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
    })
    write_json(os.path.join(args.out, "preprocessor_config.json"), {
        "processor_class": "LlavaProcessor",
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": True,
        "size": {"height": size, "width": size},
        "resample": 3,
        "do_center_crop": False,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "do_convert_rgb": True,
    })
    write_json(os.path.join(args.out, "processor_config.json"), {
        "processor_class": "LlavaProcessor",
        "image_token": "<image>",
        "patch_size": cfg["patch_size"],
        "num_additional_image_tokens": 0,
        "vision_feature_select_strategy": "full",
    })
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(args.out) for f in fs)
    print(f"exported {args.checkpoint} to {args.out} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
