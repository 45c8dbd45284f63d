"""Config: TOML + overrides into frozen dataclasses; mistakes are errors that say what to fix."""

import dataclasses

import pytest

from secateurs import config
from secateurs.errors import ConfigError


def test_default_config_file_equals_the_dataclass_defaults():
    assert config.load("configs/digits_mlp.toml") == config.FlowConfig()


def test_overrides_parse_toml_values(tmp_path):
    cfg = config.load(None, ["prune.density=0.25", "model.hidden=[32, 16]", "name=abc"])
    assert cfg.prune.density == 0.25 and cfg.model.hidden == (32, 16) and cfg.name == "abc"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.prune.density = 0.5


def test_unknown_key_names_the_nearest_valid_key(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[prune]\ndensty = 0.2\n")
    with pytest.raises(ConfigError, match=r"prune\.densty.*'density'"):
        config.load(path)


@pytest.mark.parametrize("override, message", [
    ("prune.density=1.5", "prune.density"),
    ("prune.density='x'", "must be a number"),
    ("hardware.pes=0", "hardware.pes"),
    ("hardware.queue_depth=17", "queue_depth"),
    ("train.epochs=1.5", "must be an integer"),
    ("data.dataset='mnist'", "data_dir"),
    ("nosection.key=1", "unknown config key"),
])
def test_impossible_values_are_rejected(override, message):
    with pytest.raises(ConfigError, match=message):
        config.load(None, [override])


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[prune\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(bad)
    with pytest.raises(ConfigError, match=f"cannot read config file '{tmp_path}': "):
        config.load(tmp_path)  # a folder


def test_one_toml_reader_names_what_it_read(tmp_path):
    (tmp_path / "t.toml").write_text("a = 1\n")
    assert config.read_toml(tmp_path / "t.toml", "sweep config") == {"a": 1}
    with pytest.raises(ConfigError, match="^cannot read sweep config '.*absent.toml': it does not exist$"):
        config.read_toml(tmp_path / "absent.toml", "sweep config")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.read_toml(tmp_path / "bin.toml", "energy table")


def test_to_dict_round_trips():
    cfg = config.load(None, ["seed=7"])
    assert config.from_dict(config.FlowConfig, config.to_dict(cfg)) == cfg


def test_show_prints_toml_that_loads_back_with_every_field_documented(tmp_path):
    cfg = config.load(None, ["prune.density=0.3", "hardware.pes=8"])
    text = config.to_toml(cfg)
    path = tmp_path / "shown.toml"
    path.write_text(text)
    assert config.load(path) == cfg
    for cls in (config.FlowConfig, config.DataConfig, config.PruneConfig, config.QuantConfig,
                config.HardwareConfig, config.SimConfig):
        values = [f.name for f in dataclasses.fields(cls) if f.default_factory is dataclasses.MISSING]
        assert set(values) <= set(config.field_docs(cls)), cls.__name__
