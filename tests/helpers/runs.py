"""A tiny trained, pruned and packed digits MLP in a run folder, as ``secateurs flow`` leaves it.

Seeded, so every test module that asks for the same density gets the same model.bin, hence the
same Verilog and the same cached Verilator build. Made by the flow's own steps up to ``pack``.
"""

from pathlib import Path

from secateurs import config
from secateurs.flow import run_flow

ROOT = Path(__file__).resolve().parents[2]
#: Small enough to build quickly, big enough for sparsity to matter: 64-16-10.
OVERRIDES = ["model.hidden=[16]", "train.epochs=4", "prune.finetune_epochs=2"]


def tiny_run(out: Path, density: float) -> Path:
    """The tiny MLP pruned to ``density``, packed into ``out`` (config.json, model.bin, …)."""
    cfg = config.load(ROOT / "configs" / "digits_mlp.toml", [*OVERRIDES, f"prune.density={density}"])
    run_flow(cfg, out, until="pack")
    return out
