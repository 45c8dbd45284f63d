"""A tiny trained, pruned and packed digits MLP in a run folder, as ``secateurs flow`` leaves it.

Seeded, so every test module that asks for the same density gets the same model.bin, hence the
same Verilog and the same cached Verilator build.
"""

from pathlib import Path

from secateurs import atomic, config
from secateurs.flow import Run, step_prune, step_quantize_pack, step_train

ROOT = Path(__file__).resolve().parent.parent
#: Small enough to build quickly, big enough for sparsity to matter: 64-16-10.
OVERRIDES = ["model.hidden=[16]", "train.epochs=4", "prune.finetune_epochs=2"]


def tiny_run(out: Path, density: float) -> Path:
    """Write ``config.json`` and ``model.bin`` of the tiny MLP pruned to ``density`` into ``out``."""
    cfg = config.load(ROOT / "configs" / "digits_mlp.toml", [*OVERRIDES, f"prune.density={density}"])
    out.mkdir(parents=True, exist_ok=True)
    run = Run(cfg=cfg, out=out, build_root=out / "build", log=lambda m: None)
    atomic.write_json(out / "config.json", config.to_dict(cfg))
    for step in (step_train, step_prune, step_quantize_pack):
        step(run)
    return out


def build_folder(request, fallback: Path) -> Path:
    """pytest's cache folder for Verilator builds, kept across sessions (a build is keyed by its
    Verilog, so a changed design or model rebuilds); ``fallback`` without a cache."""
    cache = getattr(request.config, "cache", None)
    return fallback if cache is None else cache.mkdir("rtl-builds")
