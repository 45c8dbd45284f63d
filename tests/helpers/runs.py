"""A tiny trained, pruned and packed digits MLP in a run folder, as ``secateurs flow`` leaves it.

Seeded, so every test module that asks for the same density gets the same model.bin, hence the
same Verilog and the same cached Verilator build. Made with the sw API directly.
"""

from pathlib import Path

from secateurs import atomic, config
from secateurs.sw import prune
from secateurs.sw.data import load_dataset
from secateurs.sw.formats import container
from secateurs.sw.models import build_model
from secateurs.sw.prune.retrain import Recipe, prune_and_retrain
from secateurs.sw.quantize import quantize
from secateurs.sw.train import train

ROOT = Path(__file__).resolve().parents[2]
#: Small enough to build quickly, big enough for sparsity to matter: 64-16-10.
OVERRIDES = ["model.hidden=[16]", "train.epochs=4", "prune.finetune_epochs=2"]


def pack_model(cfg: config.FlowConfig, out: Path) -> Path:
    """Train, prune, quantize and pack as ``cfg`` says; ``out`` gets config.json and model.bin."""
    data = load_dataset(cfg.data, cfg.seed)
    model = build_model(cfg.model, data.features, data.classes, cfg.seed)
    train(model, data, epochs=cfg.train.epochs, lr=cfg.train.lr,
          weight_decay=cfg.train.weight_decay, batch_size=cfg.train.batch_size, seed=cfg.seed)
    recipe = Recipe(epochs=cfg.train.epochs, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                    batch_size=cfg.train.batch_size)
    prune_and_retrain(model, data, cfg.prune, recipe, seed=cfg.seed, pes=cfg.hardware.pes)
    prune.squash(prune.prunable(model))
    quantized = quantize(model, data, cfg.quant, seed=cfg.seed, batch_size=cfg.train.batch_size)
    index_bits = cfg.pack.index_bits or container.common_index_bits(quantized.model,
                                                                    pes=cfg.hardware.pes)
    out.mkdir(parents=True, exist_ok=True)
    container.save(out / "model.bin", quantized.model, pes=cfg.hardware.pes, index_bits=index_bits,
                   fmt=cfg.pack.format)
    atomic.write_json(out / "config.json", config.to_dict(cfg))
    return out


def tiny_run(out: Path, density: float) -> Path:
    """The tiny MLP pruned to ``density``, packed into ``out``."""
    return pack_model(config.load(ROOT / "configs" / "digits_mlp.toml",
                                  [*OVERRIDES, f"prune.density={density}"]), out)
